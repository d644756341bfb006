"""`mainspring runs`: list, inspect and cancel recorded runs."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Annotated, Any, get_args

import anyio
import typer
from pydantic_core import to_jsonable_python

from mainspring.agent import Budget, RunFinished, RunResult
from mainspring.agent.replay import RecordedModel, Replay
from mainspring.cli.exit_codes import EXIT_INTERRUPTED, exit_code_for
from mainspring.cli.progress import stderr_console
from mainspring.cli.run import (
    build_model,
    interrupted,
    load_model,
    make_agent,
    result_json,
    settings_api_key,
)
from mainspring.cli.run_view import describe, summary
from mainspring.cli.stores import open_run_store
from mainspring.clock import utc_now
from mainspring.config import Settings, load_settings
from mainspring.errors import RunNotFoundError
from mainspring.planning import resume_planned
from mainspring.runs import ModelCalled, RunInfo, RunRecord, RunStatus, RunStore, ToolFinished

app = typer.Typer(
    help="List, inspect, resume, cancel and replay recorded runs.", no_args_is_help=True
)

StoreOption = Annotated[
    str | None,
    typer.Option(
        "--store", help="sqlite:///path.db or postgresql://...; default <data_dir>/runs.db."
    ),
]


JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def open_store(url: str | None, settings: Settings | None = None) -> RunStore:
    """The run store named by a URL, or the one the settings name (default <data_dir>/runs.db)."""
    return open_run_store(url, settings or load_settings())


async def _with_store(url: str | None, action: Any) -> Any:
    store = open_store(url)
    try:
        return await action(store)
    except RunNotFoundError as exc:
        raise typer.BadParameter(str(exc)) from None
    finally:
        await store.aclose()


def _summary(info: RunInfo) -> str:
    usage = info.usage
    return (
        f"{info.run_id}  {info.status:<15} {info.stop_reason or '-':<15} steps={info.steps} "
        f"tokens={usage.input_tokens + usage.output_tokens} cost=${usage.cost_usd:.6f}  "
        f"{info.created_at}  {info.task[:60]!r}"
    )


@app.command("list")
def list_runs(
    store: StoreOption = None,
    limit: Annotated[int, typer.Option(help="How many, newest first.")] = 20,
    status: Annotated[str | None, typer.Option(help="Only runs with this status.")] = None,
    as_json: JsonOption = False,
) -> None:
    """The newest runs with their status, tokens and cost."""
    if status is not None and status not in get_args(RunStatus):
        raise typer.BadParameter(
            f"status {status!r} is not one of {', '.join(get_args(RunStatus))}"
        )
    runs: list[RunInfo] = anyio.run(
        _with_store, store, lambda s: s.list(limit=limit, status=status)
    )
    if as_json:
        typer.echo(json.dumps(to_jsonable_python(runs), indent=2))
        return
    if not runs:
        typer.echo("no runs recorded" + (f" with status {status!r}" if status else ""))
    for info in runs:
        typer.echo(_summary(info))


def _describe(record: RunRecord) -> list[str]:
    lines = [_summary(record.info)]
    if record.info.note:
        lines.append(f"  note: {record.info.note}")
    for event in record.events:
        if isinstance(event, ModelCalled):
            message = event.response.message
            calls = ", ".join(f"{c.name}({c.arguments})" for c in message.tool_calls)
            said = message.content.strip().replace("\n", " ")[:100]
            lines.append(f"  step {event.step} model: {said!r}" + (f" -> {calls}" if calls else ""))
        elif isinstance(event, ToolFinished):
            r = event.result
            outcome = "ok" if r.ok else (r.error.kind if r.error else "error")
            lines.append(f"  step {event.step} tool {r.tool}: {outcome} {r.content[:100]!r}")
        else:
            lines.append(f"  step {event.step} tool {event.call.name} started")
    if record.info.output is not None:
        lines.append(f"  output: {record.info.output}")
    return lines


@app.command()
def show(
    run_id: str,
    store: StoreOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="The whole record as JSON.")] = False,
) -> None:
    """One run: every model call and tool call, the totals and the output."""
    record: RunRecord = anyio.run(_with_store, store, lambda s: s.load(run_id))
    if as_json:
        typer.echo(json.dumps(to_jsonable_python(record), indent=2))
        return
    for line in _describe(record):
        typer.echo(line)


@app.command()
def cancel(run_id: str, store: StoreOption = None) -> None:
    """Mark a run cancelled: it will not be resumed."""

    async def action(s: RunStore) -> RunInfo:
        info = (await s.load(run_id)).info
        if info.status in ("completed", "cancelled"):
            raise typer.BadParameter(f"run {run_id!r} is already {info.status}")
        updated = replace(info, status="cancelled", updated_at=utc_now())
        await s.update(updated)
        return updated

    info: RunInfo = anyio.run(_with_store, store, action)
    typer.echo(f"cancelled {info.run_id}")


def _agent_for(record: RunRecord, model: str | None, base_url: str | None, store: RunStore) -> Any:
    """An agent configured like the one that recorded the run (protocol, budget, tools).

    It reads and writes runs in `store`, the store the record came from. With no model named,
    the run's own model is used, or for a replay-only agent whose model is never called, the
    record itself.
    """
    settings = load_settings()
    recorded = record.info.settings
    budget = Budget(**recorded["budget"]) if "budget" in recorded else Budget()
    spec = model or record.info.model
    chosen = (
        build_model(spec, base_url, settings_api_key(settings))
        if ":" in spec
        else RecordedModel(record)
    )
    protocol = str(recorded.get("protocol", "native"))
    return make_agent(settings, chosen, protocol, budget, run_store=store)


@app.command()
def resume(
    run_id: str,
    store: StoreOption = None,
    model: Annotated[str | None, typer.Option(help="Override the recorded model.")] = None,
    base_url: Annotated[str | None, typer.Option(help="OpenAI-compatible server URL.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Continue a run whose process died or was interrupted; completed calls are not repeated.

    The run continues in the store it was read from (`--store`, else the settings' run store).
    """

    async def action(s: RunStore) -> Any:
        record = await s.load(run_id)
        agent = _agent_for(record, model, base_url, s)
        await load_model(agent.model, stderr_console())
        try:
            if record.info.kind == "plan":
                return await resume_planned(agent, run_id)
            return await agent.resume(run_id)
        finally:
            await agent.aclose()

    try:
        result = anyio.run(_with_store, store, action)
    except KeyboardInterrupt:
        interrupted(load_settings(), run_id, store_url=store)
        raise typer.Exit(EXIT_INTERRUPTED) from None
    if as_json:
        typer.echo(json.dumps(result_json(result)))
    else:
        for line in summary(result):
            typer.echo(line)
    raise typer.Exit(exit_code_for(result.stop_reason))


