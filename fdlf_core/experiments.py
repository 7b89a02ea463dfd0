"""The paper's experiments as data: configs x profiles -> independent runs -> result files.

An experiment (``EXPERIMENTS``: ``"fig1"``, ``"fig2"`` = ``Experiment`` on FDLF teachers, ``"fig4"`` =
``ising.experiment.IsingExperiment``) names what is swept; a profile's budget (``"paper"`` = Appendix C,
Table 2; ``"quick"`` = the same code path with a smaller budget, for CI) sets steps, batch sizes and
seeds. ``expand`` turns the pair into run specs; each is keyed by a hash of its scientific content
(data source, model, training and evaluation settings), so a finished run is recognised after a restart
and its checkpoint is reused.

``run_experiment`` executes the pending runs on any ``concurrent.futures.Executor`` (in-process for
``jobs=1``, a spawn-based process pool otherwise; pass your own executor to run elsewhere); ``runner``
describes the files it writes under ``<out>/<experiment>/<profile>/``.

Seeds vary the model initialisation, the training minibatches and the evaluation samples and probes
(paper C.1); the teacher (seed ``teacher_seed``) is fixed across seeds.
"""
from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import math
import os
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from . import diagnostics, lattice, runner, teachers
from .ising.experiment import FIG4, IsingExperiment
from .models import LocalCNNConfig
from .runner import ExperimentResult, result_dir
from .training import TrainConfig

EVAL_SEED_OFFSET = 10_000  # evaluation draws from seed + offset: disjoint from the training stream
SUMMARY_METRICS = ("score_rmse", "near", "far")
SUMMARY_COLUMNS = ("family", "blocks", "R_eff", "L", "n_seeds") + tuple(
    f"{m}_{s}" for m in SUMMARY_METRICS for s in ("mean", "sem"))


@dataclass(frozen=True)
class Budget:
    """How much work one profile spends on each run (paper Appendix C, Table 2 for ``paper``)."""

    steps: int                  # DSM steps
    batch_size: int             # training samples per step
    eval_n: int                 # samples for the score RMSE (Eq. 16) at each eval size
    response_n: int             # samples (probes) for the response errors (Eq. 17)
    seeds: tuple[int, ...]      # training seeds; each is one independent run per (family, blocks)
    lr: float = 5e-4
    sigma_min: float = 0.005
    sigma_max: float = 1.0
    width: int = 32             # CNN channels (the paper does not give it)


@dataclass(frozen=True)
class Experiment:
    """One 2D FDLF figure's sweep. ``response_sizes``: the eval sizes that also get near/far response errors."""

    name: str
    title: str
    families: tuple[str, ...]
    blocks: tuple[int, ...]          # residual blocks B; R_eff = 2 B + 2
    train_L: int
    eval_sizes: tuple[int, ...]
    response_sizes: tuple[int, ...]
    profiles: Mapping[str, Budget]
    teacher_seed: int = 0

    def expand(self, profile: str, families: Iterable[str] | None = None) -> list[RunSpec]:
        """family x blocks x seed, in that order (``families``: a subset of the experiment's, default all)."""
        budget = self.profiles[profile]
        fams = self.families if families is None else tuple(families)
        specs = []
        for fam in fams:
            teacher = dataclasses.asdict(teachers.make(fam, seed=self.teacher_seed).config)
            for blocks in self.blocks:
                for seed in budget.seeds:
                    model = LocalCNNConfig(blocks=blocks, width=budget.width, seed=seed)
                    train = TrainConfig(self.train_L, budget.steps, budget.batch_size, budget.lr, budget.sigma_min,
                                        budget.sigma_max, seed)
                    specs.append(RunSpec(self.name, profile, fam, seed, teacher, dataclasses.asdict(model),
                                         dataclasses.asdict(train), self.eval_sizes, self.response_sizes,
                                         budget.eval_n, budget.response_n, EVAL_SEED_OFFSET + seed))
        return specs

    summary_columns = SUMMARY_COLUMNS

    @staticmethod
    def summarize(rows: Iterable[dict]) -> list[dict]:
        return summarize(rows)


