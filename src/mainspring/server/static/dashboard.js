// Live views: re-fetch server-rendered (and server-escaped) fragments with the session cookie.
// No text is ever built here; the HTML comes from the server's templates.
"use strict";

const POLL_MS = 1000;
const TERMINAL = new Set(["completed", "failed", "cancelled", "needs_attention"]);

async function fetchFragment(url) {
  const response = await fetch(url, { credentials: "same-origin", cache: "no-store" });
  if (!response.ok) throw new Error(`${url}: ${response.status}`);
  return response;
}

function refreshEvery(element) {
  const url = element.dataset.refresh;
  const tick = async () => {
    try {
      const html = await (await fetchFragment(url)).text();
      if (element.innerHTML !== html) element.innerHTML = html;
    } catch (error) {
      console.warn(error);
    }
    setTimeout(tick, POLL_MS);
  };
  setTimeout(tick, POLL_MS);
}

function followTimeline(list) {
  const tick = async () => {
    try {
      const response = await fetchFragment(`${list.dataset.timeline}?after=${list.dataset.last}`);
      const html = await response.text();
      if (html.trim()) list.insertAdjacentHTML("beforeend", html);
      list.dataset.last = response.headers.get("X-Last-Event") || list.dataset.last;
      const status = response.headers.get("X-Run-Status") || list.dataset.status;
      list.dataset.status = status;
      const shown = document.getElementById("run-status");
      if (shown && shown.textContent !== status) {
        shown.textContent = status;
        shown.className = `status-${status}`;
      }
      if (TERMINAL.has(status) && !html.trim()) return;
    } catch (error) {
      console.warn(error);
    }
    setTimeout(tick, POLL_MS / 2);
  };
  tick();
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-refresh]").forEach(refreshEvery);
  const timeline = document.getElementById("timeline");
  if (timeline) followTimeline(timeline);
});
