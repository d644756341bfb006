"""SIGKILL a real agent process at random points, resume it, and check nothing ran twice."""

import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest

WORKER = Path(__file__).with_name("crash_worker.py")
EXPECTED = "receipt: 3; charged 3; 4; 5; charged 9"
KILLS = 50


def spawn(db: Path, effects: Path) -> subprocess.Popen[str]:
    """A worker with its imports done, waiting for a run id (spawned ahead: startup is slow)."""
    # This checkout's source first: the installed package may be another checkout's.
    root = Path(__file__).parents[2]
    env = {**os.environ, "PYTHONPATH": f"{root / 'src'}{os.pathsep}{root}"}
    proc = subprocess.Popen(
        [sys.executable, str(WORKER), str(db), str(effects)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    return proc


def go(proc: subprocess.Popen[str], run_id: str) -> None:
    assert proc.stdin is not None and proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    proc.stdin.write(run_id + "\n")
    proc.stdin.flush()


def finish(proc: subprocess.Popen[str]) -> tuple[str, str]:
    out, err = proc.communicate(timeout=180)  # generous: CI machines are shared
    assert proc.returncode == 0, f"worker exited {proc.returncode}\nstdout: {out}\nstderr: {err}"
    lines = out.splitlines()
    assert len(lines) >= 2, f"worker printed no result\nstdout: {out}\nstderr: {err}"
    return lines[-2], lines[-1]


def uninterrupted(tmp_path: Path) -> tuple[str, float]:
    proc = spawn(tmp_path / "clean.db", tmp_path / "clean.effects")
    go(proc, "clean")
    began = time.monotonic()
    reason, text = finish(proc)
    assert reason == "final_answer"
    return text, time.monotonic() - began


class Workers:
    """Hands out workers whose imports are done, always keeping one spare starting up."""

    def __init__(self, db: Path, effects: Path) -> None:
        self.db, self.effects = db, effects
        self.spare = spawn(db, effects)

    def next(self) -> subprocess.Popen[str]:
        proc, self.spare = self.spare, spawn(self.db, self.effects)
        return proc

    def close(self) -> None:
        self.spare.kill()
        self.spare.communicate()


@pytest.mark.slow
def test_random_sigkills_never_repeat_work(tmp_path: Path) -> None:
    output, duration = uninterrupted(tmp_path)
    assert output == EXPECTED
    rng = random.Random(20261125)
    db, effects = tmp_path / "runs.db", tmp_path / "effects.log"
    workers = Workers(db, effects)
    kills, runs, killed_in = 0, 1, set()
    try:
        while True:
            proc, run_id = workers.next(), f"run-{runs}"
            go(proc, run_id)
            if kills < KILLS:
                time.sleep(rng.uniform(0, duration * 1.1))
                if proc.poll() is None:
                    proc.kill()
                    proc.communicate()
                    kills += 1
                    killed_in.add(run_id)
                    continue
            assert finish(proc) == ("final_answer", EXPECTED), run_id
            if kills >= KILLS:
                break
            runs += 1
    finally:
        workers.close()
    charges = [line for line in effects.read_text().splitlines() if line.startswith("charge")]
    # Two charges per run, each under its own idempotency key, each exactly once.
    assert len(charges) == 2 * runs
    assert len(set(charges)) == len(charges)
    assert len(killed_in) > 1
