"""Serving an explorer page (exactly as `fdlf explore NAME` does) and driving it in Debian's chromium with
Playwright: shared by the browser tests and `benchmarks/bench_widgets.py --browser`.

Chromium comes from apt (`.ci/run` installs it); Playwright cannot download its own browser here, so it
launches the system binary. Every wait is bounded.
"""
from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

from fdlf_core.cli import NOTEBOOK_DIR, explorer_server

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
WAIT_S = 90  # page load (kernel start, notebook run, plotly.js) and each redraw, on a loaded 2-core machine
# the visible plotly figures, in page order (= the explorers' `figures` order)
PLOTS = "Array.from(document.querySelectorAll('.js-plotly-plot')).filter(el => el.offsetParent !== null)"
# what a page must never show once it has loaded: a widget whose model is gone, or one that never rendered
BROKEN_WIDGET_TEXT = ("Error displaying widget", "Loading widget")
# console errors of upstream code that are not ours to fix (none seen so far: an error fails the test)
KNOWN_CONSOLE_ERRORS: tuple[str, ...] = ()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve(name: str, log_dir: Path, plain: bool = False):
    """Voila serving page ``name`` exactly as `fdlf explore NAME` does, or (``plain``) as a user's own
    `voila notebooks/<page>.ipynb` would: no template named, no JUPYTER_PATH. Yields its URL, then stops it."""
    command, env, url = explorer_server(name, free_port())
    if plain:
        command = [c for c in command if not c.startswith("--template")]
        env = {k: v for k, v in env.items() if k != "JUPYTER_PATH"}
    log_path = Path(log_dir) / f"voila-{name}.log"
    with open(log_path, "w") as log:
        server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=NOTEBOOK_DIR, env=env)
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    urllib.request.urlopen(url, timeout=5).close()
                    break
                except OSError:
                    if server.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(f"voila did not come up: {log_path.read_text()[-2000:]}")
                    time.sleep(0.5)
            yield url
        finally:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()


def open_page(p, url: str, n_plots: int = 2):
    """Chromium on ``url``, waited for until ``n_plots`` figures are drawn. Returns (browser, page, errors,
    requests): console errors, page errors and failed requests; every request that left 127.0.0.1."""
    browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
    context = browser.new_context(viewport={"width": 1400, "height": 1100})
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=url.rstrip("/"))
    page = context.new_page()
    errors, offsite = [], []
    page.on("console", lambda msg: errors.append(msg.text)
            if msg.type == "error" and not msg.text.startswith(KNOWN_CONSOLE_ERRORS or ("\0",)) else None)
    page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
    page.on("requestfailed", lambda req: errors.append("request failed: " + req.url))
    page.on("request", lambda req: offsite.append(req.url)
            if not req.url.startswith(("http://127.0.0.1", "ws://127.0.0.1", "data:", "blob:")) else None)
    page.goto(url, timeout=WAIT_S * 1000)
    page.wait_for_function(f"() => {{ const plots = {PLOTS}; return plots.length >= {n_plots} && "
                           f"plots.every(el => el.data && el.data.length > 0); }}", timeout=WAIT_S * 1000)
    return browser, page, errors, offsite


def press(page, description: str, key: str, times: int = 1, nth: int = 0) -> None:
    """Move the (``nth``) slider labelled ``description`` by keyboard, as a user does."""
    handle = page.locator(".widget-slider", has_text=description).nth(nth).locator(".noUi-handle")
    handle.focus()
    for _ in range(times):
        handle.press(key)


def settings_line(page, nth: int = 0) -> str:
    return page.locator(".fdlf-copy-line code").nth(nth).inner_text()


def wait_for_settings(page, contains: str, timeout_s: float, nth: int = 0) -> float:
    """Seconds until the (``nth``) settings line contains ``contains`` (the explorer's refresh has landed)."""
    start = time.monotonic()
    page.wait_for_function("([text, nth]) => { const code = document.querySelectorAll('.fdlf-copy-line code')[nth]; "
                           "return code && code.textContent.includes(text); }", arg=[contains, nth],
                           timeout=timeout_s * 1000, polling=10)
    return time.monotonic() - start


def broken_widgets(page) -> list[str]:
    text = page.inner_text("body")
    return [t for t in BROKEN_WIDGET_TEXT if t in text]