@dataclass(frozen=True)
class RunSpec(runner.RunIds):
    """One independent training run and its evaluations; JSON-ready, hashed into ``run_id``."""

    experiment: str
    profile: str
    family: str
    seed: int
    teacher: dict
    model: dict
    train: dict
    eval_sizes: tuple[int, ...]
    response_sizes: tuple[int, ...]
    eval_n: int
    response_n: int
    eval_seed: int  # evaluation samples and probes; EVAL_SEED_OFFSET + seed, disjoint from the training stream

    @property
    def blocks(self) -> int:
        return self.model["blocks"]

    @property
    def R_eff(self) -> int:
        return LocalCNNConfig(**self.model).receptive_radius

    @property
    def label(self) -> str:
        return f"{self.family}, B={self.blocks}, seed {self.seed}"

    def describe(self) -> dict:
        return {"family": self.family, "blocks": self.blocks, "R_eff": self.R_eff, "seed": self.seed}

    def data_source(self, cache_dir: Path, progress: bool) -> teachers.Teacher:
        return teachers.Teacher(teachers.TeacherConfig(**self.teacher))

    def evaluate(self, teacher: teachers.Teacher, result) -> list[dict]:
        """One row per eval size: score RMSE (Eq. 16) and, on ``response_sizes``, near/far errors (Eq. 17)."""
        model, seed = result.model, self.eval_seed
        rows = []
        for L in self.eval_sizes:
            t0 = time.perf_counter()
            row = {"eval_seed": seed, "blocks": self.blocks, "R_eff": self.R_eff, "width": self.model["width"],
                   "train_L": self.train["L"], "L": L,
                   "score_rmse": diagnostics.score_rmse(model, teacher, L, n=self.eval_n, seed=seed),
                   "near": None, "far": None,
                   "score_rmse_definition": {"n": self.eval_n, "seed": seed, "sigma": diagnostics.SIGMA_EVAL}}
            if L in self.response_sizes:
                resp = diagnostics.response_errors(model, teacher, L, n=self.response_n, seed=seed)
                row.update(near=resp["near"], far=resp["far"], response_definition=resp["definition"])
            row["eval_wall_s"] = time.perf_counter() - t0
            rows.append(row)
        return rows


EXPERIMENTS: dict[str, Experiment | IsingExperiment] = {
    "fig1": Experiment(
        name="fig1", title="Fig. 1: fixed-architecture size sweep (B=1, R_eff=4, train L=16)",
        families=("simple_local", "complex_local", "complex_long"), blocks=(1,), train_L=16,
        eval_sizes=(16, 32, 48, 64), response_sizes=(16, 32, 48, 64),
        profiles={"paper": Budget(steps=1500, batch_size=16, eval_n=8, response_n=8, seeds=(0, 1, 2)),
                  "quick": Budget(steps=500, batch_size=16, eval_n=8, response_n=8, seeds=(0, 1))}),
    "fig2": Experiment(
        name="fig2", title="Fig. 2 / Table 3: receptive-field sweep (R_eff 4, 8, 14; train L=32, eval L=64)",
        families=("simple_local", "medium_range", "complex_long"), blocks=(1, 3, 6), train_L=32,
        eval_sizes=(32, 64), response_sizes=(64,),
        profiles={"paper": Budget(steps=1500, batch_size=8, eval_n=4, response_n=4, seeds=(0, 1, 2)),
                  "quick": Budget(steps=300, batch_size=8, eval_n=4, response_n=4, seeds=(0, 1))}),
    "fig4": FIG4,
}
PROFILES = tuple(sorted({p for exp in EXPERIMENTS.values() for p in exp.profiles}))


def get_experiment(name: str) -> Experiment | IsingExperiment:
    if name not in EXPERIMENTS:
        raise ValueError(f"experiment must be one of {sorted(EXPERIMENTS)}; got {name!r}")
    return EXPERIMENTS[name]


def _check_profile(experiment, profile: str) -> str:
    if profile not in experiment.profiles:
        raise ValueError(f"profile must be one of {sorted(experiment.profiles)}; got {profile!r}")
    return profile


def expand(name: str, profile: str, families: Iterable[str] | None = None) -> list:
    """The runs of ``name`` under ``profile`` (``RunSpec`` or ``IsingRunSpec``), in a fixed order.

    ``families`` restricts the sweep to a subset of the experiment's families (default: all).
    """
    exp = get_experiment(name)
    _check_profile(exp, profile)
    if families is not None:
        families = tuple(families)
        for fam in families:
            if fam not in exp.families:
                raise ValueError(f"family must be one of {list(exp.families)} for {name}; got {fam!r}")
    return exp.expand(profile, families)


