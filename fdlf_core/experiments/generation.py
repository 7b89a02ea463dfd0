"""Table 5 as data: generation-level local observables of reverse-diffusion samples (paper Appendix C.2).

``GenerationExperiment`` x a ``GenerationBudget`` profile expands into one ``GenerationRun`` per (family,
seed): a ``LocalCNN`` trained by DSM at ``train_L`` with Fig. 1's settings but a ``sigma_max`` far above
the data scale (generation starts from ``N(0, sigma_max^2)``: a model trained only up to ``sigma = 1``
would be asked about noise levels it never saw), then asked to generate at every ``gen_sizes`` by each
of the ``samplers`` (``sampling.generate``). Each generated set is compared with exact teacher samples of
the same size and count by the mean absolute error over the local observables (``observables``), with a
bootstrap standard error; beside it, the same MAE of a second, independent teacher set against the
reference (``floor_mae``): what finite samples alone give, so a generated MAE near it means "no error
visible at this sample size".

The teacher (seed ``teacher_seed``) is fixed across seeds; seeds vary the model initialisation, the
training stream, the teacher reference samples (``EVAL_SEED_OFFSET + seed``) and, independently of them,
the generation noise (``GEN_SEED_OFFSET + seed``).
"""
from __future__ import annotations

import dataclasses
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import torch

from .. import lattice, observables, sampling, stats, teachers
from ..models import LocalCNNConfig
from .base import EVAL_SEED_OFFSET, BlocksRun, Budget, RunSpec
from .fdlf2d import MODELS, PAPER_MODEL, QUICK_MODEL, FDLFRun

# mae: Table 5's local-observable MAE; corr_rel: the relative correlation error (observables); floor_*: the
# same between two independent teacher sets, what finite samples alone give
METRICS = ("mae", "floor_mae", "corr_rel", "floor_corr_rel")
# the generation noise is drawn from seed + GEN_SEED_OFFSET: independent of the reference samples (drawn from
# seed + EVAL_SEED_OFFSET, whose first draw is the teacher's latent noise) and of the training stream
GEN_SEED_OFFSET = 2 * EVAL_SEED_OFFSET
SUMMARY_SCHEMA = {"family": str, "blocks": int, "R_eff": int, "train_L": int, "L": int, "sampler": str,
                  "n_seeds": int, **{f"{m}_{s}": float for m in METRICS for s in ("mean", "sem", "within_se")}}


@dataclass(frozen=True, kw_only=True)
class GenerationBudget(Budget):
    """A Table 5 profile: the DSM budget (with its ``sigma_max``), the sample count and the samplers' steps."""

    n_samples: int                  # generated samples, and teacher reference samples, at each size
    sampler_steps: tuple[tuple[str, int], ...]  # (method, steps) of each sampler run, in report order
    n_boot: int = 200               # bootstrap resamples of the MAE's standard error
    sizes: tuple[int, ...] | None = None  # generation sizes (None: the experiment's ``gen_sizes``)

    def __post_init__(self):
        lattice.check_int(self.n_samples, "n_samples", 2)
        lattice.check_int(self.n_boot, "n_boot", 2)
        if not self.sampler_steps or any(m not in sampling.METHODS for m, _ in self.sampler_steps):
            raise ValueError(f"sampler_steps must be (method, steps) pairs with method in {sampling.METHODS}; "
                             f"got {self.sampler_steps!r}")
        for _, steps in self.sampler_steps:
            lattice.check_int(steps, "sampler steps", 1)
        for L in self.sizes or ():
            lattice.check_L(L)


