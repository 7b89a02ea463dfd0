"""How live the explorers feel: kernel-side update time (compute + figure update) per control.

Drives each explorer's update headlessly, exactly as a slider move does (``Explorer.set``), cycling each
control through a few values, and prints the median and p95 per control. Targets (issue 6): median <= 50 ms
at L=32 and <= 150 ms at L=64 for the exact heatmaps and tail curves.

    python benchmarks/bench_widgets.py [--repeats 15]
"""
from __future__ import annotations

import argparse
import statistics

import torch

from fdlf_widgets import GaussianExplorer, IsingExplorer

# control -> values cycled through (a revisit hits the explorers' caches, as a user going back would)
CASES = {
    "gaussian": (GaussianExplorer, [{"L": 32}, {"L": 64}],
                 {"kappa": [0.05, 0.3, 1.0, 3.0], "sigma": [0.0, 0.5, 2.0, 6.0], "R_eff": [2, 4, 8, 12]}),
    "ising": (IsingExplorer, [{"L": 8}],
              {"beta_ratio": [0.8, 0.9, 0.95, 0.99, 1.05], "sigma": [0.5, 1.0, 2.0, 4.0], "R_eff": [2, 4, 6, 8],
               "seed": [0, 1, 2, 3]}),
}


def time_control(explorer, name: str, values: list, repeats: int) -> list[float]:
    times = []
    for k in range(repeats):
        explorer.set(**{name: values[k % len(values)]})
        times.append(explorer.last_update_s)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15, help="updates per control")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; update = compute + FigureWidget update")
    print(f"{'explorer':<10} {'setting':<10} {'control':<11} {'first ms':>9} {'median ms':>10} {'p95 ms':>8}")
    for label, (cls, settings, controls) in CASES.items():
        for setting in settings:
            explorer = cls(**setting)
            for name, values in controls.items():
                times = [1e3 * t for t in time_control(explorer, name, values, args.repeats)]
                p95 = sorted(times)[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
                tag = ",".join(f"{k}={v}" for k, v in setting.items())
                print(f"{label:<10} {tag:<10} {name:<11} {times[0]:>9.1f} {statistics.median(times):>10.1f} {p95:>8.1f}")


if __name__ == "__main__":
    main()
