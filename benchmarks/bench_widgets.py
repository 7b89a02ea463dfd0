"""How live the explorers feel: kernel-side update time (compute + figure update) per control.

Drives each explorer's update headlessly, exactly as a control change does (``Explorer.set``), cycling
each control through a few values, and prints the median and p95 per control. The update includes
serialising each figure for the page (``Plot.draw``). Targets (issue 6): median <= 50 ms at L=32 and
<= 150 ms at L=64 for the exact heatmaps and tail curves. The MALA and train-now buttons are not timed
here: they are behind buttons with progress bars because they take about a minute.

    python benchmarks/bench_widgets.py [--repeats 15]
"""
from __future__ import annotations

import argparse
import statistics

import torch

from fdlf_widgets import ExtrapolationExplorer, GaussianExplorer, IsingExplorer, ResponseExplorer

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=16, help="updates per control")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; update = compute + figure update + JSON")
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


if __name__ == "__main__":
    main()
