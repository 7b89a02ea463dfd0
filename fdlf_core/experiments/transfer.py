"""The size-transfer sweep (beyond the paper, issue 19): how far each local model extrapolates, over families,
receptive radii and training sizes.

``TRANSFER`` trains Fig. 2's LocalCNN with fdlf's DSM recipe on every family at every ``blocks`` (R_eff 2,
4, 6, 8, 10, 14) and every ``train_sizes``, and measures the score RMSE (Eq. 16) at the training size and
at every ``eval_sizes`` up to L=256. Its figure (``plots.transfer_phase_diagram``) is a phase diagram: the
RMSE ratio (largest L over the training size) against R_eff and the teacher's measured response radius
(``diagnostics.response_radius``), which the paper's argument says should separate "transfers" (R_eff
covers the response) from "degrades". Each run is a ``fdlf2d.SweepRun``; the rows carry ``train_L``.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from .. import stats
from .fdlf2d import PAPER_MODEL, SweepBudget, SweepRun, sweep_run

SUMMARY_SCHEMA = {"family": str, "train_L": int, "blocks": int, "R_eff": int, "L": int, "n_seeds": int,
                  "score_rmse_mean": float, "score_rmse_sem": float}


@dataclass(frozen=True)
class TransferExperiment:
    """Families x depths ``blocks`` x ``train_sizes`` x seeds; each run evaluated at its training size and at
    every ``eval_sizes``."""

    name: str
    title: str
    notebook: str
    families: tuple[str, ...]
    blocks: tuple[int, ...]
    train_sizes: tuple[int, ...]
    eval_sizes: tuple[int, ...]
    profiles: Mapping[str, SweepBudget]
    teacher_seed: int = 0

    summary_schema = SUMMARY_SCHEMA

    def expand(self, profile: str, families: Iterable[str] | None = None) -> list[SweepRun]:
        """seed x family x train size x blocks, in that order (``families``: a subset, default all). Seed-major,
        as the runner takes them seed by seed: a sweep stopped part-way has the whole phase diagram from its
        first seeds rather than every seed of its first families."""
        budget = self.profiles[profile]
        return [sweep_run(fam, blocks, train_L, budget, seed, (train_L, *(L for L in self.eval_sizes if L != train_L)),
                          experiment=self.name, profile=profile, teacher_seed=self.teacher_seed)
                for seed in budget.seeds for fam in (self.families if families is None else tuple(families))
                for train_L in self.train_sizes for blocks in self.blocks]

    @staticmethod
    def summarize(rows: Iterable[dict]) -> list[dict]:
        """One dict per (family, train_L, blocks, L): the score RMSE's mean and s.e.m. over seeds (NaN for one)."""
        groups: dict[tuple, list[float]] = defaultdict(list)
        for r in rows:
            groups[(r["family"], r["train_L"], r["blocks"], r["R_eff"], r["L"])].append(float(r["score_rmse"]))
        return [{"family": family, "train_L": train_L, "blocks": blocks, "R_eff": R_eff, "L": L, "n_seeds": len(v),
                 "score_rmse_mean": stats.mean(v), "score_rmse_sem": stats.sem(v)}
                for (family, train_L, blocks, R_eff, L), v in sorted(groups.items())]


def transfer_ratios(summary: list[dict]) -> list[dict]:
    """Per (family, train_L, R_eff): the RMSE at the largest evaluated L over that at the training size,
    ``{"family", "train_L", "R_eff", "L", "ratio"}`` (the phase diagram's colour)."""
    row = {(r["family"], r["train_L"], r["R_eff"], r["L"]): r["score_rmse_mean"] for r in summary}
    out = []
    for family, train_L, R_eff in sorted({k[:3] for k in row}):
        sizes = sorted(L for f, t, R, L in row if (f, t, R) == (family, train_L, R_eff))
        if train_L in sizes and sizes[-1] != train_L:
            out.append({"family": family, "train_L": train_L, "R_eff": R_eff, "L": sizes[-1],
                        "ratio": row[family, train_L, R_eff, sizes[-1]] / row[family, train_L, R_eff, train_L]})
    return out


def floor_gaps(summary: list[dict], floor: list[dict], train_L: int = 32, L: int = 64) -> list[dict]:
    """Per (family, R_eff) that both summaries hold: the sweep's score RMSE at ``L`` of the models trained at
    ``train_L`` beside the locality floor there (``floor``: the ``floor`` experiment's summary, exact-score
    fits trained at its own size, 32 in every profile). ``{"family", "R_eff", "L", "dsm", "floor", "excess"}``
    with ``excess = dsm / floor``: how far DSM stays above the best a model of that radius can do.

    The floor is evaluated on 8 samples, the sweep on the sites of 4 samples at L=256 (64 at L=64; the first 8
    are the floor's, as both draw from the same seed). For the short-range teachers that changes the RMSE by
    < 0.5 %; for complex_long at L >= 64, where one mode per sample (the mean) holds 13-90 % of the score
    power, it dominates: its ``excess`` compares different samples, not fits (results/studies/floor_transfer/)."""
    best = {(r["family"], r["R_eff"]): r["score_rmse_mean"] for r in floor if r["L"] == L}
    return [{"family": r["family"], "R_eff": r["R_eff"], "L": L, "dsm": r["score_rmse_mean"],
             "floor": best[r["family"], r["R_eff"]], "excess": r["score_rmse_mean"] / best[r["family"], r["R_eff"]]}
            for r in sorted(summary, key=lambda r: (r["family"], r["R_eff"]))
            if r["train_L"] == train_L and r["L"] == L and (r["family"], r["R_eff"]) in best]


# Fig. 2's model and recipe at the paper's DSM budget (batch 8 at both training sizes). "sweep": 3 seeds, 144
# runs, about 7 h of one core on the 2-core machine, meant for a dask cluster (`fdlf reproduce --profile sweep
# --executor dask`); "sweep-1seed": its seed-0 runs (48), the size that finishes here in a few hours. They
# train the same models: each profile adopts the other's checkpoints (``runner.adopt_checkpoints``). No
# response errors (they would dominate at L=256): ``response_n`` is unused. No quick profile: 48 runs do not
# fit `make reproduce`'s five minutes; the tests run the sweep on tiny budgets. Every size is scored on the
# sites of 4 samples at L=256 (1024 samples at L=16): with 4 samples at every size the ratio's denominator at
# L=16 came from 1024 sites and was 5-10 % off (results/studies/small_train/); this costs about 3x the
# evaluation, which stays under a tenth of the training.
_SWEEP_BUDGET = SweepBudget(steps=1500, batch_size=8, eval_n=4, response_n=4, eval_sites=4 * 256 ** 2, seeds=(0, 1, 2),
                            **PAPER_MODEL)
TRANSFER = TransferExperiment(
    name="sweep", title="Size-transfer sweep: RMSE ratio (L=256 / training size) vs R_eff and the teacher's range",
    notebook="09_transfer_sweep.ipynb",
    families=("simple_local", "complex_local", "medium_range", "complex_long"), blocks=(0, 1, 2, 3, 4, 6),
    train_sizes=(16, 32), eval_sizes=(64, 128, 256),
    profiles={"sweep": _SWEEP_BUDGET, "sweep-1seed": replace(_SWEEP_BUDGET, seeds=(0,))})
