"""OpenTelemetry GenAI semantic-convention names, as plain strings.

The `opentelemetry-semantic-conventions` package marks every `gen_ai.*` constant deprecated
("moved to the GenAI semantic conventions repository") and ships them only in a private
`_incubating` module; no separate package exists. The names themselves are stable, so we keep
our own constants instead of importing a private module that may vanish.
"""

from __future__ import annotations

OPERATION_NAME = "gen_ai.operation.name"
PROVIDER_NAME = "gen_ai.provider.name"
REQUEST_MODEL = "gen_ai.request.model"
RESPONSE_MODEL = "gen_ai.response.model"
RESPONSE_FINISH_REASONS = "gen_ai.response.finish_reasons"
USAGE_INPUT_TOKENS = "gen_ai.usage.input_tokens"
USAGE_OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
TOKEN_TYPE = "gen_ai.token.type"
TOOL_NAME = "gen_ai.tool.name"
TOOL_CALL_ID = "gen_ai.tool.call.id"
TOOL_CALL_ARGUMENTS = "gen_ai.tool.call.arguments"
TOOL_CALL_RESULT = "gen_ai.tool.call.result"
AGENT_NAME = "gen_ai.agent.name"
CONVERSATION_ID = "gen_ai.conversation.id"
INPUT_MESSAGES = "gen_ai.input.messages"
OUTPUT_MESSAGES = "gen_ai.output.messages"
ERROR_TYPE = "error.type"

OP_CHAT = "chat"
OP_INVOKE_AGENT = "invoke_agent"
OP_EXECUTE_TOOL = "execute_tool"
OP_RETRIEVAL = "retrieval"

METRIC_OPERATION_DURATION = "gen_ai.client.operation.duration"
METRIC_TOKEN_USAGE = "gen_ai.client.token.usage"

# Bucket boundaries the GenAI conventions recommend for the two client metrics.
DURATION_BUCKETS = (
    0.01,
    0.02,
    0.04,
    0.08,
    0.16,
    0.32,
    0.64,
    1.28,
    2.56,
    5.12,
    10.24,
    20.48,
    40.96,
    81.92,
)
TOKEN_BUCKETS = (
    1,
    4,
    16,
    64,
    256,
    1024,
    4096,
    16384,
    65536,
    262144,
    1048576,
    4194304,
    16777216,
    67108864,
)

# mainspring's own attributes and metrics.
RUN_ID = "mainspring.run.id"
RUN_KIND = "mainspring.run.kind"
STEP = "mainspring.step"
STOP_REASON = "mainspring.stop_reason"
COST_USD = "mainspring.cost_usd"
TOOL_OUTCOME = "mainspring.tool.outcome"
TOOL_CACHED = "mainspring.tool.cached"
ISOLATION = "mainspring.sandbox.isolation"
RETRIEVAL_TOKENS = "mainspring.memory.tokens"
RETRIEVAL_MAX_TOKENS = "mainspring.memory.max_tokens"

METRIC_TOOL_CALLS = "mainspring.tool.calls"
METRIC_GUARD_REFUSALS = "mainspring.guard.refusals"
METRIC_RUN_DURATION = "mainspring.run.duration"
METRIC_RUNS = "mainspring.runs"
METRIC_COST = "mainspring.cost"
METRIC_BREAKER_OPEN = "mainspring.tool.breaker_open"

CAPTURE_CONTENT_VARIABLE = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
"""The convention's own switch for recording prompts, arguments and results."""

GUARD_REFUSALS = frozenset(
    {
        "not_found",
        "invalid_arguments",
        "forbidden",
        "approval_required",
        "rate_limited",
        "circuit_open",
        "budget_exceeded",
        "sandbox_violation",
    }
)
"""Error kinds that are a guard saying no, not the tool failing."""
