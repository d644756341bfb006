import time
from pathlib import Path

import anyio
import pytest

from mainspring.errors import ConfigurationError
from mainspring.memory import AgentMemory, EntryFilter, SyncMemory


def test_a_script_uses_memory_without_an_event_loop(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/m.db"
    with SyncMemory.open(url, namespace="user-42") as memory:
        memory.add_long_term("The user is vegetarian", importance=0.9)
        memory.add_short_term("User: hello")
        assert "vegetarian" in memory.get_context(200, query="dinner").text
        assert memory.search("vegetarian")[0].entry.content == "The user is vegetarian"
        assert len(memory.find()) == 2
        dump = memory.export()
        assert memory.forget(EntryFilter(kinds=["short"])) == 1
        assert memory.stats().entries == {"long": 1}
    memory.close()  # twice is fine
    with pytest.raises(ConfigurationError, match="after close"):
        memory.find()

    async def read_back() -> int:  # the same file, seen by the async API
        async with AgentMemory.open(url, namespace="user-42") as again:
            return len(await again.find())

    assert anyio.run(read_back) == 1
    with SyncMemory.open(url, namespace="copy") as copy:
        assert copy.import_entries(dump) == 2


def test_import_without_created_at_is_stamped_now(tmp_path: Path) -> None:
    before = time.time()
    with SyncMemory.open(f"sqlite:///{tmp_path}/m.db") as memory:
        memory.import_entries([{"content": "no timestamp"}, {"content": "old", "created_at": 5.0}])
        stamps = {e.content: e.created_at for e in memory.find()}
    assert stamps["no timestamp"] >= before  # not 1970
    assert stamps["old"] == 5.0  # a recorded time is kept


async def test_refused_inside_an_event_loop(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="running event loop"):
        SyncMemory.open(f"sqlite:///{tmp_path}/m.db")
