"""Prints README.md's tables from results.jsonl: means over seeds per (beta/beta_c, recipe) and sigma."""
import collections, json, statistics
from pathlib import Path

rows = [json.loads(line) for line in (Path(__file__).parent / "results.jsonl").read_text().splitlines()]
groups = collections.defaultdict(list)
for r in rows:
    groups[(r["beta_ratio"], r["recipe"])].append(r)
sigmas = list(rows[0]["by_sigma"])
COLUMNS = {"zero_ratio_d1": "learned / exact at y=0, d=1", "zero_rel_err": "error at y=0",
           "typical_err_vs_zero": "error at typical y", "typical_exact_vs_zero": "exact response at typical y"}
print("| beta/beta_c | recipe | seeds | train s | quantity | " + " | ".join(f"sigma={s}" for s in sigmas) + " |")
print("|---|---|---|---|---|" + "---|" * len(sigmas))
for (beta, recipe), rs in sorted(groups.items(), key=lambda kv: (-kv[0][0], kv[0][1])):
    wall = statistics.median(r["train_wall_s"] for r in rs)
    for key, label in COLUMNS.items():
        vals = [statistics.mean(r["by_sigma"][s][key] for r in rs) for s in sigmas]
        print(f"| {beta} | {recipe} | {len(rs)} | {wall:.0f} | {label} | " + " | ".join(f"{v:.3g}" for v in vals) + " |")
