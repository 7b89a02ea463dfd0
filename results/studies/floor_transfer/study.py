"""Why complex_long's locality floor transfers worse than DSM (docs/results.md, issue 19): where its error sits.

The floor run (an exact-score fit at L=32) scores 0.82-0.84 at L=64 where the DSM run of the same model
scores 0.58-0.64. Candidates: (a) the fit's error at L=64 sits in the mean mode k=0 (the teacher's global,
L-dependent coupling, which no local model can compute), equally for both fits, and the floor's excess is
elsewhere; (b) the floor learns a stronger local stand-in for the global mean (a local average with a large
weight), right on average at L=32, which at L=64 adds power at long wavelengths k != 0 that the exact score
does not have. This script splits each model's squared error, relative to the exact score's power, over
wavelength bins (an orthonormal 2D FFT over the sites), at L=32 and L=64, and regresses the model's
site-mean score on the exact one (the mean mode's gain). One torch thread; about 4 minutes of one core
(the floor's fit; the DSM model is the sweep's checkpoint when present, else it is trained too).

    python results/studies/floor_transfer/study.py [--blocks 1]
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from fdlf_core import provenance, runner
from fdlf_core.atomic import atomic_write
from fdlf_core.diagnostics import SIGMA_EVAL, model_score
from fdlf_core.experiments import EXPERIMENTS

HERE = Path(__file__).resolve().parent
SIZES, N, SEED = (32, 64), 8, 10_000  # the floor's evaluation: n and eval seed (EVAL_SEED_OFFSET + 0)
# wavelength bins (sites): the mean mode, wavelengths beyond every radius tested, the rest
BINS = {"k=0 (mean mode)": lambda lam: torch.isinf(lam),
        "16 <= wavelength < inf": lambda lam: ~torch.isinf(lam) & (lam >= 16),
        "wavelength < 16": lambda lam: lam < 16}


def the_spec(name: str, profile: str, blocks: int, family: str = "complex_long"):
    specs = [s for s in EXPERIMENTS[name].expand(profile, families=[family])
             if s.blocks == blocks and s.seed == 0 and s.train["L"] == 32]
    assert len(specs) == 1, specs
    return specs[0]


def model_for(spec, checkpoint_dirs):
    """The trained model: a checkpoint from ``checkpoint_dirs`` if one holds its train id, else trained here."""
    for d in checkpoint_dirs:
        if (d / f"{spec.train_id}.pt").exists():
            return runner.train_or_load(spec, d)[:2]
    (HERE / "checkpoints").mkdir(exist_ok=True)
    return runner.train_or_load(spec, HERE / "checkpoints", progress=True)[:2]


def wavelength(L: int) -> torch.Tensor:
    """(L, L) wavelength in sites of each FFT mode (inf at k=0)."""
    f = torch.fft.fftfreq(L, d=1.0)
    k = torch.sqrt(f[:, None] ** 2 + f[None, :] ** 2)
    return torch.where(k > 0, 1 / k.clamp_min(1e-12), torch.full_like(k, float("inf")))


def split(teacher, model, L: int) -> dict:
    x = teacher.sample(N, L, generator=torch.Generator().manual_seed(SEED))
    exact = teacher.score(x)
    learned = model_score(model, x, SIGMA_EVAL)
    power = lambda v: torch.fft.fft2(v, norm="ortho").abs() ** 2  # (N, L, L); sums to sum v^2 per sample
    p_exact, p_err = power(exact), power(learned - exact)
    total = float(p_exact.sum())
    lam, err, ex = wavelength(L), p_err.sum(0), p_exact.sum(0)
    out = {"L": L, "score_rmse": float(torch.sqrt(err.sum() / total)), "bins": {}}
    for name, select in BINS.items():
        mask = select(lam)
        out["bins"][name] = {"error_share_of_exact_power": float(err[mask].sum()) / total,
                             "exact_share": float(ex[mask].sum()) / total, "modes": int(mask.sum())}
    # Fig. 2 evaluates on the first 4 of these samples (eval_n 4), the floor on all 8 (the sweep did too, before
    # it scored every size on the sites of 4 samples at L=256)
    per_sample_err, per_sample_exact = p_err.sum((-2, -1)), p_exact.sum((-2, -1))
    out["score_rmse_first4"] = float(torch.sqrt(per_sample_err[:4].sum() / per_sample_exact[:4].sum()))
    out["per_sample_rmse"] = torch.sqrt(per_sample_err / per_sample_exact).tolist()
    out["per_sample_mean_mode_share"] = (p_exact[:, 0, 0] / per_sample_exact).tolist()
    # the mean mode's gain: least-squares slope of the model's site mean on the exact one, over samples
    me, ml = exact.mean((-2, -1)), learned.mean((-2, -1))
    out["mean_mode_gain"] = float((me * ml).sum() / (me * me).sum())
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=1, help="residual blocks B (R_eff = 2B + 2); default 1")
    args = parser.parse_args()
    torch.set_num_threads(1)
    dirs = [Path("results") / d / p / "checkpoints" for d, p in (("sweep", "sweep"), ("sweep", "sweep-1seed"),
                                                                 ("fig2", "paper"), ("floor", "paper"))]
    dirs.append(HERE / "checkpoints")
    rows = []
    for fit, (name, profile) in (("dsm", ("sweep", "sweep")), ("exact_score", ("floor", "paper"))):
        spec = the_spec(name, profile, args.blocks)
        teacher, result = model_for(spec, dirs)
        for L in SIZES:
            rows.append({"fit": fit, "blocks": args.blocks, "R_eff": spec.R_eff, "train_id": spec.train_id,
                         **split(teacher, result.model, L)})
            r = rows[-1]
            print(f"{fit:12s} R_eff {spec.R_eff} L={L}: RMSE {r['score_rmse']:.3f} (first 4 samples "
                  f"{r['score_rmse_first4']:.3f}), mean-mode gain "
                  f"{r['mean_mode_gain']:.3f}; " + ", ".join(f"{k}: err {v['error_share_of_exact_power']:.3f} "
                                                             f"(exact {v['exact_share']:.3f})"
                                                             for k, v in r["bins"].items()))
    # the same 4-vs-8-sample question for the short-range teachers' DSM models (no mean mode to speak of)
    short = []
    for family in ("simple_local", "medium_range"):
        spec = the_spec("sweep", "sweep", args.blocks, family)
        teacher, result = model_for(spec, dirs)
        r = split(teacher, result.model, 64)
        short.append({"family": family, "fit": "dsm", "L": 64, "score_rmse": r["score_rmse"],
                      "score_rmse_first4": r["score_rmse_first4"], "mean_mode_share": r["bins"]["k=0 (mean mode)"]["exact_share"]})
        print(f"{family:12s} dsm R_eff {spec.R_eff} L=64: RMSE {r['score_rmse']:.3f} (first 4 samples "
              f"{r['score_rmse_first4']:.3f}), mean mode {short[-1]['mean_mode_share']:.4f} of the exact power")
    path = HERE / f"results_B{args.blocks}.json"
    atomic_write(path, lambda f: f.write(json.dumps({"rows": rows, "short_range": short, "n": N, "eval_seed": SEED,
                                                     "sigma": SIGMA_EVAL, **provenance.provenance()},
                                                    indent=1).encode()))


if __name__ == "__main__":
    main()
