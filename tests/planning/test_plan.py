import contextlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mainspring.errors import PlanError
from mainspring.planning.plan import parse_plan, validate_steps


def steps(*specs: tuple[str, list[str]]) -> list[dict[str, object]]:
    return [{"id": i, "description": f"do {i}", "depends_on": d} for i, d in specs]


def test_valid_plan_is_ordered_and_knows_its_shape() -> None:
    plan = validate_steps("t", steps(("c", ["a", "b"]), ("a", []), ("b", []), ("d", ["c"])))
    assert [s.id for s in plan.steps] == ["a", "b", "c", "d"]
    assert [s.id for s in plan.ready(done=[])] == ["a", "b"]
    assert [s.id for s in plan.ready(done=["a"], running=["b"])] == []
    assert [s.id for s in plan.ready(done=["a", "b"])] == ["c"]
    assert plan.dependants("a") == {"c", "d"}
    assert plan.critical_path() == 3


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ([], "no steps"),
        (steps(("a", ["z"])), "depends on unknown step 'z'"),
        (steps(("a", ["a"])), "depends on itself"),
        (steps(("a", []), ("a", [])), "used twice"),
        (steps(("a", ["b"]), ("b", ["c"]), ("c", ["a"])), "cycle through steps ['a', 'b', 'c']"),
        ([{"id": "a"}], "needs a non-empty 'description'"),
        ([{"description": "x", "depends_on": []}], "non-empty string 'id'"),
        ([{"id": "a", "description": "x", "depends_on": "b"}], "must be a list"),
        (["a"], "is not an object"),
        (steps(*[(f"s{i}", []) for i in range(25)]), "at most 20"),
    ],
)
def test_invalid_plans_explain_every_problem(raw: object, fragment: str) -> None:
    with pytest.raises(PlanError, match=fragment.replace("[", r"\[").replace("]", r"\]")):
        validate_steps("t", raw)


def test_all_problems_are_reported_together() -> None:
    with pytest.raises(PlanError) as info:
        validate_steps("t", steps(("a", ["x"]), ("a", ["y"])))
    assert "'x'" in str(info.value) and "'y'" in str(info.value) and "twice" in str(info.value)


def test_parse_plan_accepts_fences_and_bare_lists() -> None:
    text = "```json\n" + json.dumps({"steps": steps(("a", []))}) + "\n```"
    assert parse_plan("t", text).steps[0].id == "a"
    assert parse_plan("t", json.dumps(steps(("a", [])))).steps[0].id == "a"
    with pytest.raises(PlanError, match="not valid JSON"):
        parse_plan("t", "first, I will")


@given(st.text(max_size=200))
def test_parse_plan_never_raises_anything_else(text: str) -> None:
    with contextlib.suppress(PlanError):
        parse_plan("t", text)


@given(
    st.lists(
        st.tuples(st.sampled_from("abcdef"), st.lists(st.sampled_from("abcdefg"), max_size=3)),
        max_size=8,
    )
)
def test_any_accepted_plan_is_a_dag_in_order(specs: list[tuple[str, list[str]]]) -> None:
    try:
        plan = validate_steps("t", steps(*specs))
    except PlanError:
        return
    seen: set[str] = set()
    for step in plan.steps:
        assert set(step.depends_on) <= seen
        seen.add(step.id)
