from mainspring.agent.progress import ProgressTracker, call_key


def test_call_key_is_canonical() -> None:
    assert call_key("add", {"b": 2, "a": 1}) == call_key("add", {"a": 1, "b": 2})
    assert call_key("add", {"a": 1}) != call_key("add", {"a": 2})
    assert call_key("add", {"a": 1}) != call_key("sub", {"a": 1})


def test_same_call_is_refused_after_max_repeats() -> None:
    tracker = ProgressTracker(3)
    for _ in range(3):
        assert tracker.admit("fetch", {"url": "x"}) is None
    reason = tracker.admit("fetch", {"url": "x"})
    assert reason is not None
    assert "fetch" in reason and "3 times" in reason


def test_different_arguments_are_progress() -> None:
    tracker = ProgressTracker(2)
    for page in range(10):
        assert tracker.admit("fetch", {"page": page}) is None


def test_ping_pong_is_named() -> None:
    tracker = ProgressTracker(2)
    for _ in range(2):
        assert tracker.admit("a", {}) is None
        assert tracker.admit("b", {}) is None
    reason = tracker.admit("a", {})
    assert reason is not None
    assert "alternated" in reason and "a({})" in reason and "b({})" in reason


def test_repeat_among_other_calls_is_not_called_ping_pong() -> None:
    tracker = ProgressTracker(2)
    for other in ("b", "c"):
        assert tracker.admit("a", {}) is None
        assert tracker.admit(other, {}) is None
    reason = tracker.admit("a", {})
    assert reason is not None and "alternated" not in reason


def test_long_arguments_are_elided() -> None:
    tracker = ProgressTracker(1)
    tracker.admit("t", {"x": "y" * 1000})
    reason = tracker.admit("t", {"x": "y" * 1000})
    assert reason is not None and len(reason) < 300


async def test_agent_stops_a_repeating_model_with_no_progress() -> None:
    from mainspring.agent import Agent, Budget
    from mainspring.messages import ModelResponse
    from mainspring.testing import FunctionModel, tool_calls
    from mainspring.testing.models import ModelRequest
    from mainspring.tools import tool

    ran: list[int] = []

    @tool
    def fetch(page: int) -> str:
        """Fetch a page."""
        ran.append(page)
        return "try again"

    def stuck(request: ModelRequest) -> ModelResponse:
        return tool_calls(("fetch", {"page": 1}))

    result = await Agent(FunctionModel(stuck), [fetch], budget=Budget(max_iterations=20)).run("go")
    assert result.stop_reason == "no_progress"
    assert ran == [1, 1, 1]
    assert result.error is not None and "fetch" in result.error


async def test_no_progress_can_be_switched_off() -> None:
    from mainspring.agent import Agent, Budget
    from mainspring.messages import ModelResponse
    from mainspring.testing import FunctionModel, tool_calls
    from mainspring.testing.models import ModelRequest
    from mainspring.tools import tool

    @tool
    def ping() -> str:
        """Ping."""
        return "pong"

    def stuck(request: ModelRequest) -> ModelResponse:
        return tool_calls(("ping", {}))

    budget = Budget(max_iterations=6, max_repeated_calls=None)
    result = await Agent(FunctionModel(stuck), [ping], budget=budget).run("go")
    assert result.stop_reason == "max_iterations"
