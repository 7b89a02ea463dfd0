"""Each explorer, and the tour, served by Voila on localhost and driven in Debian's chromium with Playwright
(``pages``): after a control moves, every plotly figure in the DOM must hold exactly the data and title that
the explorer computes in Python for the settings the page shows; after every action the page shows no
Python error and no broken widget, logs no console error and requests nothing off this machine; the "copy"
button puts the settings line on the clipboard; a button run leaves the sliders live and can be cancelled.

Without chromium the test is skipped, except in CI (``CI`` set), where that is a failure. Each server is
started and stopped by its test; every wait is bounded.
"""
import ast
import contextlib
import json
import os
import time

import pytest
import torch

import fdlf_widgets
from fdlf_widgets.base import interactive_threads
from pages import CHROMIUM, PLOTS, WAIT_S, broken_widgets, open_page, press, serve, settings_line, wait_for_settings

if CHROMIUM is None and not os.environ.get("CI"):
    pytest.skip("chromium is not installed (apt-get install chromium); CI installs it", allow_module_level=True)

DRAWN = f"() => {PLOTS}.map(el => ({{title: el.layout.title && el.layout.title.text, data: (el.data || []).map(" \
        "t => ({x: t.x === undefined ? null : t.x, y: t.y === undefined ? null : t.y, z: t.z === undefined ? null : t.z}))}))"


def _python_view(settings: str) -> list[dict]:
    """What the explorer draws in Python for the page's settings line ``from fdlf_widgets import X; X(k=v, ...)``
    (parsed, not executed: the keyword values must be literals), at the page kernel's torch thread count (a
    sum's rounding depends on how many threads share it)."""
    call = ast.parse(settings.split("; ", 1)[1], mode="eval").body
    for module in (fdlf_widgets.ising, fdlf_widgets.response, fdlf_widgets.hardvalid):  # results cached by earlier tests at another
        for cached in vars(module).values():                    # thread count would differ in the last bits
            if hasattr(cached, "cache_clear"):
                cached.cache_clear()
    threads = torch.get_num_threads()
    torch.set_num_threads(interactive_threads())
    try:
        explorer = getattr(fdlf_widgets, call.func.id)(**{k.arg: ast.literal_eval(k.value) for k in call.keywords})
    finally:
        torch.set_num_threads(threads)
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


def _check_page(page, errors, offsite, tmp_path, name):
    """What every page must hold after every action: no Python error shown, no broken widget, no console
    error (beyond pages.KNOWN_CONSOLE_ERRORS), no request off this machine."""
    page.screenshot(path=str(tmp_path / f"{name}.png"), full_page=True)
    print(f"screenshot: {tmp_path / f'{name}.png'}")
    text = page.inner_text("body")
    assert "could not compute" not in text and "Traceback" not in text
    assert broken_widgets(page) == []
    assert errors == [], errors
    assert offsite == [], offsite


def _move_and_check(name, url, tmp_path, move):
    from playwright.sync_api import sync_playwright

    assert CHROMIUM is not None, "chromium is required in CI (apt-get install chromium)"
    with sync_playwright() as p:
        browser, page, errors, offsite = open_page(p, url)
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
            _check_page(page, errors, offsite, tmp_path, name)
            browser.close()
    return before, after


@pytest.mark.parametrize("name, description", [("gaussian", "noise sigma"), ("ising", "noise sigma")])
def test_a_slider_move_redraws_every_figure(name, description, tmp_path):
    with serve(name, tmp_path) as url:
        before, after = _move_and_check(name, url, tmp_path, lambda page: press(page, description, "ArrowRight", 4))
    assert "sigma=" in after and before.split("sigma=")[1] != after.split("sigma=")[1]


