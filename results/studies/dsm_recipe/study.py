"""DSM recipe study for fdlf (Fig. 2 protocol): variant training function + supervised floor.

Reference implementation to port into ``fdlf_core.training``. Everything stays DSM: the teacher's exact score
is used only in ``train_floor`` (the supervised reference) and in evaluation (``score_rmse``).

Randomness: teacher samples come from ``Generator(seed)`` (the data stream), sigma / eps from
``Generator(seed + 7919)`` (the noise stream), so every recipe with the same seed sees the same x0 sequence
(common random numbers). The model initialisation comes from ``LocalCNN(seed=seed)``, as in fdlf_core.

Switches (``Recipe``):
  antithetic  -- each (x0, sigma, eps) is used as both x0 + sigma eps and x0 - sigma eps (2x forward/backward).
  dup2        -- control for antithetic: a second *independent* eps with the same x0, sigma (same 2x cost).
  ema         -- EMA decays tracked during training; each is evaluated (``raw`` = the trained weights).
  sched       -- "const" (baseline) or "cos": linear warm-up over ``warmup`` steps, then cosine decay to 0.
  sigma_dist  -- "logu" (log-uniform, baseline), "mix" (prob ``mix_p`` log-uniform on [sigma_min, mix_hi],
                 else log-uniform on [sigma_min, sigma_max]), "lognormal" (EDM ln sigma ~ N(P_mean, P_std),
                 redrawn until inside [sigma_min, sigma_max]).
  wpow        -- per-sample loss weight sigma^-wpow on top of the sigma^2-weighted residual
                 (0 = baseline sigma^2 weighting, 2 = unit score weighting |s + eps/sigma|^2).
  clip        -- gradient-norm clip (0 = off); betas -- Adam betas.
"""
from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import math
import time
from dataclasses import dataclass, field

import torch

from fdlf_core import teachers
from fdlf_core.diagnostics import score_rmse, SIGMA_EVAL
from fdlf_core.models import LocalCNN
from fdlf_core.training import sample_sigma

RESULTS = "/tmp/dsm_study/results.jsonl"
EVAL_SEED = 10000
EVAL_SIZES = (32, 64)


@dataclass(frozen=True)
class Recipe:
    antithetic: bool = False
    dup2: bool = False
    ema: tuple = ()                 # e.g. (0.999, 0.995)
    ema_kind: str = "bc"            # bc (bias-corrected) | warm (rows without this field used "warm")
    sched: str = "const"            # const | cos
    warmup: int = 0
    sigma_dist: str = "logu"        # logu | mix | lognormal
    mix_p: float = 0.3
    mix_hi: float = 0.05
    p_mean: float = -1.2
    p_std: float = 1.2
    wpow: float = 0.0
    clip: float = 0.0
    betas: tuple = (0.9, 0.999)
    lr: float = 5e-4
    steps: int = 1500
    batch_size: int = 8
    L: int = 32
    sigma_min: float = 0.005
    sigma_max: float = 1.0


def draw_sigma(r: Recipe, n: int, gen: torch.Generator) -> torch.Tensor:
    if r.sigma_dist == "logu":
        return sample_sigma(n, r.sigma_min, r.sigma_max, gen)
    if r.sigma_dist == "mix":
        wide = sample_sigma(n, r.sigma_min, r.sigma_max, gen)
        low = sample_sigma(n, r.sigma_min, r.mix_hi, gen)
        pick = torch.rand(n, generator=gen, dtype=torch.float64) < r.mix_p
        return torch.where(pick, low, wide)
    if r.sigma_dist == "lognormal":
        out = torch.empty(n, dtype=torch.float64)
        for i in range(n):
            while True:
                s = math.exp(r.p_mean + r.p_std * float(torch.randn(1, generator=gen, dtype=torch.float64)))
                if r.sigma_min <= s <= r.sigma_max:
                    out[i] = s
                    break
        return out
    raise ValueError(r.sigma_dist)


