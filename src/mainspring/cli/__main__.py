"""`python -m mainspring.cli`: the `mainspring` command without its console script."""

from mainspring.cli import main

main()
