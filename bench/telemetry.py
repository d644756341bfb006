"""Telemetry overhead per agent step: off, OpenTelemetry to the console, and OTLP batched.

A FunctionModel that answers at once (usage given, so no tokenizer runs in the double) and an
async tool; each configuration runs the same 20-step runs, and the figure is the median per-step
time over repeated batches. The OTLP exporter sends to a loopback HTTP receiver in this process
(a thread), so the figure includes protobuf encoding but no real network.

Run: `python -m bench telemetry`.
"""

from __future__ import annotations

import asyncio
import io
import statistics
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from bench._scripted import scripted_agent

STEPS = 20
RUNS = 30
BATCHES = 5


class _Sink(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


def _agent(hooks: list[Any]) -> Any:
    return scripted_agent(STEPS, max_iterations=STEPS + 2, hooks=hooks)


async def _per_step_us(make_hooks: Callable[[], list[Any]]) -> float:
    agent = _agent(make_hooks())
    await agent.run("warm up")
    figures = []
    for _ in range(BATCHES):
        started = time.perf_counter()
        for _ in range(RUNS):
            await agent.run("go")
        figures.append((time.perf_counter() - started) / (RUNS * (STEPS + 1)) * 1e6)
    return statistics.median(figures)


def main() -> str:
    from mainspring.telemetry import telemetry_from_environment

    server = ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    console = telemetry_from_environment(
        {"OTEL_TRACES_EXPORTER": "console", "OTEL_METRICS_EXPORTER": "none"}, stream=io.StringIO()
    )
    otlp = telemetry_from_environment(
        {
            "OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_METRICS_EXPORTER": "otlp",
            "OTEL_EXPORTER_OTLP_ENDPOINT": url,
        }
    )
    assert console is not None and otlp is not None
    rows = [
        ("off (no telemetry hooks)", asyncio.run(_per_step_us(list))),
        ("OpenTelemetry, console exporter", asyncio.run(_per_step_us(lambda: [console.hooks]))),
        (
            "OpenTelemetry, OTLP/HTTP batched + metrics",
            asyncio.run(_per_step_us(lambda: [otlp.hooks])),
        ),
    ]
    console.shutdown()
    otlp.shutdown()
    server.shutdown()
    base = rows[0][1]
    lines = [
        "## Telemetry",
        "",
        f"Per agent step ({STEPS}-step runs, async tool, instant model; median of {BATCHES} "
        f"batches of {RUNS} runs).",
        "",
        "| configuration | µs per step | over off |",
        "|---|---|---|",
    ]
    lines += [f"| {name} | {us:.0f} | {us - base:+.0f} µs |" for name, us in rows]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(main())