def lr_at(r: Recipe, step: int) -> float:
    if r.sched == "const":
        return r.lr
    if r.sched == "cos":
        if step < r.warmup:
            return r.lr * (step + 1) / r.warmup
        t = (step - r.warmup) / max(1, r.steps - r.warmup)
        return r.lr * 0.5 * (1 + math.cos(math.pi * t))
    raise ValueError(r.sched)


class EMA:
    """EMA of the weights. kind "bc": bias-corrected (Adam-style; equal to an EMA started from zero and divided
    by 1 - decay^t), so the nominal decay holds from the start; kind "warm": decay min(decay, (1+t)/(10+t))
    (the common warm-up; for t <= 1500 it caps the decay at <= 0.994, so 0.999 and 0.995 coincide)."""

    def __init__(self, model, decay, kind="bc"):
        self.decay, self.kind, self.model, self.t = decay, kind, copy.deepcopy(model), 0
        for p in self.model.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, model):
        self.t += 1
        if self.kind == "warm":
            d = min(self.decay, (1 + self.t) / (10 + self.t))
        else:  # weight of the old average so that the result is the bias-corrected EMA
            b = self.decay
            d = b * (1 - b ** (self.t - 1)) / (1 - b ** self.t)
        for pe, p in zip(self.model.parameters(), model.parameters()):
            pe.mul_(d).add_(p.detach(), alpha=1 - d)


def dsm_batch_loss(model, x0, sigma, eps, r: Recipe, gen):
    """Mean weighted DSM loss of one step; x0, eps (n, L, L) float32, sigma (n,) float64."""
    if r.antithetic or r.dup2:
        eps2 = -eps if r.antithetic else torch.randn(eps.shape, generator=gen, dtype=torch.float64).to(eps.dtype)
        x0, sigma, eps = torch.cat([x0, x0]), torch.cat([sigma, sigma]), torch.cat([eps, eps2])
    sig = sigma.to(x0.dtype)[:, None, None]
    per = ((sig * model.score(x0 + sig * eps, sigma.to(x0.dtype)) + eps) ** 2).mean(dim=(1, 2))
    if r.wpow:
        per = per * sigma.to(x0.dtype) ** (-r.wpow)
    return per.mean()


def train_dsm_variant(teacher, model, r: Recipe, seed: int):
    data_gen = torch.Generator().manual_seed(seed)
    noise_gen = torch.Generator().manual_seed(seed + 7919)
    opt = torch.optim.Adam(model.parameters(), lr=r.lr, betas=tuple(r.betas))
    emas = [EMA(model, d, r.ema_kind) for d in r.ema]
    losses = []
    model.train()
    t0 = time.perf_counter()
    for step in range(r.steps):
        for g in opt.param_groups:
            g["lr"] = lr_at(r, step)
        x0 = teacher.sample(r.batch_size, r.L, generator=data_gen).float()
        sigma = draw_sigma(r, r.batch_size, noise_gen)
        eps = torch.randn(x0.shape, generator=noise_gen, dtype=torch.float64).float()
        loss = dsm_batch_loss(model, x0, sigma, eps, r, noise_gen)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if r.clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), r.clip)
        opt.step()
        for e in emas:
            e.update(model)
        losses.append(loss.item())
        if not math.isfinite(losses[-1]):
            raise FloatingPointError(f"loss {losses[-1]} at step {step}")
    wall = time.perf_counter() - t0
    model.eval()
    evals = {"raw": model}
    evals.update({f"ema{e.decay}": e.model.eval() for e in emas})
    return evals, losses, wall


