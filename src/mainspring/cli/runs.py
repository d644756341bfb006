"""`mainspring runs`: list, inspect and cancel recorded runs."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Annotated, Any

import anyio
import typer
from pydantic_core import to_jsonable_python

from mainspring.config import Settings, load_settings
from mainspring.errors import RunNotFoundError
from mainspring.runs import ModelCalled, RunInfo, RunRecord, RunStore, SqliteRunStore, ToolFinished
from mainspring.runs.base import utc_now

app = typer.Typer(
    help="List, inspect, resume, cancel and replay recorded runs.", no_args_is_help=True
)

StoreOption = Annotated[
    str | None,
    typer.Option(
        "--store", help="sqlite:///path.db or postgresql://...; default <data_dir>/runs.db."
    ),
]


def open_store(url: str | None, settings: Settings | None = None) -> RunStore:
    """The run store named by a URL, or the default SQLite file under the data directory."""
    if url is None:
        return SqliteRunStore((settings or load_settings()).data_dir / "runs.db")
    if url.startswith("sqlite:///"):
        return SqliteRunStore(url.removeprefix("sqlite:///"))
    if url.startswith(("postgresql://", "postgres://")):
        from mainspring.runs.postgres import PostgresRunStore

        return PostgresRunStore(url)
    raise typer.BadParameter(f"store {url!r} must start with sqlite:/// or postgresql://")


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
) -> None:
    """The newest runs with their status, tokens and cost."""
    runs: list[RunInfo] = anyio.run(
        _with_store, store, lambda s: s.list(limit=limit, status=status)
    )
    if not runs:
        typer.echo("no runs recorded")
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


def _agent_for(record: RunRecord, model: str | None, base_url: str | None) -> Any:
    """An agent configured like the one that recorded the run (protocol, budget, tools).

    With no model named, the run's own model is used, or for a replay-only agent whose model is
    never called, the record itself.
    """
    from mainspring.agent import Budget
    from mainspring.agent.replay import RecordedModel
    from mainspring.cli.run import build_model, make_agent

    settings = load_settings()
    recorded = record.info.settings
    budget = Budget(**recorded["budget"]) if "budget" in recorded else Budget()
    spec = model or record.info.model
    chosen = build_model(spec, base_url) if ":" in spec else RecordedModel(record)
    return make_agent(settings, chosen, str(recorded.get("protocol", "native")), budget)


@app.command()
def resume(
    run_id: str,
    store: StoreOption = None,
    model: Annotated[str | None, typer.Option(help="Override the recorded model.")] = None,
    base_url: Annotated[str | None, typer.Option(help="OpenAI-compatible server URL.")] = None,
) -> None:
    """Continue a run whose process died; completed model and tool calls are not repeated."""
    from mainspring.cli.run import _summary

    async def action(s: RunStore) -> Any:
        record = await s.load(run_id)
        agent = _agent_for(record, model, base_url)
        try:
            if record.info.kind == "plan":
                from mainspring.planning import resume_planned

                return await resume_planned(agent, run_id)
            return await agent.resume(run_id)
        finally:
            await agent.aclose()

    result = anyio.run(_with_store, store, action)
    for line in _summary(result):
        typer.echo(line)
    raise typer.Exit(0 if result.stop_reason not in ("error", "needs_attention") else 1)


@app.command()
def replay(
    run_id: str,
    store: StoreOption = None,
    model: Annotated[
        str | None, typer.Option(help="Re-run the task on this model with the recorded tools.")
    ] = None,
    base_url: Annotated[str | None, typer.Option(help="OpenAI-compatible server URL.")] = None,
) -> None:
    """Re-run a recorded run from its record (no model or tool called), or against --model."""
    from mainspring.agent import RunFinished
    from mainspring.agent.replay import Replay
    from mainspring.cli.run import _describe, _summary

    async def action(s: RunStore) -> list[str]:
        record = await s.load(run_id)
        agent = _agent_for(record, "", None)
        other = None
        if model is not None:
            from mainspring.cli.run import build_model

            other = build_model(model, base_url)
        session = Replay(record, agent.config, model=other)
        lines: list[str] = []
        async for event in session.events():
            if isinstance(event, RunFinished):
                lines += _summary(event.result)
            elif (line := _describe(event)) is not None:
                lines.append(line)
        differences = session.divergences
        if model is not None:
            lines.append("diverges: " + ("; ".join(differences) if differences else "nowhere"))
        return lines

    for line in anyio.run(_with_store, store, action):
        typer.echo(line)
