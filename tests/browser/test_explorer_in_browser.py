"""Each explorer served by Voila on localhost and driven in Debian's chromium with Playwright: after a
control moves, every plotly figure in the DOM must hold exactly the data and title that the explorer
computes in Python for the settings the page shows, with no Python error shown and no console error;
the "copy" button puts that settings line on the clipboard.

Chromium comes from apt (`.ci/run` installs it); Playwright cannot download its own browser here, so it
launches the system binary. Without chromium the test is skipped, except in CI (``CI`` set), where that
is a failure. Each server is started and stopped by its test; every wait is bounded.
"""
import ast
import contextlib
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request

import pytest

import fdlf_widgets
from fdlf_core.cli import NOTEBOOK_DIR as NOTEBOOKS
from fdlf_core.cli import explorer_server

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if CHROMIUM is None and not os.environ.get("CI"):
    pytest.skip("chromium is not installed (apt-get install chromium); CI installs it", allow_module_level=True)

WAIT_S = 90  # page load (kernel start, notebook run, plotly.js) and each redraw, on a loaded 2-core machine


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def _serve(name: str, tmp_path):
    """Voila serving explorer ``name`` exactly as `fdlf explore NAME` does; yields its URL, then stops it."""
    command, env, url = explorer_server(name, _free_port())
    log_path = tmp_path / "voila.log"
    with open(log_path, "w") as log:
        server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=NOTEBOOKS, env=env)
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


# the visible plotly figures, in page order (= the explorer's `figures` order)
PLOTS = "Array.from(document.querySelectorAll('.js-plotly-plot')).filter(el => el.offsetParent !== null)"
DRAWN = f"() => {PLOTS}.map(el => ({{title: el.layout.title && el.layout.title.text, data: (el.data || []).map(" \
        "t => ({x: t.x === undefined ? null : t.x, y: t.y === undefined ? null : t.y, z: t.z === undefined ? null : t.z}))}))"


def _python_view(settings: str) -> list[dict]:
    """What the explorer draws in Python for the page's settings line ``from fdlf_widgets import X; X(k=v, ...)``
    (parsed, not executed: the keyword values must be literals)."""
    call = ast.parse(settings.split("; ", 1)[1], mode="eval").body
    explorer = getattr(fdlf_widgets, call.func.id)(**{k.arg: ast.literal_eval(k.value) for k in call.keywords})
    drawn = []
    for fig in explorer.figures.values():
        spec = json.loads(fig.to_json())
        drawn.append({"title": spec["layout"].get("title", {}).get("text"),
                      "data": [{k: t.get(k) for k in ("x", "y", "z")} for t in spec["data"]]})
    return drawn


def _wait_until_page_matches_python(page, explorer_name: str, changed_from: str = "") -> tuple[str, list[dict]]:
    """Poll until the page settles (the same settings line on two polls a second apart, one other than
    ``changed_from``) and shows this explorer's figures for that line; returns both."""
    cls = fdlf_widgets.EXPLORERS[explorer_name].__name__
    deadline, previous, last = time.monotonic() + WAIT_S, None, None
    while time.monotonic() < deadline:
        settings = page.locator(".fdlf-copy-line code").inner_text()
        if settings == previous and settings.startswith(f"from fdlf_widgets import {cls};") \
                and settings != changed_from:
            drawn, expected = page.evaluate(DRAWN), _python_view(settings)
            if drawn == expected:
                return settings, drawn
            last = (settings, next(((k, t, dt, et) for k, (d, e) in enumerate(zip(drawn, expected)) if d != e
                                    for t, (dt, et) in enumerate(zip(d["data"], e["data"])) if dt != et), None))
        previous = settings
        time.sleep(1.0)
    raise AssertionError(f"the page never showed what Python computes for its settings; last seen: {last}")


def _open(p, url, tmp_path):
    browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
    context = browser.new_context(viewport={"width": 1400, "height": 1100})
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=url.rstrip("/"))
    page = context.new_page()
    errors = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
    page.on("requestfailed", lambda req: errors.append("request failed: " + req.url))
    page.goto(url, timeout=WAIT_S * 1000)
    page.wait_for_function(f"() => {{ const plots = {PLOTS}; return plots.length >= 2 && "
                           f"plots.every(el => el.data && el.data.length > 0); }}", timeout=WAIT_S * 1000)
    return browser, page, errors


def _press(page, description: str, key: str, times: int) -> None:
    """Move the slider labelled ``description`` by keyboard, as a user does."""
    handle = page.locator(".widget-slider", has_text=description).locator(".noUi-handle")
    handle.focus()
    for _ in range(times):
        handle.press(key)


def _check_page(page, errors, tmp_path, name):
    page.screenshot(path=str(tmp_path / f"{name}.png"), full_page=True)
    print(f"screenshot: {tmp_path / f'{name}.png'}")
    text = page.inner_text("body")
    assert "could not compute" not in text and "Traceback" not in text
    assert errors == [], errors


def _move_and_check(name, url, tmp_path, move):
    from playwright.sync_api import sync_playwright

    assert CHROMIUM is not None, "chromium is required in CI (apt-get install chromium)"
    with sync_playwright() as p:
        browser, page, errors = _open(p, url, tmp_path)
        try:
            before, drawn_before = _wait_until_page_matches_python(page, name)
            move(page)
            after, drawn_after = _wait_until_page_matches_python(page, name, changed_from=before)
            assert drawn_after != drawn_before, "the figures did not change"
            page.locator(".fdlf-copy-line button").click()  # "copy settings": the line on the clipboard
            page.wait_for_function("() => document.querySelector('.fdlf-copy-line button').textContent === 'copied'",
                                   timeout=10_000)
            assert page.evaluate("navigator.clipboard.readText()") == after
        finally:
            _check_page(page, errors, tmp_path, name)
            browser.close()
    return before, after


@pytest.mark.parametrize("name, description", [("gaussian", "noise sigma"), ("ising", "noise sigma")])
def test_a_slider_move_redraws_every_figure(name, description, tmp_path):
    with _serve(name, tmp_path) as url:
        before, after = _move_and_check(name, url, tmp_path, lambda page: _press(page, description, "ArrowRight", 4))
    assert "sigma=" in after and before.split("sigma=")[1] != after.split("sigma=")[1]


def test_a_click_on_the_response_heatmap_moves_the_probe(tmp_path):
    def click_upper_left(page):
        heatmap = page.locator(".js-plotly-plot").first.locator(".nsewdrag").first
        box = heatmap.bounding_box()  # the plot area: a 16 x 16 lattice, probe at (8, 8)
        page.mouse.click(box["x"] + 0.2 * box["width"], box["y"] + 0.3 * box["height"])

    with _serve("response", tmp_path) as url:
        before, after = _move_and_check("response", url, tmp_path, click_upper_left)
    kwargs = {k.arg: ast.literal_eval(k.value) for k in ast.parse(after.split("; ", 1)[1], mode="eval").body.keywords}
    assert "probe_row=8, probe_col=8" in before and (kwargs["probe_row"], kwargs["probe_col"]) == (4, 3)


def test_a_dropdown_choice_redraws_the_extrapolation_view(tmp_path):
    with _serve("extrapolation", tmp_path) as url:
        before, after = _move_and_check(
            "extrapolation", url, tmp_path,
            lambda page: page.locator(".widget-dropdown", has_text="R_eff").locator("select").select_option(label="8"))
    assert "R_eff=4" in before and "R_eff=8" in after
