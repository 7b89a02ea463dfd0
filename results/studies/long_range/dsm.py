"""Fig. 1 protocol (improved recipe) for one candidate and seed. Usage: dsm.py NAME FAMILY 'JSON overrides' SEED [Ltrain]"""
import json, sys, time, torch
torch.set_num_threads(1)
from fdlf_core import teachers, diagnostics
from fdlf_core.models import LocalCNN
from fdlf_core.training import train_dsm, TrainConfig

name, family, ov, s = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), int(sys.argv[4])
t = teachers.make(family, **ov)
t0 = time.time()
model = LocalCNN(1, 32, seed=s)
train_dsm(t, model, TrainConfig(16, 1500, 16, weight_power=0.0, antithetic=True, seed=s), progress=False)
row = {"kind": "dsm", "name": name, "family": family, "overrides": ov, "seed": s, "train_s": time.time() - t0}
for L in (16, 32, 48, 64):
    row[f"rmse_{L}"] = diagnostics.score_rmse(model, t, L, n=8, seed=10000 + s)
    r = diagnostics.response_errors(model, t, L, n=8, seed=10000 + s)
    row[f"near_{L}"], row[f"far_{L}"] = r["near"], r["far"]
row["ratio"] = row["rmse_64"] / row["rmse_16"]
row["wall_s"] = time.time() - t0
with open("/tmp/long_study/results.jsonl", "a") as f:
    f.write(json.dumps(row) + "\n")
print(json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()}))
