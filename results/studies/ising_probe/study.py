"""Why does Fig. 4's learned response fall furthest below the exact one at the *smallest* sigma?

Two candidate causes, separated on a lattice small enough (L = 4, 65,536 states) that the smoothed score
and its Jacobian are exact at *every* noisy input y (``ising.response``), and where the R = 5 model's
receptive field covers the whole torus (so locality cannot be the cause):

* training falls short at small sigma: then the learned Jacobian is wrong at typical noisy inputs too;
* the probe point is off the training distribution: Eq. 22 probes y = 0, which at small sigma no training
  input comes near (every site of y = x + sigma eps sits near +-1); then the Jacobian is right at typical
  y and wrong only at y = 0.

One run per (recipe, seed): DSM on a Wolff pool exactly as Fig. 4 trains (``IsingData``, R = 5,
1500 steps, batch 16, sigma in [0.25, 8]). Per evaluation sigma, all norms being of the Jacobian row
of site (0, 0) without its diagonal entry: learned / exact at y = 0 along the axis (d = 1, 2) and
|learned - exact| / |exact| at y = 0; over 64 typical y = x + sigma eps (x from the pool) the median of
|learned(y) - exact(y)| / |exact(0)| (the error where the data are, on the probe's scale) and of
|exact(y)| / |exact(0)|; and the fraction of those typical y whose exact log p_sigma(y) is below that of
y = 0 (0: y = 0 is rarer than every typical input). Appends JSON lines to results.jsonl.
"""
import argparse, json
import torch
from fdlf_core import provenance
from fdlf_core.ising import BETA_C, IsingData, IsingPoolConfig, learned_response
from fdlf_core.ising.response import posterior_covariance, smoothed_log_density
from fdlf_core.models import LocalCNN
from fdlf_core.training import TrainConfig, train_dsm

SIGMAS = (0.5, 1.0, 2.0, 4.0)
RECIPES = {"original": ({}, {}, 32),
           "fdlf": ({"weight_power": 0.0, "antithetic": True}, {"zero_init": True, "linear_path": True}, 32),
           "fdlf_sigma2": ({"weight_power": 2.0, "antithetic": True}, {"zero_init": True, "linear_path": True}, 32),
           "fdlf_w64": ({"weight_power": 0.0, "antithetic": True}, {"zero_init": True, "linear_path": True}, 64)}
L, R, N_TYPICAL = 4, 5, 64

p = argparse.ArgumentParser()
p.add_argument("--recipe", choices=RECIPES, default="fdlf")
p.add_argument("--seed", type=int, default=0)
p.add_argument("--beta_ratio", type=float, default=0.99)
p.add_argument("--steps", type=int, default=1500)
a = p.parse_args()
torch.set_num_threads(1)

beta = a.beta_ratio * BETA_C
data = IsingData(IsingPoolConfig(L, beta, 4000), progress=False)
train_opts, model_opts, width = RECIPES[a.recipe]
model = LocalCNN.from_radius(R, width, seed=a.seed, **model_opts)
cfg = TrainConfig(L, a.steps, 16, 5e-4, 0.25, 8.0, a.seed, **train_opts)
res = train_dsm(data, model, cfg, progress=False)


def rows(y: torch.Tensor, sigma: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Learned and exact Jacobian rows of site (0, 0) at y (L, L), each (L*L,) without the diagonal."""
    yl = y[None].to(torch.float32).requires_grad_(True)
    learned, = torch.autograd.grad(res.model(yl, sigma)[0, 0, 0], yl)
    exact = posterior_covariance(y, beta, sigma)[0] / sigma ** 4
    return learned.reshape(-1)[1:].to(torch.float64), exact[1:]


gen = torch.Generator().manual_seed(10_000 + a.seed)
by_sigma = {}
for sigma in SIGMAS:
    zero = torch.zeros(L, L, dtype=torch.float64)
    g = learned_response(res.model, sigma, L)
    exact0 = posterior_covariance(zero, beta, sigma)[0].reshape(L, L) / sigma ** 4
    axis = lambda m, d: float(m[0, d] + m[d, 0] + m[0, -d] + m[-d, 0]) / 4
    l0, e0 = rows(zero, sigma)
    x = data.sample(N_TYPICAL, L, gen)
    ys = x + sigma * torch.randn(x.shape, generator=gen, dtype=torch.float64)
    errs, norms = [], []
    for y in ys:
        lt, et = rows(y, sigma)
        errs.append(float((lt - et).norm() / e0.norm()))
        norms.append(float(et.norm() / e0.norm()))
    logp = torch.stack([smoothed_log_density(y, beta, sigma) for y in ys])
    by_sigma[sigma] = {
        "zero_ratio_d1": axis(g, 1) / axis(exact0, 1), "zero_ratio_d2": axis(g, 2) / axis(exact0, 2),
        "zero_rel_err": float((l0 - e0).norm() / e0.norm()),
        "typical_err_vs_zero": float(torch.tensor(errs).median()),
        "typical_exact_vs_zero": float(torch.tensor(norms).median()),
        "zero_logp_rank": float((logp < smoothed_log_density(zero, beta, sigma)).double().mean()),
    }
row = {"recipe": a.recipe, "seed": a.seed, "beta_ratio": a.beta_ratio, "steps": a.steps, "L": L, "R": R,
       "width": width, "train_wall_s": res.wall_s, "by_sigma": by_sigma,
       "git": provenance.provenance().get("git_revision")}
with open(__file__.replace("study.py", "results.jsonl"), "a") as f:
    f.write(json.dumps(row) + "\n")
print(json.dumps(row, indent=1))