def train_floor(teacher, model, seed: int, steps=1500, batch_size=8, L=32, lr=1e-3, ema=()):
    """Supervised reference: regress model(x, 0.005) on teacher.score(x); Adam 1e-3, cosine decay to 0."""
    data_gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    emas = [EMA(model, d) for d in ema]
    losses = []
    model.train()
    t0 = time.perf_counter()
    sig = torch.full((batch_size,), SIGMA_EVAL, dtype=torch.float32)
    for step in range(steps):
        for g in opt.param_groups:
            g["lr"] = lr * 0.5 * (1 + math.cos(math.pi * step / steps))
        x = teacher.sample(batch_size, L, generator=data_gen)
        target = teacher.score(x).float()
        loss = ((model.score(x.float(), sig) - target) ** 2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        for e in emas:
            e.update(model)
        losses.append(loss.item())
    wall = time.perf_counter() - t0
    model.eval()
    evals = {"raw": model}
    evals.update({f"ema{e.decay}": e.model.eval() for e in emas})
    return evals, losses, wall


def evaluate(evals, teacher):
    return {name: {f"L{L}": score_rmse(m, teacher, L, n=8, seed=EVAL_SEED) for L in EVAL_SIZES}
            for name, m in evals.items()}


def run(family, blocks, seed, recipe: Recipe | None, tag: str, floor=False, out=RESULTS, floor_lr=1e-3):
    torch.set_num_threads(1)
    teacher = teachers.make(family, seed=0)
    model = LocalCNN(blocks=blocks, width=32, seed=seed)
    if floor:
        evals, losses, wall = train_floor(teacher, model, seed, lr=floor_lr, ema=(0.999, 0.995))
        rdict = {"floor": True, "lr": floor_lr}
    else:
        evals, losses, wall = train_dsm_variant(teacher, model, recipe, seed)
        rdict = dataclasses.asdict(recipe)
    res = evaluate(evals, teacher)
    row = {"tag": tag, "family": family, "blocks": blocks, "R_eff": 2 * blocks + 2, "seed": seed,
           "recipe": rdict, "rmse_L32": res["raw"]["L32"], "rmse_L64": res["raw"]["L64"], "evals": res,
           "train_wall_s": wall, "loss_last100": sum(losses[-100:]) / 100, "eval_seed": EVAL_SEED, "eval_n": 8}
    with open(out, "a") as f:
        f.write(json.dumps(row) + "\n")
    import os
    os.makedirs("/tmp/dsm_study/ckpt", exist_ok=True)
    torch.save({k: m.state_dict() for k, m in evals.items()},
               f"/tmp/dsm_study/ckpt/{tag.replace('/', '_')}_{family}_B{blocks}_s{seed}.pt")
    print(json.dumps({k: row[k] for k in ("tag", "family", "blocks", "seed", "evals", "train_wall_s")}), flush=True)
    return row


PRESETS = {
    "base": Recipe(ema=(0.999, 0.995, 0.99)),
    "anti": Recipe(antithetic=True, ema=(0.999, 0.995, 0.99)),
    "dup2": Recipe(dup2=True, ema=(0.999, 0.995, 0.99)),
    "cos": Recipe(sched="cos", warmup=100, ema=(0.999, 0.995, 0.99)),
    "anti_cos": Recipe(antithetic=True, sched="cos", warmup=100, ema=(0.999, 0.995, 0.99)),
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--family", default="medium_range")
    ap.add_argument("--blocks", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--floor", action="store_true")
    ap.add_argument("--tag", default=None)
    ap.add_argument("--floor_lr", type=float, default=1e-3)
    ap.add_argument("--preset", default="base")
    ap.add_argument("--set", nargs="*", default=[], help="recipe overrides field=value (python literal)")
    a = ap.parse_args()
    recipe = PRESETS[a.preset]
    if a.set:
        import ast
        recipe = dataclasses.replace(recipe, **{k: ast.literal_eval(v) for k, v in (s.split("=", 1) for s in a.set)})
    tag = a.tag or ("floor" if a.floor else a.preset + ("+" + ",".join(a.set) if a.set else ""))
    run(a.family, a.blocks, a.seed, None if a.floor else recipe, tag, floor=a.floor, floor_lr=a.floor_lr)


if __name__ == "__main__":
    main()
