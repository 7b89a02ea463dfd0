"""Floor-proxy + teacher statistics for one candidate. Usage: measure.py NAME FAMILY 'JSON overrides' [steps]"""
import json, sys, time, os, torch
torch.set_num_threads(1)
from fdlf_core import teachers, diagnostics
from fdlf_core.models import LocalCNN
from fdlf_core.training import fit_exact_score, TrainConfig

name, family, ov = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
steps = int(sys.argv[4]) if len(sys.argv) > 4 else 800
t = teachers.make(family, **ov)
row = {"kind": "floor", "name": name, "family": family, "overrides": ov, "steps": steps}
t0 = time.time()
# teacher statistics
for L in (16, 64):
    x = t.sample(8, L, generator=torch.Generator().manual_seed(10000))
    s = t.score(x)
    k0 = float((s.sum((1, 2)) ** 2 / L ** 2).sum() / (s ** 2).sum())
    row[f"k0_share_{L}"] = k0
    eps = 1e-4
    u = (t.score(x + eps) - t.score(x - eps)) / (2 * eps)   # response to a uniform shift
    row[f"P0_over_pbar_{L}"] = float(-u.mean() / (s ** 2).mean())
    row[f"mean_x_std_{L}"] = float(x.mean((1, 2)).std())
    row[f"x_std_{L}"] = float(x.std())
    site = (L // 2, L // 2)
    xr = x[:4]
    rows = t.response(xr, site)
    row[f"tail4_{L}"] = float(diagnostics.tail_fraction(rows, site, 4).mean())
    row[f"tail14_{L}"] = float(diagnostics.tail_fraction(rows, site, 14).mean())
    row[f"rowsum_over_abs_{L}"] = float((rows.sum((1, 2)).abs() / rows.abs().sum((1, 2))).mean())
model = LocalCNN(1, 32, seed=0)
res = fit_exact_score(t, model, TrainConfig(16, steps, 16, lr=1e-3), progress=False)
for L in (16, 32, 64):
    row[f"floor_{L}"] = diagnostics.score_rmse(model, t, L, n=8, seed=10000)
row["floor_ratio"] = row["floor_64"] / row["floor_16"]
row["wall_s"] = time.time() - t0
with open("/tmp/long_study/results.jsonl", "a") as f:
    f.write(json.dumps(row) + "\n")
print(json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()}))
