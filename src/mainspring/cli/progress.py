"""Long work is never silent: a spinner or bar on a terminal, one line per phase otherwise.

Logs and CI output get plain lines (no control characters); people at a terminal get rich's
live display. Both go to stderr, so stdout stays the command's result (and `--json` stays JSON).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


def stderr_console() -> Console:
    """The console progress is drawn on."""
    return Console(stderr=True)


@contextmanager
def phase(console: Console, text: str) -> Iterator[None]:
    """Show `text` while the block runs: a spinner on a terminal, one line otherwise."""
    started = time.perf_counter()
    if not console.is_terminal:
        console.print(f"{text}...", markup=False, highlight=False, soft_wrap=True)
        yield
        return
    with console.status(f"{text}..."):
        yield
    console.print(
        f"{text}: done in {time.perf_counter() - started:.1f}s", markup=False, highlight=False
    )


class Counter:
    """Progress through N items: a bar on a terminal, a line at the start otherwise."""

    def __init__(self, console: Console, text: str, total: int) -> None:
        self._progress: Progress | None = None
        self._task = None
        if console.is_terminal:
            self._progress = Progress(
                TextColumn(text),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console,
                transient=False,
            )
            self._task = self._progress.add_task(text, total=total)
        else:
            console.print(f"{text} ({total})...", markup=False, highlight=False, soft_wrap=True)

    def __enter__(self) -> Counter:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    def advance(self, count: int) -> None:
        """Count `count` more items as done."""
        if self._progress is not None and self._task is not None:
            self._progress.advance(self._task, count)
