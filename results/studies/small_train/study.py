"""Why medium_range does not transfer from a 16-lattice (the sweep's one failed claim, issue 19).

The sweep's DSM models of medium_range trained at L=16 change their score RMSE by 0.90-1.20x from L=16 to
L=256 (below 1 at small R_eff, 1.20 at R_eff 14), while those trained at L=32 stay within 0.97-1.01 and
the short-range teachers transfer from both sizes. Candidates:
  (a) DSM falls short on the small lattice (the recipe, not locality): then an exact-score fit of the same
      model at L=16 (the locality floor's recipe) transfers where DSM does not;
  (b) the 16-lattice's teacher is a different problem: medium_range's response (radius 10 on large lattices)
      does not fit in a 16-torus, so its score there is a wrapped, finite-size function that no local model
      of the infinite-lattice score matches. Then the exact fit at L=16 fails to transfer the same way, and
      the models trained at L=32 score worse at L=16 than at 32 or 256;
  (c) receptive-field aliasing alone (R_eff >= L/2 sees a site's periodic images): then simple_local,
      trained at L=16 with R_eff 14, fails too, and a radius whose window fits in the torus does not.
The script fits the exact score at L=16 (the floor's recipe: 3000 Adam steps at 1e-3, batch 8, width 64)
for medium_range at R_eff 2, 4, 6, 8, 14 and simple_local at R_eff 6 and 14, loads the sweep's seed-0 DSM
models trained at L=16 and at L=32, and scores each at L = 16, 32, 64, 256 on the same number of sites at
every size (4 x 256^2: 1024 samples at L=16 ... 4 at L=256; eval seed 10000, the sweep's seed-0 draws). It
also measures the old protocol's noise: the 4-sample RMSE at L=16 (1024 sites, what the sweep used before
``eval_sites``) from 8 evaluation seeds. One torch thread; about 40 minutes of one core when the sweep's
checkpoints are here (git keeps none: without them the DSM models are trained too, about an hour more).

    python results/studies/small_train/study.py
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

from fdlf_core import diagnostics, provenance, runner, teachers
from fdlf_core.atomic import atomic_write
from fdlf_core.experiments import EXPERIMENTS
from fdlf_core.experiments.base import EVAL_SEED_OFFSET
from fdlf_core.experiments.fdlf2d import sweep_run

HERE = Path(__file__).resolve().parent
SIZES, SITES, SEED = (16, 32, 64, 256), 4 * 256 ** 2, EVAL_SEED_OFFSET  # the sweep's evaluation (seed 0's draws)
OLD_N, OLD_SEEDS = 4, range(EVAL_SEED_OFFSET, EVAL_SEED_OFFSET + 8)  # the sweep's evaluation before eval_sites
# (family, blocks): medium_range over the radii; simple_local (response radius 2 at every L) below and above
# the radius whose window wraps the 16-torus (2 R_eff + 1 > 16 from R_eff 8), as the aliasing control
CELLS = (("medium_range", 0), ("medium_range", 1), ("medium_range", 2), ("medium_range", 3), ("medium_range", 6),
         ("simple_local", 2), ("simple_local", 6))
FLOOR_BUDGET = EXPERIMENTS["floor"].profiles["paper"]


def dsm_spec(family: str, blocks: int, train_L: int):
    """The sweep's seed-0 DSM run of this cell (the committed profile's spec, so its checkpoint matches)."""
    specs = [s for s in EXPERIMENTS["sweep"].expand("sweep", families=[family])
             if s.seed == 0 and s.blocks == blocks and s.train["L"] == train_L]
    assert len(specs) == 1, specs
    return specs[0]


def model_for(spec):
    """The trained model: the sweep's checkpoint if one holds this train id, else trained (and kept) here."""
    for d in (Path("results/sweep/sweep/checkpoints"), Path("results/sweep/sweep-1seed/checkpoints")):
        if (d / f"{spec.train_id}.pt").exists():
            return runner.train_or_load(spec, d)[1].model
    (HERE / "checkpoints").mkdir(exist_ok=True)
    return runner.train_or_load(spec, HERE / "checkpoints", progress=True)[1].model


def main():
    torch.set_num_threads(1)
    rows = []
    for family, blocks in CELLS:
        teacher = teachers.make(family, seed=0)
        fits = {"exact_score, train L=16": sweep_run(family, blocks, 16, FLOOR_BUDGET, 0, SIZES, fit="exact_score",
                                                      experiment="small_train", profile="floor-recipe"),
                "dsm, train L=16": dsm_spec(family, blocks, 16), "dsm, train L=32": dsm_spec(family, blocks, 32)}
        for fit, spec in fits.items():
            model = model_for(spec)
            rmse = {L: diagnostics.score_rmse(model, teacher, L, n=SITES // L ** 2, seed=SEED) for L in SIZES}
            old = [diagnostics.score_rmse(model, teacher, 16, n=OLD_N, seed=s) for s in OLD_SEEDS]
            rows.append({"family": family, "blocks": blocks, "R_eff": spec.R_eff, "fit": fit, "train_id": spec.train_id,
                         "score_rmse": {str(L): v for L, v in rmse.items()}, "ratio_256_16": rmse[256] / rmse[16],
                         "old_protocol_L16": old})
            print(f"{family:13s} R_eff {spec.R_eff:2d} {fit:24s} " + "  ".join(f"L={L}: {v:.3f}" for L, v in rmse.items())
                  + f"  ratio 256/16 {rmse[256] / rmse[16]:.3f}; 4 samples at L=16: {min(old):.3f}-{max(old):.3f}",
                  flush=True)
    radius = {f"{fam} L={L}": diagnostics.response_radius(teachers.make(fam, seed=0), L)
              for fam in ("medium_range", "simple_local") for L in (16, 32, 64)}
    print("response radius (95 % of the exact response):", radius)
    path = HERE / "results.json"
    atomic_write(path, lambda f: f.write(json.dumps({"rows": rows, "response_radius": radius, "sites": SITES, "eval_seed": SEED,
                                                     "old_protocol": {"n": OLD_N, "L": 16, "seeds": list(OLD_SEEDS)},
                                                     "sigma": diagnostics.SIGMA_EVAL, "floor_budget": repr(FLOOR_BUDGET),
                                                     **provenance.provenance()}, indent=1).encode()))


if __name__ == "__main__":
    main()