def test_a_click_on_the_response_heatmap_moves_the_probe(tmp_path):
    def click_upper_left(page):
        heatmap = page.locator(".js-plotly-plot").first.locator(".nsewdrag").first
        box = heatmap.bounding_box()  # the plot area: a 16 x 16 lattice, probe at (8, 8)
        page.mouse.click(box["x"] + 0.2 * box["width"], box["y"] + 0.3 * box["height"])

    with serve("response", tmp_path) as url:
        before, after = _move_and_check("response", url, tmp_path, click_upper_left)
    kwargs = {k.arg: ast.literal_eval(k.value) for k in ast.parse(after.split("; ", 1)[1], mode="eval").body.keywords}
    assert "probe_row=8, probe_col=8" in before and (kwargs["probe_row"], kwargs["probe_col"]) == (4, 3)


def test_a_dropdown_choice_redraws_the_extrapolation_view(tmp_path):
    with serve("extrapolation", tmp_path) as url:
        before, after = _move_and_check(
            "extrapolation", url, tmp_path,
            lambda page: page.locator(".widget-dropdown", has_text="R_eff").locator("select").select_option(label="8"))
    assert "R_eff=4" in before and "R_eff=8" in after


def _page(name, tmp_path, n_plots=2, plain=False):
    """serve + open_page + the end-of-test checks, for the tests below."""
    from playwright.sync_api import sync_playwright

    assert CHROMIUM is not None, "chromium is required in CI (apt-get install chromium)"

    @contextlib.contextmanager
    def opened():
        with serve(name, tmp_path, plain) as url, sync_playwright() as p:
            browser, page, errors, offsite = open_page(p, url, n_plots)
            try:
                yield page
            finally:
                _check_page(page, errors, offsite, tmp_path, name)
                browser.close()
    return opened()


def test_the_hard_valid_view_redraws_its_3d_sample_and_response(tmp_path):
    with serve("hardvalid", tmp_path) as url:
        before, after = _move_and_check(
            "hardvalid", url, tmp_path,
            lambda page: page.locator(".widget-dropdown", has_text="teacher").locator("select").select_option(
                label="hv_local"))
    assert "family='hv_long'" in before and "family='hv_local'" in after


def test_the_generation_view_generates_and_walks_the_reverse_process(tmp_path):
    # the committed paper-profile Table 5 model of simple_local (seed 0) generates; what the button computes is
    # cached in the page's kernel only, so after the click the page is checked for its own consistency
    with _page("generation", tmp_path) as page:
        _wait_until_page_matches_python(page, "generation")
        for label, option in (("teacher", "simple_local"), ("generation L", "16"), ("sampler", "ode")):
            page.locator(".widget-dropdown", has_text=label).locator("select").select_option(label=option)
        settings, _ = _wait_until_page_matches_python(page, "generation")
        assert "family='simple_local', profile='paper', L=16, sampler='ode'" in settings
        page.locator("button", has_text="generate").click()
        page.wait_for_function("() => document.body.innerText.includes('local-observable MAE')", timeout=WAIT_S * 1000)
        page.locator("button", has_text="Cancel").wait_for(state="hidden", timeout=30_000)
        drawn = page.evaluate(DRAWN)
        assert [len(t["z"]) for t in drawn[0]["data"]] == [16, 16]  # teacher | generated
        assert [len(t["y"]) for t in drawn[1]["data"]] == [10, 10]  # each observable: generated, teacher vs teacher
        final = drawn[0]["data"][1]["z"]
        press(page, "reverse-process frame", "ArrowLeft", 8)
        page.wait_for_function("() => document.body.innerText.includes('frame 0: sigma=80')", timeout=WAIT_S * 1000)
        noise = page.evaluate(DRAWN)[0]["data"][1]["z"]
        assert noise != final and max(max(abs(v) for v in row) for row in noise) > 50  # N(0, 80^2) at the start
        assert broken_widgets(page) == []