# ------------------------------------------------------------------------------------------- summaries

def summarize(rows: Iterable[dict]) -> list[dict]:
    """2D summary: one dict per (family, blocks, L) with ``<metric>_mean``, ``<metric>_sem``, ``n_seeds``.

    s.e.m. = sample std (ddof 1) / sqrt(n_seeds); NaN for a single seed. Metrics not measured at an L
    (responses off ``response_sizes``) are NaN.
    """
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in rows:
        groups[(r["family"], r["blocks"], r["R_eff"], r["L"])].append(r)
    out = []
    for (family, blocks, R_eff, L), rs in sorted(groups.items()):
        entry = {"family": family, "blocks": blocks, "R_eff": R_eff, "L": L, "n_seeds": len(rs)}
        for m in SUMMARY_METRICS:
            vals = [float(r[m]) for r in rs if r.get(m) is not None]
            entry[f"{m}_mean"] = sum(vals) / len(vals) if vals else math.nan
            entry[f"{m}_sem"] = runner.sem(vals)
        out.append(entry)
    return out


def read_summary(path: str | os.PathLike, name: str = "fig1") -> list[dict]:
    """Rows of the ``summary.csv`` of experiment ``name`` with numbers parsed (``ValueError`` for another file)."""
    exp = get_experiment(name)
    ints = {"blocks", "R_eff", "L", "n_seeds", "d", "R"}
    return runner.read_csv(path, exp.summary_columns, text=("family",), ints=ints & set(exp.summary_columns))


# -------------------------------------------------------------------------------------------- sessions

def check_results(name: str, profile: str, out: str | os.PathLike = "results",
                  families: Iterable[str] | None = None) -> list:
    """Validate everything ``run_experiment`` would read or write, before any training; return pending runs.

    Creates the result directories (nothing else is written, nothing removed); raises ``PermissionError``
    if they are not writable and ``ValueError`` naming the file if ``runs.jsonl``, ``manifest.json`` or a
    cached checkpoint of a pending run is damaged, foreign or holds another run's model.
    """
    return runner.pending(expand(name, profile, families), result_dir(out, name, profile))


def run_experiment(name: str, profile: str = "quick", out: str | os.PathLike = "results", jobs: int = 1,
                   executor: cf.Executor | None = None, families: Iterable[str] | None = None,
                   progress: bool = True, log: Callable[[str], None] | None = None) -> ExperimentResult:
    """Run (or resume) ``name`` under ``profile``; results under ``out/<name>/<profile>/``.

    Finished runs (their ``run_id`` already in ``runs.jsonl``) are skipped; cached checkpoints are reused.
    ``executor``: any ``concurrent.futures.Executor`` that runs calls in separate processes or one at a
    time (model initialisation seeds torch's process-global RNG, so concurrent threads would mix seeds); the
    caller keeps ownership. If None, ``jobs == 1`` runs in-process and ``jobs > 1`` uses
    ``runner.process_pool(jobs)``. Raises ``runner.ExperimentError`` after writing everything that
    finished if any run failed.
    """
    exp = get_experiment(name)
    _check_profile(exp, profile)
    jobs = lattice.check_int(jobs, "jobs", 1)
    if executor is not None and not isinstance(executor, cf.Executor):
        raise TypeError(f"executor must be a concurrent.futures.Executor or None; got {type(executor).__name__}")
    specs = expand(name, profile, families)
    # the runs of the whole experiment (all families, also when running a subset): older ones become stale
    current = {s.run_id for s in (specs if families is None else expand(name, profile))}
    return runner.run_specs(exp, profile, specs, current, result_dir(out, name, profile), jobs, executor,
                            progress, log)


def load_results(out: str | os.PathLike, name: str, profile: str) -> ExperimentResult:
    """The saved results of ``name``/``profile`` without running anything (``FileNotFoundError`` if none)."""
    exp = get_experiment(name)
    _check_profile(exp, profile)
    current = {s.run_id for s in expand(name, profile)}
    return runner.load_rows(exp, result_dir(out, name, profile), current, profile)
