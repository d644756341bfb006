"""The one SQL builder both memory stores use: the dialects differ only where the engines do."""

from __future__ import annotations

import pytest

from mainspring.memory import EntryFilter
from mainspring.memory._sql import POSTGRES, SQLITE, SQLBuilder, Statement

NOW = 1_700_000_000.0


def _same_but_placeholders(sqlite: Statement, postgres: Statement) -> None:
    assert postgres[0].replace("%s", "?") == sqlite[0]
    assert postgres[1] == sqlite[1]
    assert sqlite[0].count("?") == len(sqlite[1])


@pytest.mark.parametrize(
    "build",
    [
        lambda b: b.vectors("ns", ["long"], NOW),
        lambda b: b.rank_keys(
            "ns", ["long", "short"], NOW, column="importance", descending=True, offset=64,
            count=32,
        ),
        lambda b: b.live("ns", ["long"], NOW, alias="e"),
        lambda b: b.find("ns", EntryFilter(kinds=["long"], ids=["a", "b"], now=NOW, limit=3)),
        lambda b: b.delete("ns", EntryFilter(created_before=NOW, newest_first=True, limit=2)),
        lambda b: b.add_to_counter("ns", "evicted.limit", 2),
        lambda b: b.kind_sizes("ns"),
        lambda b: b.counters("ns"),
    ],
)  # fmt: skip
def test_shared_statements_differ_only_in_placeholders(build: object) -> None:
    assert callable(build)
    _same_but_placeholders(build(SQLITE), build(POSTGRES))


def test_every_placeholder_has_its_parameter() -> None:
    where = EntryFilter(
        ids=["x"], kinds=["long"], metadata={"topic": "food", "flag": True},
        created_before=NOW, created_after=NOW - 10, expired_by=NOW, contains="veg", now=NOW,
    )  # fmt: skip
    for builder, mark in ((SQLITE, "?"), (POSTGRES, "%s")):
        sql, params = builder.find("ns", where)
        assert sql.count(mark) == len(params)
        sql, params = builder.touch("ns", ["a", "b", "c"], NOW)
        assert sql.count(mark) == len(params) == 5
        sql, params = builder.lexical("ns", ["long"], NOW, 5)
        assert sql.count(mark) == len(params) + 1  # the query itself is parameter 1


def test_ranking_refuses_a_column_that_is_not_an_index() -> None:
    with pytest.raises(ValueError, match="cannot rank by"):
        SQLITE.rank_keys(
            "ns", ["long"], NOW, column="importance; DROP TABLE entries", descending=True,
            offset=0, count=1,
        )  # fmt: skip


def test_an_empty_id_list_matches_nothing_in_either_dialect() -> None:
    assert SQLITE.where("ns", EntryFilter(ids=[])) == ("0", [])
    assert POSTGRES.where("ns", EntryFilter(ids=[])) == ("FALSE", [])
    assert isinstance(SQLITE, SQLBuilder)
