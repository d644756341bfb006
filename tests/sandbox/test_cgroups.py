"""Memory and pids cgroups: memory that escapes RLIMIT_AS (tmpfs, memfd) is still bounded."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from mainspring.sandbox import Limits
from mainspring.sandbox._runner import JailedSandbox
from tests.sandbox.conftest import PYTHON, make_sandbox

MIB = 2**20


@pytest.fixture
def grouped(level: str) -> JailedSandbox:
    sandbox = make_sandbox(level, cgroups=True)
    if sandbox._cgroups is None:
        pytest.skip("this host does not let the test process create memory and pids cgroups")
    return sandbox


async def test_results_list_the_cgroups(grouped: JailedSandbox) -> None:
    result = await grouped.run(["true"])
    assert {"memory_cgroup", "pids_cgroup"} <= result.isolation.protections


async def test_memfd_memory_is_bounded(
    grouped: JailedSandbox, no_leftovers: Callable[[], None]
) -> None:
    code = (
        "import os\nfds = []\nfor i in range(12):\n"
        "    fd = os.memfd_create(f'm{i}')\n"
        "    for _ in range(32): os.write(fd, b'x' * 2**20)\n"
        "    fds.append(fd)\n"
        "print('HELD', 12 * 32, 'MiB')\n"
    )
    limits = Limits(timeout=10, memory_bytes=128 * MIB, max_file_bytes=64 * MIB)
    result = await grouped.run([PYTHON, "-c", code], limits=limits)
    assert "HELD" not in result.stdout
    assert result.killed == "memory_limit"
    assert result.peak_memory_bytes is not None and result.peak_memory_bytes <= 130 * MIB
    no_leftovers()


async def test_tmpfs_memory_is_bounded() -> None:
    strong = make_sandbox("namespaces", cgroups=True)
    if strong._cgroups is None:
        pytest.skip("this host does not let the test process create memory cgroups")
    limits = Limits(timeout=10, memory_bytes=64 * MIB, tmp_bytes=1024 * MIB, max_file_bytes=2**30)
    result = await strong.run(
        ["/bin/sh", "-c", "head -c 400000000 /dev/zero > /tmp/fill"], limits=limits
    )
    assert result.killed == "memory_limit" or result.exit_code != 0
    assert result.peak_memory_bytes is not None and result.peak_memory_bytes <= 66 * MIB


async def test_peak_memory_covers_the_whole_run(grouped: JailedSandbox) -> None:
    code = "b = bytearray(100 * 2**20)\nb[::4096] = b'x' * len(b[::4096])"
    result = await grouped.run([PYTHON, "-c", code])
    assert result.ok, result.stderr
    assert result.peak_memory_bytes is not None and result.peak_memory_bytes >= 100 * MIB


def test_cgroups_are_off_by_default(sandbox: JailedSandbox) -> None:
    assert sandbox._cgroups is None
    assert "memory_cgroup" not in sandbox.isolation.protections
