"""The `mainspring` command. Needs the `cli` extra; without it, prints how to install it."""

from __future__ import annotations

import sys


def main() -> None:
    """Entry point of the `mainspring` console script."""
    try:
        from mainspring.cli.app import app
    except ImportError as exc:
        sys.stderr.write(
            f"the mainspring command needs the 'cli' extra ({exc.name} is missing): "
            "pip install 'mainspring[cli]'\n"
        )
        raise SystemExit(2) from None
    app()


__all__ = ["main"]