@dataclass(frozen=True)
class GenerationRun(FDLFRun, BlocksRun, RunSpec):
    """One Table 5 run: DSM at ``train["L"]`` up to ``train["sigma_max"]``, then generation at ``gen_sizes``."""

    gen_sizes: tuple[int, ...]
    n_samples: int
    sampler_steps: tuple[tuple[str, int], ...]
    n_boot: int
    eval_seed: int   # the teacher reference samples (and the bootstrap); EVAL_SEED_OFFSET + seed
    gen_seed: int    # the generation noise; GEN_SEED_OFFSET + seed
    # what the rows measure (METRICS): part of the run's identity, so rows written before a metric was added
    # are not read without it; their runs are evaluated again (from the cached checkpoint, train_id unchanged)
    metrics: tuple[str, ...] = METRICS

    MODEL_CONFIG = LocalCNNConfig

    def references(self, teacher: teachers.Teacher, L: int) -> tuple[torch.Tensor, dict]:
        """The teacher reference set at size ``L`` ``(n_samples, L, L)`` and the finite-sample floor: the
        ``observables.observable_mae`` of a second, independent teacher set against it."""
        gen = torch.Generator().manual_seed(self.eval_seed)
        reference = teacher.sample(self.n_samples, L, generator=gen)
        second = teacher.sample(self.n_samples, L, generator=gen)
        return reference, observables.observable_mae(second, reference, self.n_boot, self.eval_seed)

    def generate(self, model, L: int, method: str, steps: int, record: list | None = None) -> torch.Tensor:
        """This run's generated set at size ``L`` by ``method`` in ``steps``: ``(n_samples, L, L)``, from its
        ``sigma_max`` down to ``sampling.SIGMA_MIN``, noise from ``gen_seed`` (``record``: ``sampling.generate``'s)."""
        return sampling.generate(model, self.n_samples, L, steps, self.train["sigma_max"], sampling.SIGMA_MIN,
                                 method, self.gen_seed, progress=False, record=record)

    def evaluate(self, teacher: teachers.Teacher, result) -> list[dict]:
        """One row per (generation size, sampler): ``mae``, ``floor_mae``, ``corr_rel`` and ``floor_corr_rel``
        (``METRICS``) with their bootstrap ``_se``, and every observable of the generated and reference sets (``observables.OBSERVABLES``)."""
        rows = []
        for L in self.gen_sizes:
            reference, floor = self.references(teacher, L)
            for method, steps in self.sampler_steps:
                t0 = time.perf_counter()
                generated = self.generate(result.model, L, method, steps)
                wall = time.perf_counter() - t0
                err = observables.observable_mae(generated, reference, self.n_boot, self.eval_seed)
                rows.append({"eval_seed": self.eval_seed, "gen_seed": self.gen_seed, "blocks": self.blocks, "R_eff": self.R_eff,
                             "width": self.model["width"], "train_L": self.train["L"], "L": L, "sampler": method,
                             "sampler_steps": steps, "sigma_max": self.train["sigma_max"],
                             "sigma_min": sampling.SIGMA_MIN, "n_samples": self.n_samples,
                             "mae": err["mae"], "mae_se": err["stderr"],
                             "floor_mae": floor["mae"], "floor_mae_se": floor["stderr"],
                             "corr_rel": err["corr_rel"], "corr_rel_se": err["corr_rel_stderr"],
                             "floor_corr_rel": floor["corr_rel"], "floor_corr_rel_se": floor["corr_rel_stderr"],
                             "abs_error": err["per_observable"], "generated": err["generated"],
                             "reference": err["reference"], "generation_wall_s": wall})
        return rows