def test_a_button_run_leaves_the_sliders_live_and_cancel_stops_it(tmp_path):
    with _page("response", tmp_path) as page:
        _wait_until_page_matches_python(page, "response")
        press(page, "noise sigma", "ArrowRight", 10)
        wait_for_settings(page, "sigma=0.5", WAIT_S)
        button = page.locator("button", has_text="compute smoothed response")
        page.wait_for_function("() => Array.from(document.querySelectorAll('button')).some(b => "
                               "b.textContent.startsWith('compute smoothed response') && b.textContent.includes('about'))",
                               timeout=WAIT_S * 1000)  # the time it will take, measured, before the click
        button.click()
        cancel = page.locator("button", has_text="Cancel")
        cancel.wait_for(state="visible", timeout=WAIT_S * 1000)
        page.wait_for_function("() => document.body.innerText.includes('left')", timeout=WAIT_S * 1000)
        assert button.is_disabled()
        latencies = []
        for R in range(5, 10):  # slider moves while MALA runs: each lands within a second
            press(page, "model R_eff", "ArrowRight")
            latencies.append(wait_for_settings(page, f"R_eff={R}", WAIT_S))
        print("R_eff latencies during a run (s):", [round(t, 3) for t in latencies])
        assert max(latencies) < 1.0, latencies
        settings, _ = _wait_until_page_matches_python(page, "response")  # the figures are right meanwhile
        assert "R_eff=9" in settings and cancel.is_visible() and "computing MALA" in page.inner_text("body")
        cancel.click()
        cancel.wait_for(state="hidden", timeout=30_000)
        page.wait_for_function("() => document.body.innerText.includes('(cancelled: MALA at sigma=0.5')",
                               timeout=30_000)
        assert not button.is_disabled() and "computing MALA" not in page.inner_text("body")


def test_a_finished_button_run_leaves_no_broken_widget(tmp_path):
    with _page("ising", tmp_path) as page:
        _wait_until_page_matches_python(page, "ising")
        page.locator("button", has_text="sample the response").click()
        page.wait_for_function("() => document.body.innerText.includes('sampled at L=32')", timeout=300_000)
        page.locator("button", has_text="Cancel").wait_for(state="hidden", timeout=30_000)
        sampled = page.evaluate(f"() => {PLOTS}[0].data.slice(2).map(t => t.x.length)")
        assert sum(sampled) == 16  # the Wolff estimate at r = 1..16 drawn (resolved or as upper bounds)
        assert broken_widgets(page) == []


def test_the_receptive_square_wraps_when_R_eff_passes_half_the_lattice(tmp_path):
    with _page("gaussian", tmp_path) as page:
        _wait_until_page_matches_python(page, "gaussian")
        page.locator(".widget-dropdown", has_text="L").locator("select").select_option(label="16")
        wait_for_settings(page, "L=16", WAIT_S)
        press(page, "model R_eff", "ArrowRight", 6)  # 4 -> 10 > L/2
        settings, _ = _wait_until_page_matches_python(page, "gaussian")
        assert "L=16, R_eff=10" in settings
        layout = page.evaluate(f"() => {{ const el = {PLOTS}[0]; return {{x: el.layout.xaxis.range, "
                               f"y: el.layout.yaxis.range, shapes: el.layout.shapes}}; }}")
        # the lattice fills the plot, centred (plotly may pad the rows to keep cells square), never stretched
        # toward a square drawn past its edge (which put the lattice in a corner)
        assert layout["x"] == [-0.5, 15.5] and sum(layout["y"]) / 2 == pytest.approx(7.5)
        assert layout["y"][0] >= 15.5 and layout["y"][0] - layout["y"][1] < 1.6 * 16
        assert [(s["x0"], s["x1"], s["y0"], s["y1"]) for s in layout["shapes"]] == [(-0.5, 15.5, -0.5, 15.5)]


def test_the_tour_is_a_live_offline_page(tmp_path):
    """Served by plain `voila notebooks/00_tour.ipynb` (the installed template is Voila's default here);
    `fdlf explore` serves the same page with the template named (the other tests)."""
    with _page("tour", tmp_path, n_plots=30, plain=True) as page:
        text = page.inner_text("body")
        assert "On a live page" in text and "Run all cells in JupyterLab" not in text
        assert page.locator(".fdlf-copy-line").count() == 12  # two of each explorer
        before, second = settings_line(page, 0), settings_line(page, 1)
        press(page, "noise sigma", "ArrowRight", 2)  # the first Gaussian explorer's slider is live
        wait_for_settings(page, "sigma=0.1", WAIT_S)
        assert settings_line(page, 0) != before and settings_line(page, 1) == second  # and only it moved
