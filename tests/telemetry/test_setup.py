import io
import json
import logging
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from prometheus_client import CollectorRegistry, generate_latest

from mainspring.agent import Agent
from mainspring.errors import ConfigurationError
from mainspring.telemetry import (
    LoggingHooks,
    PrometheusHooks,
    configure_logging,
    telemetry_from_environment,
)
from mainspring.testing import ScriptedModel, text, tool_calls
from mainspring.tools import tool


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def _script() -> ScriptedModel:
    return ScriptedModel([tool_calls(("add", {"a": 2, "b": 3})), text("5")])


def test_nothing_is_set_up_without_exporters() -> None:
    assert telemetry_from_environment({}) is None
    assert telemetry_from_environment({"OTEL_TRACES_EXPORTER": "none"}) is None
    assert (
        telemetry_from_environment({"OTEL_TRACES_EXPORTER": "console", "OTEL_SDK_DISABLED": "true"})
        is None
    )


def test_unknown_exporter_is_a_clear_error() -> None:
    with pytest.raises(ConfigurationError, match="OTEL_TRACES_EXPORTER='zipkin'.*console, otlp"):
        telemetry_from_environment({"OTEL_TRACES_EXPORTER": "zipkin"})


async def test_console_exporter_prints_spans_with_the_service_name() -> None:
    out = io.StringIO()
    env = {"OTEL_TRACES_EXPORTER": "console", "OTEL_SERVICE_NAME": "checkout-agent"}
    telemetry = telemetry_from_environment(env, stream=out)
    assert telemetry is not None
    with _script() as model:
        await Agent(model, [add], hooks=[telemetry.hooks]).run("2+3")
    telemetry.shutdown()
    printed = out.getvalue()
    assert '"name": "invoke_agent"' in printed
    assert '"name": "execute_tool add"' in printed
    assert "checkout-agent" in printed


class _Receiver(BaseHTTPRequestHandler):
    bodies: dict[str, list[bytes]]

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        self.bodies.setdefault(self.path, []).append(self.rfile.read(length))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, dict[str, list[bytes]]]]:
    bodies: dict[str, list[bytes]] = {}
    handler = type("Handler", (_Receiver,), {"bodies": bodies})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", bodies
    server.shutdown()
    server.server_close()


async def test_otlp_exports_spans_and_metrics_to_a_receiver(
    receiver: tuple[str, dict[str, list[bytes]]],
) -> None:
    url, bodies = receiver
    env = {
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_METRICS_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_ENDPOINT": url,
    }
    telemetry = telemetry_from_environment(env)
    assert telemetry is not None
    with _script() as model:
        await Agent(model, [add], hooks=[telemetry.hooks]).run("2+3")
    telemetry.shutdown()  # flushes the batch processor and the last metrics
    names: set[str] = set()
    for body in bodies["/v1/traces"]:
        request = ExportTraceServiceRequest.FromString(body)
        for resource in request.resource_spans:
            for scope in resource.scope_spans:
                names.update(span.name for span in scope.spans)
    assert {"invoke_agent", "execute_tool add"} <= names
    assert any(n.startswith("chat ") for n in names)
    metric_names: set[str] = set()
    for body in bodies["/v1/metrics"]:
        metrics_request = ExportMetricsServiceRequest.FromString(body)
        for resource_metrics in metrics_request.resource_metrics:
            for scope_metrics in resource_metrics.scope_metrics:
                metric_names.update(m.name for m in scope_metrics.metrics)
    assert {"gen_ai.client.operation.duration", "gen_ai.client.token.usage"} <= metric_names


async def test_prometheus_hooks_count_calls() -> None:
    registry = CollectorRegistry()
    hooks = PrometheusHooks(registry)
    with _script() as model:
        await Agent(model, [add], hooks=[hooks]).run("2+3")
    exposition = generate_latest(registry).decode()
    assert 'mainspring_tool_calls_total{cached="false",outcome="ok",tool="add"} 1.0' in exposition
    assert 'mainspring_runs_total{kind="agent",stop_reason="final_answer"} 1.0' in exposition
    assert "mainspring_model_call_duration_seconds_bucket" in exposition
    assert "run_" not in exposition  # no run ids as labels


async def test_json_logs_carry_run_fields_and_never_arguments() -> None:
    @tool(secrets={"token"})
    def login(user: str, token: str) -> str:
        """Log in."""
        return "ok"

    out = io.StringIO()
    handler = configure_logging(logging.DEBUG, format="json", stream=out)
    try:
        script = [tool_calls(("login", {"user": "ann", "token": "s3cr3t"})), text("in")]
        with ScriptedModel(script) as model:
            result = await Agent(model, [login], hooks=[LoggingHooks()]).run("log in")
    finally:
        logging.getLogger("mainspring").removeHandler(handler)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    tool_lines = [line for line in lines if line.get("tool") == "login"]
    assert tool_lines and tool_lines[0]["run_id"] == result.run_id
    assert tool_lines[0]["outcome"] == "ok"
    assert all(line["time"].endswith("Z") for line in lines)
    assert "s3cr3t" not in out.getvalue()


def test_the_cli_prints_spans_with_otel_traces_exporter_console(tmp_path: Path) -> None:
    import subprocess
    import sys

    from tests.models._server import Reply, ScriptedServer

    server = ScriptedServer()
    server.start()
    try:
        chunk = {"choices": [{"index": 0, "delta": {"content": "391"}, "finish_reason": None}]}
        done_chunk = {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
        server.add(Reply(sse=[chunk, done_chunk, "[DONE]"]))
        (tmp_path / "none.toml").write_text("")
        env = {
            "PATH": os.environ["PATH"],
            "MAINSPRING_DATA_DIR": str(tmp_path),
            "MAINSPRING_CONFIG": str(tmp_path / "none.toml"),
            "OTEL_TRACES_EXPORTER": "console",
            "OTEL_SERVICE_NAME": "cli-test",
            "PYTHONPATH": os.pathsep.join(sys.path),
        }
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "mainspring.cli",
                "run",
                "17*23?",
                "--model",
                "openai:m",
                "--base-url",
                server.url,
                "--json",
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        server.stop()
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["output"] == "391"  # stdout stays one JSON document
    assert '"name": "invoke_agent"' in done.stderr and "cli-test" in done.stderr