@app.command()
def replay(
    run_id: str,
    store: StoreOption = None,
    model: Annotated[
        str | None, typer.Option(help="Re-run the task on this model with the recorded tools.")
    ] = None,
    base_url: Annotated[str | None, typer.Option(help="OpenAI-compatible server URL.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Re-run a recorded run from its record (no model or tool called), or against --model."""

    async def action(s: RunStore) -> dict[str, Any]:
        record = await s.load(run_id)
        agent = _agent_for(record, "", None, s)
        other = None
        if model is not None:
            other = build_model(model, base_url, settings_api_key(load_settings()))
        session = Replay(record, agent.config, model=other)
        events: list[Any] = []
        result: RunResult | None = None
        async for event in session.events():
            if isinstance(event, RunFinished):
                result = event.result
            else:
                events.append(event)
        return {"events": events, "result": result, "divergences": session.divergences}

    replayed = anyio.run(_with_store, store, action)
    result = replayed["result"]
    if as_json:
        data = {
            "run_id": run_id,
            "events": [
                {"type": type(e).__name__, **to_jsonable_python(e)} for e in replayed["events"]
            ],
            "result": result_json(result),
            "divergences": replayed["divergences"] if model is not None else None,
        }
        typer.echo(json.dumps(data, indent=2))
        return
    for event in replayed["events"]:
        if (line := describe(event)) is not None:
            typer.echo(line)
    for line in summary(result):
        typer.echo(line)
    if model is not None:
        differences = replayed["divergences"]
        typer.echo("diverges: " + ("; ".join(differences) if differences else "nowhere"))
