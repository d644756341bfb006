"""`mainspring keys`: create, list and revoke the service's API keys."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import anyio
import typer

from mainspring.config import load_settings
from mainspring.errors import ConfigurationError, MissingExtraError

if TYPE_CHECKING:
    from mainspring.server import KeyStore

app = typer.Typer(
    help="Create, list and revoke API keys of `mainspring serve`.", no_args_is_help=True
)


def _store() -> KeyStore:
    # The server extra is optional: without it only these commands fail, with an install hint.
    try:
        from mainspring.server import KeyStore, load_server_settings
    except MissingExtraError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None

    settings = load_server_settings(load_settings())
    return KeyStore.open(settings.database_path)


@app.command("create")
def create_command(
    tenant: Annotated[str, typer.Option(help="The tenant the key belongs to.")],
    scopes: Annotated[
        str | None,
        typer.Option(help="Comma-separated tool scopes; default: the tenant's default scopes."),
    ] = None,
    operator: Annotated[
        bool, typer.Option("--operator", help="Also allow /metrics and cross-tenant operations.")
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print an object with key and id.")
    ] = False,
) -> None:
    """Create a key and print it once: only its hash is stored."""
    store = _store()
    chosen = None if scopes is None else scopes.split(",")
    try:
        key, secret = anyio.run(lambda: store.create(tenant, chosen, operator=operator))
    except ConfigurationError as exc:
        raise typer.BadParameter(str(exc)) from None
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "key": secret,
                    "id": key.id,
                    "tenant": key.tenant,
                    "scopes": None if key.scopes is None else sorted(key.scopes),
                    "operator": key.operator,
                }
            )
        )
        return
    typer.echo(secret)
    typer.echo(
        f"id {key.id}, tenant {key.tenant}: store the key now, it is not shown again", err=True
    )


@app.command("list")
def list_command(
    tenant: Annotated[str | None, typer.Option(help="Only this tenant's keys.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List keys (never their secrets), revoked ones marked."""
    keys = anyio.run(lambda: _store().list(tenant))
    rows = [
        {
            "id": k.id,
            "tenant": k.tenant,
            "scopes": None if k.scopes is None else sorted(k.scopes),
            "operator": k.operator,
            "created_at": k.created_at,
            "revoked_at": k.revoked_at,
        }
        for k in keys
    ]
    if as_json:
        typer.echo(json.dumps(rows))
        return
    for k in keys:
        scopes = "default" if k.scopes is None else ",".join(sorted(k.scopes)) or "-"
        flags = (" operator" if k.operator else "") + (
            f" REVOKED {k.revoked_at}" if k.revoked_at else ""
        )
        typer.echo(f"{k.id}  {k.tenant}  scopes={scopes}  {k.created_at}{flags}")


@app.command("revoke")
def revoke_command(
    key_id: Annotated[str, typer.Argument(help="The key's id (keys list).")],
) -> None:
    """Revoke a key at once; requests with it get 401 from then on."""
    if not anyio.run(lambda: _store().revoke(key_id)):
        typer.echo(f"no live key with id {key_id!r}; see `mainspring keys list`", err=True)
        raise typer.Exit(1)
    typer.echo(f"revoked {key_id}")
