from mainspring.messages import ToolCall
from mainspring.tools import (
    ApprovalRequest,
    CallContext,
    Principal,
    ToolExecutor,
    ToolRegistry,
    tool,
)


@tool(scopes={"payments"}, requires_approval=True, secrets={"card"})
def pay(amount: int, card: str) -> str:
    """Pay an amount."""
    return f"paid {amount}"


CALL = ToolCall("1", "pay", {"amount": 5, "card": "4111"})
PAYER = Principal("ann", frozenset({"payments"}))


async def test_missing_scope_is_forbidden() -> None:
    result = await ToolExecutor(ToolRegistry([pay])).execute(CALL, CallContext())
    assert result.error is not None and result.error.kind == "forbidden"
    assert "missing scope(s) ['payments']" in result.content


async def test_approval_needs_an_approver() -> None:
    result = await ToolExecutor(ToolRegistry([pay])).execute(CALL, CallContext(principal=PAYER))
    assert result.error is not None and result.error.kind == "approval_required"


async def test_approver_sees_redacted_validated_arguments_and_decides() -> None:
    asked: list[ApprovalRequest] = []

    def approve_small(request: ApprovalRequest) -> bool:
        asked.append(request)
        return int(request.arguments["amount"]) < 10

    executor = ToolExecutor(ToolRegistry([pay]))
    ctx = CallContext(principal=PAYER, approver=approve_small, run_id="r")
    assert (await executor.execute(CALL, ctx)).content == "paid 5"
    denied = await executor.execute(ToolCall("2", "pay", {"amount": "50", "card": "4111"}), ctx)
    assert denied.error is not None and denied.error.kind == "forbidden"
    assert "declined" in denied.content
    assert asked[0].arguments == {"amount": 5, "card": "***"}
    assert asked[1].arguments["amount"] == 50  # validated, not the raw string
    assert asked[0].principal == PAYER and asked[0].run_id == "r"


async def test_async_approver_and_invalid_calls_never_reach_it() -> None:
    asked = 0

    async def approver(request: ApprovalRequest) -> bool:
        nonlocal asked
        asked += 1
        return True

    executor = ToolExecutor(ToolRegistry([pay]))
    ctx = CallContext(principal=PAYER, approver=approver)
    bad = await executor.execute(ToolCall("1", "pay", {"amount": "lots"}), ctx)
    assert bad.error is not None and bad.error.kind == "invalid_arguments"
    assert asked == 0
    assert (await executor.execute(CALL, ctx)).ok
    assert asked == 1