@dataclass(frozen=True)
class GenerationExperiment:
    """Table 5: generation from a model trained at ``train_L``, compared with the teacher at ``gen_sizes``."""

    name: str
    title: str
    notebook: str
    families: tuple[str, ...]
    blocks: int
    train_L: int
    gen_sizes: tuple[int, ...]
    profiles: Mapping[str, GenerationBudget]
    teacher_seed: int = 0

    summary_schema = SUMMARY_SCHEMA

    def run(self, family: str, profile: str, seed: int) -> GenerationRun:
        """The run of one (family, seed) under ``profile``."""
        if profile not in self.profiles:
            raise ValueError(f"profile must be one of {sorted(self.profiles)}; got {profile!r}")
        if family not in self.families:
            raise ValueError(f"family must be one of {list(self.families)} for {self.name}; got {family!r}")
        budget = self.profiles[profile]
        teacher = dataclasses.asdict(teachers.make(family, seed=self.teacher_seed).config)
        model = dataclasses.asdict(MODELS["cnn"](self.blocks, budget, seed))
        train = dataclasses.asdict(budget.train_config(self.train_L, seed))
        return GenerationRun(self.name, profile, family, seed, teacher, model, train, budget.sizes or self.gen_sizes,
                             budget.n_samples, budget.sampler_steps, budget.n_boot, EVAL_SEED_OFFSET + seed,
                             GEN_SEED_OFFSET + lattice.check_int(seed, "seed", 0))

    def expand(self, profile: str, families: Iterable[str] | None = None) -> list[GenerationRun]:
        """family x seed, in that order (``families``: a subset of the experiment's, default all)."""
        return [self.run(fam, profile, seed) for fam in (self.families if families is None else tuple(families))
                for seed in self.profiles[profile].seeds]

    @staticmethod
    def summarize(rows: Iterable[dict]) -> list[dict]:
        """One dict per (family, L, sampler): each of ``METRICS`` as ``_mean``, ``_sem`` over seeds (NaN
        for one seed) and ``_within_se`` (the mean bootstrap standard error of a run)."""
        groups: dict[tuple, list[dict]] = defaultdict(list)
        for r in rows:
            groups[(r["family"], r["blocks"], r["R_eff"], r["train_L"], r["L"], r["sampler"])].append(r)
        out = []
        for (family, blocks, R_eff, train_L, L, sampler), rs in sorted(
                groups.items(), key=lambda kv: (*kv[0][:5], sampling.method_rank(kv[0][5]))):
            entry = {"family": family, "blocks": blocks, "R_eff": R_eff, "train_L": train_L, "L": L,
                     "sampler": sampler, "n_seeds": len(rs)}
            for m in METRICS:
                entry.update({f"{m}_mean": stats.mean([r[m] for r in rs]), f"{m}_sem": stats.sem([r[m] for r in rs]),
                              f"{m}_within_se": stats.mean([r[f"{m}_se"] for r in rs])})
            out.append(entry)
        return out


# Generation needs sigma_max far above the data scale (the teachers' site variance is ~1): EDM's 80. The
# rest is Fig. 1's model and DSM recipe (B=1, R_eff=4, train L=16, batch 16, 1500 steps). Samplers: the
# reverse SDE (Euler-Maruyama), whose O(1/steps) variance bias on a unit Gaussian is +1.9 % at 500 steps
# (+10 % at 100), and the probability-flow ODE (Heun, 40 steps: its discretisation error is below the
# model's there). The quick profile keeps width 32 (the other quick profiles: 16): at width 16 complex_local's
# generated correlations missed its teacher's by 19x the finite-sample floor at L=40 (width 32: 4.7x), to save
# about 2 s of `make reproduce`.
SIGMA_MAX_GENERATION = 80.0
TABLE5 = GenerationExperiment(
    name="table5", title="Table 5: local observables of generated samples (train L=16, generate L=6..40)",
    notebook="05_table5_generation.ipynb",
    families=("simple_local", "complex_local", "complex_long"), blocks=1, train_L=16,
    gen_sizes=(6, 8, 16, 24, 32, 40),
    profiles={"paper": GenerationBudget(steps=1500, batch_size=16, seeds=(0, 1, 2), sigma_max=SIGMA_MAX_GENERATION,
                                        n_samples=32, sampler_steps=(("sde", 500), ("ode", 40)), **PAPER_MODEL),
              "quick": GenerationBudget(steps=200, batch_size=16, seeds=(0,), sigma_max=SIGMA_MAX_GENERATION,
                                        n_samples=16, sampler_steps=(("sde", 100), ("ode", 20)), n_boot=50,
                                        sizes=(6, 16, 40), **dict(QUICK_MODEL, width=32))})
