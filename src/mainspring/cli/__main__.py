"""`python -m mainspring.cli`: the `mainspring` command without the console script."""

from mainspring.cli import main

main()
