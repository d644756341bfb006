"""The dashboard: server-rendered pages over the same data the API serves, for one key's tenant.

A key typed into the sign-in form becomes a server-side session (HttpOnly, SameSite=Strict
cookie); every form carries the session's CSRF token. Text is escaped by Jinja2, and invisible
or bidi characters are shown as visible escapes so a run's output cannot disguise itself.
"""

from __future__ import annotations

import secrets
import unicodedata
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from mainspring.audit import verify_log
from mainspring.server.api import decide
from mainspring.server.auth import SESSION_COOKIE, Session, check_csrf
from mainspring.server.problems import Problem
from mainspring.server.runs import run_view
from mainspring.server.schemas import DecisionRequest
from mainspring.server.state import ServiceState, service

_HERE = Path(__file__).parent
_LOGIN_COOKIE = "mainspring_login"
_KEEP_VISIBLE = frozenset("\n\t")
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Co", "Cs"})
_HEADERS = {
    # Scripts and styles only from this server: nothing injected into a page can run.
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def visible(text: object) -> str:
    r"""`text` with invisible and bidi-control characters replaced by `\u....` escapes."""
    out = []
    for ch in str(text):
        if ch not in _KEEP_VISIBLE and unicodedata.category(ch) in _HIDDEN_CATEGORIES:
            out.append(f"\\u{ord(ch):04x}" if ord(ch) <= 0xFFFF else f"\\U{ord(ch):08x}")
        else:
            out.append(ch)
    return "".join(out)


_templates = Environment(
    loader=FileSystemLoader(_HERE / "templates"),
    autoescape=select_autoescape(["html"]),
    auto_reload=False,
)
_templates.filters["visible"] = visible


def _page(name: str, status: int = 200, **context: Any) -> HTMLResponse:
    html = _templates.get_template(name).render(**context)
    return HTMLResponse(html, status_code=status, headers=_HEADERS)


async def _session(request: Request) -> Session | None:
    token = request.cookies.get(SESSION_COOKIE)
    return None if token is None else await service(request).sessions.get(token)


async def _form(request: Request) -> dict[str, str]:
    raw = await service(request).read_body(request)
    fields = parse_qs(raw.decode("utf-8", errors="replace"), max_num_fields=20)
    return {k: v[0] for k, v in fields.items()}


def _login_page(error: str | None = None, status: int = 200) -> HTMLResponse:
    token = secrets.token_urlsafe(24)
    response = _page("login.html", status, csrf=token, error=error)
    response.set_cookie(
        _LOGIN_COOKIE, token, httponly=True, samesite="strict", path="/", max_age=3600
    )
    return response


async def home(request: Request) -> Response:
    """The tenant's runs, tools, pending approvals and audit status; or the sign-in form."""
    session = await _session(request)
    if session is None:
        return _login_page()
    s = service(request)
    tenant = session.caller.tenant
    runs, _ = await s.runs.list(tenant, limit=20, cursor=None, status=None)
    pending = await s.approvals.list(tenant, status="pending")
    registry = s.tenants.executor(tenant).registry
    stats = await registry.stats()
    principal = session.caller.principal
    tools = [stats[t.name] for t in registry if principal.may_use(t.policy.scopes)]
    report = await verify_log(s.audit_log.bodies())
    return _page(
        "home.html",
        back="/",
        csrf=session.csrf,
        tenant=tenant,
        runs=runs,
        approvals=[a.to_json() for a in pending],
        tools=tools,
        audit=report,
    )


async def login(request: Request) -> Response:
    """Exchange a key for a session cookie."""
    form = await _form(request)
    expected = request.cookies.get(_LOGIN_COOKIE)
    if expected is None or not secrets.compare_digest(form.get("csrf", ""), expected):
        return _login_page("The form expired; sign in again.", 403)
    s = service(request)
    caller = await s.keys.verify(form.get("key", "").strip())
    if caller is None:
        return _login_page("That key is unknown or revoked.", 401)
    token, _ = await s.sessions.open(caller)
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
        max_age=int(s.settings.session_hours * 3600),
    )
    response.delete_cookie(_LOGIN_COOKIE, path="/")
    return response


async def logout(request: Request) -> Response:
    """End the session."""
    session = await _session(request)
    if session is not None:
        check_csrf(session, (await _form(request)).get("csrf"))
        token = request.cookies[SESSION_COOKIE]
        await service(request).sessions.close(token)
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


