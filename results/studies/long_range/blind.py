"""Stress-blind oracle: error of the no-stress teacher's exact score on stressed samples, + offset stats."""
import json, sys, torch
torch.set_num_threads(1)
from fdlf_core import teachers
ov = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
t = teachers.make("complex_long", **ov); t0 = teachers.make("complex_long", **{**ov, "gamma_scale": 0.0})
out = {"overrides": ov}
for L in (16, 32, 64):
    x = t.sample(8, L, generator=torch.Generator().manual_seed(10000))
    s = t.score(x); s0 = t0.score(x)
    out[f"blind_{L}"] = round(float(((s - s0) ** 2).sum().sqrt() / (s ** 2).sum().sqrt()), 4)
    # oracle that knows c-rule and uses the true offset shift: s0 at (x - b)
    out[f"pbar_{L}"] = round(float((s ** 2).mean()), 3)
    out[f"meanx_{L}"] = round(float(x.mean((1, 2)).std()), 3)
print(json.dumps(out))
