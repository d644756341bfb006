"""The dashboard in headless Chromium (Debian's package, driven by Playwright)."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx
import pytest

from mainspring.server.dashboard import visible
from tests.conftest import service_unavailable
from tests.server.harness import ThreadedServer

playwright_api = pytest.importorskip("playwright.sync_api")

APPROVE_TASK = (
    'tool echo {"text": "look\u202eevil\u200b"}; tool deploy {"target": "prod", "token": "@secret"}'
)


@pytest.fixture
def browser() -> Iterator[object]:
    executable = shutil.which("chromium")
    if executable is None:
        service_unavailable("chromium (apt-get install -y chromium)", FileNotFoundError("chromium"))
    with playwright_api.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        try:
            yield launched
        finally:
            launched.close()


def _key(server: ThreadedServer, tenant: str) -> str:
    # Playwright's sync API runs an event loop in this thread; the key is made in another one.
    made: list[str] = []
    worker = threading.Thread(target=lambda: made.append(anyio.run(server.key, tenant)))
    worker.start()
    worker.join(30)
    return made[0]


def _post_run(server: ThreadedServer, key: str, task: str) -> str:
    response = httpx.post(
        f"{server.url}/v1/runs", json={"task": task}, headers={"Authorization": f"Bearer {key}"}
    )
    assert response.status_code == 202, response.text
    run_id: str = response.json()["id"]
    return run_id


def test_visible_escapes_invisible_and_bidi_characters() -> None:
    assert visible("a\u202eb\u200bc\u2066d\nok\t") == "a\\u202eb\\u200bc\\u2066d\nok\t"
    assert visible("plain <b>") == "plain <b>"


def test_sign_in_watch_a_run_finish_live_and_approve_a_call(
    server: ThreadedServer, browser: object, tmp_path: Path
) -> None:
    shots = tmp_path / "screenshots"
    shots.mkdir()
    key = _key(server, "acme")
    page = browser.new_page()  # type: ignore[attr-defined]
    page.goto(server.url + "/")
    page.screenshot(path=str(shots / "1-sign-in.png"))
    page.fill("#key", "ms_wrong")
    page.click("#sign-in")
    assert "unknown or revoked" in page.inner_text(".error")
    page.fill("#key", key)
    page.click("#sign-in")
    page.wait_for_selector("text=tenant")
    assert page.inner_text(".tenant") == "tenant acme"
    cookies = {c["name"]: c for c in page.context.cookies()}
    session = cookies["mainspring_session"]
    assert session["httpOnly"] is True and session["sameSite"] == "Strict"

    # a run started after the page loaded appears and finishes without a reload
    live = _post_run(server, key, 'tool echo {"text": "live"}')
    page.wait_for_selector(f'tr[data-run="{live}"] >> text=completed', timeout=15_000)
    page.screenshot(path=str(shots / "2-run-finished-live.png"))

    # a call that needs approval: pending on the page, approved with the button
    waiting = _post_run(server, key, APPROVE_TASK)
    page.wait_for_selector(f'tr[data-run="{waiting}"] >> text=awaiting_approval', timeout=15_000)
    page.wait_for_selector("li.approval button.approve", timeout=15_000)
    assert "***" in page.inner_text("li.approval")  # the secret argument is redacted
    page.screenshot(path=str(shots / "3-pending-approval.png"))
    page.click("li.approval button.approve")
    page.wait_for_selector(f'tr[data-run="{waiting}"] >> text=completed', timeout=15_000)
    page.screenshot(path=str(shots / "4-approved-and-completed.png"))

    page.click(f'a[href="/runs/{waiting}"]')
    page.wait_for_selector("#timeline li.event-run_finished", timeout=15_000)
    timeline = page.inner_text("#timeline")
    assert "look\\u202eevil\\u200b" in timeline  # shown as escapes...
    assert "\u202e" not in page.content()  # ...never rendered
    assert "approved by acme/" in timeline
    assert page.inner_text("#run-status") == "completed"
    page.screenshot(path=str(shots / "5-timeline.png"), full_page=True)
    assert len(list(shots.iterdir())) == 5


def test_a_run_page_follows_the_run_live(
    server: ThreadedServer, browser: object, tmp_path: Path
) -> None:
    key = _key(server, "acme")
    waiting = _post_run(server, key, APPROVE_TASK)
    page = browser.new_page()  # type: ignore[attr-defined]
    page.goto(server.url + "/")
    page.fill("#key", key)
    page.click("#sign-in")
    page.goto(f"{server.url}/runs/{waiting}")
    page.wait_for_selector("#timeline li.event-approval_requested", timeout=15_000)
    page.wait_for_selector("#approvals button.deny")
    page.click("#approvals button.deny")
    page.wait_for_selector("#timeline li.event-run_finished", timeout=15_000)
    assert "denied" in page.inner_text("#timeline")
    page.screenshot(path=str(tmp_path / "denied.png"), full_page=True)


def test_forms_need_the_csrf_token_and_other_tenants_runs_are_hidden(
    server: ThreadedServer, browser: object
) -> None:
    key, other = _key(server, "acme"), _key(server, "globex")
    theirs = _post_run(server, other, "secret plans")
    page = browser.new_page()  # type: ignore[attr-defined]
    page.goto(server.url + "/")
    page.fill("#key", key)
    page.click("#sign-in")
    page.wait_for_selector(".tenant")
    session = next(c for c in page.context.cookies() if c["name"] == "mainspring_session")
    cookies = {"mainspring_session": session["value"]}
    forged = httpx.post(
        f"{server.url}/approvals/apr_x/decide", data={"decision": "approve"}, cookies=cookies
    )
    api_without_token = httpx.post(f"{server.url}/v1/runs", json={"task": "x"}, cookies=cookies)
    response = page.goto(f"{server.url}/runs/{theirs}")
    assert forged.status_code == 403
    assert api_without_token.status_code == 403
    assert response is not None and response.status == 404
    assert "secret plans" not in page.content()
    assert "secret plans" not in page.goto(server.url + "/").text()
