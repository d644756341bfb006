"""Start-up costs: `import mainspring`, the first agent's imports, and `@tool` on a repeat.

Each import figure is a fresh interpreter (median of 5), minus an empty interpreter's start, with
the bytecode cached as after `pip install` (`bench/_fresh.py`).

Run: `python -m bench startup`.
"""

from __future__ import annotations

import statistics
import time

from bench._fresh import run, warm_up

CODE_TOOL = """
import time
from mainspring import tool
def add(a: int, b: int) -> int:
    '''Add two integers.'''
    return a + b
started = time.perf_counter(); tool(add); first = time.perf_counter() - started
n = 2000
started = time.perf_counter()
for _ in range(n):
    tool(add)
print(first * 1e6, (time.perf_counter() - started) / n * 1e6)
"""


def _wall(code: str) -> float:
    runs = []
    for _ in range(5):
        started = time.perf_counter()
        run(code)
        runs.append(time.perf_counter() - started)
    return statistics.median(runs) * 1000


def main() -> str:
    warm_up()
    empty = _wall("pass")
    bare = _wall("import mainspring") - empty
    agent = _wall("from mainspring import Agent, tool") - empty
    out = run(CODE_TOOL).split()
    first, repeat = float(out[0]), float(out[1])
    return (
        "## Start-up (`bench/startup.py`)\n\n"
        "Fresh interpreters, median of 5, an empty interpreter's start subtracted.\n\n"
        "| what | cost |\n| --- | ---: |\n"
        f"| `import mainspring` | {bare:.0f} ms |\n"
        f"| `from mainspring import Agent, tool` | {agent:.0f} ms |\n"
        f"| `@tool` on a new function | {first:.0f} µs |\n"
        f"| `@tool` on a function already described | {repeat:.1f} µs |\n"
    )


if __name__ == "__main__":
    print(main())
