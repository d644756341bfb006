"""Run the benchmarks and assemble bench/RESULTS.md.

Each module `bench/<topic>.py` (no leading underscore) defines `main() -> str` returning a markdown
section. Its section is kept in `bench/results/<topic>.md`, so running one topic
(`python -m bench tools`) refreshes that section and keeps the others.
"""

from __future__ import annotations

import datetime as dt
import importlib
import os
import platform
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
SECTIONS = HERE / "results"


def _machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{cpu}, {os.cpu_count()} cores, {mem:.0f} GiB, "
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}"
    )


def assemble() -> None:
    """Rebuild RESULTS.md from the stored sections (after a merge, say), measuring nothing."""
    parts = [p.read_text() for p in sorted(SECTIONS.glob("*.md"))]
    header = (
        "# Benchmark results\n\n"
        "Written by `make bench` (one topic: `python -m bench TOPIC`). Each section says when and "
        "where it was measured (and, from 2026-12-01 on, the load average when it started); these "
        "machines are shared, so compare figures within a section. The 2026-12-02 02:12-02:30 "
        "UTC sections (axes, startup, engine, tools, agent, durable, memory) ran one after "
        "another on an otherwise idle machine (load average 0.2-1.3); the others keep the date "
        "and load they were measured at. Idle is not fastest on these VMs: waking a halted vCPU "
        "makes a thread hop dearer when nothing else runs.\n"
    )
    (HERE / "RESULTS.md").write_text(header + "\n" + "\n".join(parts))


def main(argv: list[str]) -> None:
    if argv == ["--assemble"]:
        assemble()
        return
    if not argv:
        # Each topic in a fresh process: a heap grown by earlier topics (a loaded model, 100,000
        # memory entries) slows fork() and the garbage collector and would skew later figures.
        for topic in sorted(p.stem for p in HERE.glob("*.py") if not p.stem.startswith("_")):
            subprocess.run([sys.executable, "-m", "bench", topic], check=True)
        return
    topics = argv
    SECTIONS.mkdir(exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    for topic in topics:
        print(f"== bench {topic}", flush=True)
        module = importlib.import_module(f"bench.{topic}")
        load = os.getloadavg()[0]  # before: the benchmark's own work would count as load
        section = module.main()
        text = (
            f"{section.rstrip()}\n\n_Measured {stamp} on {_machine()}, "
            f"load average {load:.1f} at the start._\n"
        )
        (SECTIONS / f"{topic}.md").write_text(text)
        print(text, flush=True)
    assemble()


if __name__ == "__main__":
    main(sys.argv[1:])