async def run_page(request: Request) -> Response:
    """One run's timeline: model calls, tool calls and results, refusals, approvals."""
    session = await _session(request)
    if session is None:
        return RedirectResponse("/", status_code=303)
    s = service(request)
    try:
        row = await s.runs.row(session.caller.tenant, request.path_params["run_id"])
    except Problem as exc:
        return _page("error.html", exc.status, message=exc.detail)
    events = await _all_events(s, row["id"])
    return _page(
        "run.html",
        back=f"/runs/{row['id']}",
        csrf=session.csrf,
        tenant=session.caller.tenant,
        run=run_view(row),
        events=events,
        last_id=events[-1]["seq"] if events else 0,
    )


async def _all_events(s: ServiceState, run_id: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    after = 0
    while True:
        page = await s.events.read(run_id, after)
        if not page:
            return events
        events += [{"seq": e.seq, "type": e.type, "data": e.data} for e in page]
        after = page[-1].seq


async def decide_form(request: Request) -> Response:
    """The approve/deny buttons."""
    session = await _session(request)
    if session is None:
        return RedirectResponse("/", status_code=303)
    form = await _form(request)
    check_csrf(session, form.get("csrf"))
    decision = form.get("decision")
    if decision not in ("approve", "deny"):
        raise Problem(422, "decision must be approve or deny")
    body = DecisionRequest(decision=decision, reason=form.get("reason") or None)  # type: ignore[arg-type]
    s = service(request)
    try:
        await decide(s, session.caller.tenant, session.caller.principal.id, request, body)
    except Problem as exc:
        return _page("error.html", exc.status, message=exc.detail)
    return RedirectResponse(_local(form.get("back")), status_code=303)


def _local(path: str | None) -> str:
    """A redirect target on this site only (never `//elsewhere` or `https://...`)."""
    if path and path.startswith("/") and not path.startswith("//") and "\\" not in path:
        return path
    return "/"


async def _signed_in(request: Request) -> Session:
    session = await _session(request)
    if session is None:
        raise Problem(401, "sign in again: the session expired")
    return session


def _fragment(name: str, headers: dict[str, str] | None = None, **context: Any) -> HTMLResponse:
    html = _templates.get_template(name).render(**context)
    return HTMLResponse(html, headers={**_HEADERS, **(headers or {})})


async def runs_fragment(request: Request) -> Response:
    """The runs table's rows, for the live list."""
    session = await _signed_in(request)
    runs, _ = await service(request).runs.list(
        session.caller.tenant, limit=20, cursor=None, status=None
    )
    return _fragment("_runs.html", runs=runs)


async def approvals_fragment(request: Request) -> Response:
    """Pending approvals (of one run, with `run_id`), with their forms."""
    session = await _signed_in(request)
    pending = await service(request).approvals.list(
        session.caller.tenant, status="pending", run_id=request.query_params.get("run_id")
    )
    return _fragment(
        "_approvals.html",
        approvals=[a.to_json() for a in pending],
        csrf=session.csrf,
        back=_local(request.query_params.get("back")),
    )


async def timeline_fragment(request: Request) -> Response:
    """A run's events after `after`, with its status and last event id in headers."""
    session = await _signed_in(request)
    s = service(request)
    row = await s.runs.row(session.caller.tenant, request.path_params["run_id"])
    text = request.query_params.get("after", "0")
    after = int(text) if text.isdigit() else 0
    page = await s.events.read(row["id"], after)
    events = [{"seq": e.seq, "type": e.type, "data": e.data} for e in page]
    last = events[-1]["seq"] if events else after
    # The status read before the events could be stale by one event; the next poll corrects it.
    headers = {"X-Last-Event": str(last), "X-Run-Status": row["status"]}
    return _fragment("_timeline.html", headers, events=events)


def dashboard_routes() -> list[BaseRoute]:
    """The pages and their static assets (served by the package: no CDN, no build step)."""
    return [
        Route("/", home, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/runs/{run_id}", run_page, methods=["GET"]),
        Route("/runs/{run_id}/timeline", timeline_fragment, methods=["GET"]),
        Route("/fragments/runs", runs_fragment, methods=["GET"]),
        Route("/fragments/approvals", approvals_fragment, methods=["GET"]),
        Route("/approvals/{approval_id}/decide", decide_form, methods=["POST"]),
        Mount("/static", StaticFiles(directory=_HERE / "static"), name="static"),
    ]
