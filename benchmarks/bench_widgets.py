"""How live the explorers feel: kernel-side update time (compute + figure update) per control.

Drives each explorer's update headlessly, exactly as a control change does (``Explorer.set``), cycling
each control through a few values, and prints the median and p95 per control. The update includes
serialising each figure for the page (``Plot.draw``). Targets (issue 6): median <= 50 ms at L=32 and
<= 150 ms at L=64 for the exact heatmaps and tail curves. The MALA and train-now buttons are not timed
here: they run in the background, and each shows its own measured estimate.

With ``--browser``, the same in the page (issue 16: median <= 150 ms on a quiet machine): each explorer served
by Voila as `fdlf explore` does, driven in chromium (tests/browser/pages.py); a key press on a slider, then
in the page's clock the time until the settings line changes (the kernel's refresh has landed: every figure's
data is in the page by then) and until the last figure has been redrawn by plotly.js.

    python benchmarks/bench_widgets.py [--repeats 15] [--browser]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from fdlf_widgets import ExtrapolationExplorer, GaussianExplorer, IsingExplorer, ResponseExplorer
from fdlf_widgets.base import interactive_threads

# control -> values cycled through (a revisit hits the explorers' caches, as a user going back would)
CASES = {
    "gaussian": (GaussianExplorer, [{"L": 32}, {"L": 64}],
                 {"kappa": [0.05, 0.3, 1.0, 3.0], "sigma": [0.0, 0.5, 2.0, 6.0], "R_eff": [2, 4, 8, 12]}),
    "ising": (IsingExplorer, [{"L": 8}],
              {"beta_ratio": [0.8, 0.9, 0.95, 0.99, 1.05], "sigma": [0.5, 1.0, 2.0, 4.0], "R_eff": [2, 4, 6, 8],
               "seed": [0, 1, 2, 3]}),
    "response": (ResponseExplorer, [{"L": 16}, {"L": 32}, {"L": 64}],
                 {"cutoff": [2, 4, 6, 8], "power": [-2.0, -1.0, -0.5, 0.0], "seed": [0, 1, 2, 3],
                  "probe_row": [3, 7, 11, 15], "R_eff": [2, 4, 8, 12]}),
    "extrap": (ExtrapolationExplorer, [{"profile": "paper"}],
               {"family": ["simple_local", "medium_range", "complex_long"], "R_eff": [4, 8, 14]}),
}


def time_control(explorer, name: str, values: list, repeats: int) -> list[float]:
    """Seconds per update as ``name`` cycles through ``values``: the first pass visits each value for the
    first time (cold: nothing cached), later passes revisit them (warm: the explorers' caches hit)."""
    times = []
    for k in range(repeats):
        explorer.set(**{name: values[k % len(values)]})
        times.append(explorer.last_update_s)
    return times


# explorer -> (slider label, key, settings-line fragment after k presses from the default)
BROWSER_CASES = {
    "gaussian": ("noise sigma", "ArrowRight", lambda k: f"sigma={1.0 + 0.05 * k:.2f}".rstrip("0")),
    "response": ("model R_eff", "ArrowRight", lambda k: f"R_eff={4 + k},"),
    "ising": ("model R_eff", "ArrowRight", lambda k: f"R_eff={5 + k},"),
}

# in the page: a key press starts the clock; the settings line changing and each plotly redraw stop it
PAGE_CLOCK = """() => {
  window.__fdlf = {t0: null, settings: [], drawn: []};
  document.addEventListener('keydown', () => { window.__fdlf.t0 = performance.now(); }, true);
  const code = document.querySelector('.fdlf-copy-line code');
  new MutationObserver(() => { const f = window.__fdlf; if (f.t0 !== null) f.settings.push(performance.now() - f.t0); })
    .observe(code, {childList: true, characterData: true, subtree: true});
  document.querySelectorAll('.js-plotly-plot').forEach(el => el.on('plotly_afterplot', () => {
    const f = window.__fdlf; if (f.t0 !== null) f.drawn.push(performance.now() - f.t0); }));
}"""


def _quantiles(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def browser_latency(repeats: int) -> None:
    """Input -> DOM latency per explorer, measured in chromium (see the module docstring)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "browser"))
    from pages import CHROMIUM, open_page, press, wait_for_settings, serve
    from playwright.sync_api import sync_playwright

    if CHROMIUM is None:
        raise SystemExit("chromium is not installed (apt-get install chromium)")
    print(f"\nin the browser (chromium, Voila): key press -> settings line / last figure redrawn, {repeats} moves")
    print(f"{'explorer':<10} {'slider':<12} {'DOM med ms':>10} {'p95':>6} {'drawn med ms':>12} {'p95':>6} {'redraws':>8}")
    with tempfile.TemporaryDirectory() as logs, sync_playwright() as p:
        for name, (label, key, expected) in BROWSER_CASES.items():
            with serve(name, Path(logs)) as url:
                browser, page, _, _ = open_page(p, url)
                try:
                    time.sleep(3)  # the page's first draws and the buttons' timing runs settle
                    page.evaluate(PAGE_CLOCK)
                    dom, drawn, redraws = [], [], []
                    for k in range(1, repeats + 1):
                        page.evaluate("() => { window.__fdlf.settings = []; window.__fdlf.drawn = []; }")
                        press(page, label, key)
                        wait_for_settings(page, expected(k), 60)
                        time.sleep(0.4)  # the redraws that follow the settings line
                        clock = page.evaluate("() => window.__fdlf")
                        dom.append(clock["settings"][0])
                        drawn.append(max(clock["drawn"] + clock["settings"][:1]))
                        redraws.append(len(clock["drawn"]))
                finally:
                    browser.close()
            (dm, dp), (rm, rp) = _quantiles(dom), _quantiles(drawn)
            print(f"{name:<10} {label:<12} {dm:>10.0f} {dp:>6.0f} {rm:>12.0f} {rp:>6.0f} {statistics.median(redraws):>8.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=16, help="updates per control")
    parser.add_argument("--browser", action="store_true", help="also measure the latency in chromium")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {interactive_threads()} thread(s) (what an explorer sets); "
          f"update = compute + figure update + JSON")
    print("cold: first visit of each value; warm: revisits (caches hit); all: median and p95 of every update")
    print(f"{'explorer':<10} {'setting':<14} {'control':<11} {'cold ms':>8} {'warm ms':>8} {'all ms':>7} {'p95 ms':>7}")
    for label, (cls, settings, controls) in CASES.items():
        for setting in settings:
            explorer = cls(**setting)
            for name, values in controls.items():
                times = [1e3 * t for t in time_control(explorer, name, values, args.repeats)]
                cold, warm = times[:len(values)], times[len(values):]
                p95 = sorted(times)[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
                tag = ",".join(f"{k}={v}" for k, v in setting.items())
                print(f"{label:<10} {tag:<14} {name:<11} {statistics.median(cold):>8.1f} "
                      f"{statistics.median(warm):>8.1f} {statistics.median(times):>7.1f} {p95:>7.1f}")
    if args.browser:
        browser_latency(min(args.repeats, 10))


if __name__ == "__main__":
    main()
