"""Fig. 2 role check: train at L=32 (batch 8), eval RMSE + far response at L=64 (n=4). Usage: fig2.py NAME 'ov' BLOCKS SEED"""
import json, sys, time, torch
torch.set_num_threads(1)
from fdlf_core import teachers, diagnostics
from fdlf_core.models import LocalCNN
from fdlf_core.training import train_dsm, TrainConfig
name, ov, B, s = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
t = teachers.make("complex_long", **ov); t0 = time.time()
m = LocalCNN(B, 32, seed=s)
train_dsm(t, m, TrainConfig(32, 1500, 8, weight_power=0.0, antithetic=True, seed=s), progress=False)
row = {"kind": "fig2", "name": name, "overrides": ov, "blocks": B, "R_eff": 2 * B + 2, "seed": s,
       "rmse_32": diagnostics.score_rmse(m, t, 32, n=4, seed=10000 + s),
       "rmse_64": diagnostics.score_rmse(m, t, 64, n=4, seed=10000 + s)}
r = diagnostics.response_errors(m, t, 64, n=4, seed=10000 + s); row["near_64"], row["far_64"] = r["near"], r["far"]
row["wall_s"] = time.time() - t0
open("/tmp/long_study/results.jsonl", "a").write(json.dumps(row) + "\n"); print(json.dumps(row))
