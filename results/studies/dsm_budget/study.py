"""Is DSM's gap to the locality floor at R_eff 8 / 14 a budget (gradient-noise) gap or a bias?

One run per command line: family, blocks, steps, seed, noise draws per sample (k), antithetic, weight power.
Appends a JSON line to results.jsonl: score RMSE at L=32 / 64 (eval seed 10000, n=8) at sigma_min, and the
RMSE of s_theta(x, sigma) against the clean score for sigma in SIGMAS (does the model's sigma_min output
lag its output a little above sigma_min?), plus the wall time.
"""
import argparse, json, time, dataclasses
import torch
from fdlf_core import teachers, training, diagnostics, provenance
from fdlf_core.models import LocalCNN

SIGMAS = [0.005, 0.01, 0.02, 0.05, 0.1]

p = argparse.ArgumentParser()
p.add_argument("--family", default="medium_range")
p.add_argument("--blocks", type=int, default=3)
p.add_argument("--steps", type=int, default=1500)
p.add_argument("--batch", type=int, default=8)
p.add_argument("--seed", type=int, default=0)
p.add_argument("--k", type=int, default=1, help="noise draws per clean sample (batch of x0 repeated k times)")
p.add_argument("--anti", type=int, default=1)
p.add_argument("--wpow", type=float, default=0.0)
p.add_argument("--lr", type=float, default=5e-4)
p.add_argument("--schedule", default="constant")
p.add_argument("--sigma_max", type=float, default=1.0)
p.add_argument("--floor", type=int, default=0, help="fit_exact_score instead of DSM")
p.add_argument("--zero_init", type=int, default=0, help="zero the output conv and each block's second conv")
p.add_argument("--width", type=int, default=32)
p.add_argument("--linear", type=int, default=0, help="add a linear radius-R_eff conv path x -> s (zero init)")
p.add_argument("--tag", default="")
a = p.parse_args()
torch.set_num_threads(1)

teacher = teachers.make(a.family)


class Repeat:
    """The teacher, each sample repeated k times (k noise draws per clean sample, same data budget)."""
    def __init__(self, t, k):
        self.t, self.k, self.config = t, k, t.config
    def sample(self, n, L, generator=None):
        x = self.t.sample(n // self.k, L, generator=generator)
        return x.repeat_interleave(self.k, dim=0)


model = LocalCNN(blocks=a.blocks, width=a.width, seed=a.seed)
if a.zero_init:
    with torch.no_grad():
        for conv in [model.conv_out] + [pair[1] for pair in model.block_convs]:
            conv.weight.zero_(); conv.bias.zero_()
cfg = training.TrainConfig(L=32, steps=a.steps, batch_size=a.batch * a.k, lr=a.lr, seed=a.seed, sigma_max=a.sigma_max,
                           weight_power=a.wpow, antithetic=bool(a.anti), schedule=a.schedule,
                           warmup=0.05 if a.schedule == "cosine" else 0.0)
if a.linear:
    from fdlf_core.flows import circular_conv

    class WithLinear(torch.nn.Module):
        def __init__(self, cnn):
            super().__init__()
            self.cnn = cnn
            R = cnn.receptive_radius
            self.K = torch.nn.Parameter(torch.zeros(1, 1, 2 * R + 1, 2 * R + 1))
            self.receptive_radius = R

        def forward(self, x, sigma):
            out = self.cnn(x, sigma)
            sig = torch.as_tensor(sigma, dtype=torch.float32).reshape(-1, 1, 1).expand(x.shape[0], 1, 1)
            c2 = 1.0 / (sig ** 2 + 1.0)
            return out + c2 * circular_conv(x.to(torch.float32)[:, None], self.K)[:, 0]
    model = WithLinear(model)
if a.floor:
    res = training.fit_exact_score(teacher, model, cfg, progress=False)
else:
    res = training.train_dsm(Repeat(teacher, a.k), model, cfg, progress=False)
row = dict(vars(a), R_eff=model.receptive_radius, wall_s=res.wall_s,
           rmse_L32=diagnostics.score_rmse(model, teacher, 32, n=8, seed=10000),
           rmse_L64=diagnostics.score_rmse(model, teacher, 64, n=8, seed=10000),
           by_sigma={s: diagnostics.score_rmse(model, teacher, 64, n=8, seed=10000, sigma=s) for s in SIGMAS},
           loss_last100=sum(res.losses[-100:]) / 100, git=provenance.provenance().get("git_revision"))
with open(__file__.replace("study.py", "results.jsonl"), "a") as f:
    f.write(json.dumps(row) + "\n")
print(json.dumps(row))
