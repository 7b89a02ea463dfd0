"""The paper's experiments as data: configs x profiles -> independent runs -> result files.

An experiment (``EXPERIMENTS``) names what is swept; a profile's ``Budget`` (``"paper"`` = Appendix C,
Table 2; ``"quick"`` = the same code path with a smaller budget, for CI) sets steps, batch sizes and
seeds. ``expand`` turns the pair into run specs (``base.RunSpec``); each is keyed by a hash of its
scientific content, so a finished run is recognised after a restart and its checkpoint is reused.
``run_experiment`` executes the pending runs through ``runner`` on any ``concurrent.futures.Executor``.

Modules, one per experiment family:

* ``base``: ``Budget``, ``RunSpec``, the ``Experiment`` protocol;
* ``fdlf2d``: Fig. 1 and Fig. 2 / Table 3 on the 2D FDLF teachers, the locality floor under Fig. 2, and
  both figures' protocols with the sliding-attention model;
* ``ablation``: the DSM recipe ablation on Fig. 2's models (beyond the paper);
* ``hardvalid3d``: Fig. 3, the hard-valid mixed discrete-continuous 3D check;
* ``ising_critical``: Fig. 4, the critical Ising stress test;
* ``generation``: Table 5, local observables of reverse-diffusion samples.

Adding an experiment is one module here (a ``Budget`` and ``RunSpec`` subclass, an object satisfying
``base.Experiment``), one notebook under ``notebooks/`` (named by the experiment's ``notebook``), and one
entry in ``EXPERIMENTS`` below; the runner, the result files, ``fdlf reproduce`` and the tests of resume
and caching then apply to it unchanged.
"""
from __future__ import annotations

import concurrent.futures as cf
import contextlib
import os
from collections.abc import Callable, Iterable
from pathlib import Path

from .. import cluster, lattice, paper, runner
from ..catalog import EXECUTORS
from ..devices import resolve_device
from ..runner import ExperimentResult, result_dir
from .ablation import ABLATION
from .base import EVAL_SEED_OFFSET, Budget, Experiment, RunSpec
from .fdlf2d import FIG1, FIG1_ATTENTION, FIG2, FIG2_ATTENTION, FLOOR
from .generation import TABLE5
from .hardvalid3d import FIG3
from .ising_critical import FIG4
from .transfer import TRANSFER

# in the order `fdlf reproduce` runs them: the floor before Fig. 2, whose plot draws it
EXPERIMENTS: dict[str, Experiment] = {exp.name: exp for exp in (FIG1, FLOOR, FIG2, ABLATION, FIG3, FIG4, TABLE5,
                                                              FIG1_ATTENTION, FIG2_ATTENTION, TRANSFER)}
PROFILES = tuple(sorted({p for exp in EXPERIMENTS.values() for p in exp.profiles}))
# the source checkout's results/ (committed paper-profile results), which the explorers read
RESULTS_DIR = Path(__file__).resolve().parents[2] / "results"

__all__ = ["EVAL_SEED_OFFSET", "EXPERIMENTS", "PROFILES", "RESULTS_DIR", "Budget", "Experiment", "ExperimentResult",
           "RunSpec", "check_claims", "check_results", "expand", "get_experiment", "load_results", "read_summary", "result_dir",
           "run_experiment"]


def get_experiment(name: str) -> Experiment:
    if name not in EXPERIMENTS:
        raise ValueError(f"experiment must be one of {sorted(EXPERIMENTS)}; got {name!r}")
    return EXPERIMENTS[name]


def _check_profile(experiment: Experiment, profile: str) -> str:
    if profile not in experiment.profiles:
        raise ValueError(f"profile must be one of {sorted(experiment.profiles)}; got {profile!r}")
    return profile


def expand(name: str, profile: str, families: Iterable[str] | None = None) -> list[RunSpec]:
    """The runs of ``name`` under ``profile``, in a fixed order.

    ``families`` restricts the sweep to a subset of the experiment's families (default: all).
    """
    exp = get_experiment(name)
    _check_profile(exp, profile)
    if families is not None:
        if isinstance(families, str):  # a str is an iterable of letters
            raise TypeError(f"families must be a list of family names, not a str; got {families!r} (use [{families!r}])")
        families = tuple(families)
        for fam in families:
            if fam not in exp.families:
                raise ValueError(f"family must be one of {list(exp.families)} for {name}; got {fam!r}")
    return exp.expand(profile, families)


def read_summary(path: str | os.PathLike, name: str = "fig1") -> list[dict]:
    """Rows of the ``summary.csv`` of experiment ``name`` with numbers parsed (``ValueError`` for another file)."""
    return runner.read_csv(path, get_experiment(name).summary_schema)


def check_results(name: str, profile: str, out: str | os.PathLike = "results",
                  families: Iterable[str] | None = None) -> list[RunSpec]:
    """Validate everything ``run_experiment`` would read or write, before any training; return pending runs.

    Creates the result directories (nothing else is written, nothing removed); raises ``PermissionError``
    if they are not writable and ``ValueError`` naming the file if ``runs.jsonl``, ``manifest.json`` or a
    cached checkpoint of a pending run is damaged, foreign or holds another run's model.
    """
    return runner.pending(expand(name, profile, families), result_dir(out, name, profile))


def run_experiment(name: str, profile: str = "quick", out: str | os.PathLike = "results", jobs: int = 1,
                   executor: cf.Executor | str | None = None, families: Iterable[str] | None = None,
                   progress: bool = True, log: Callable[[str], None] | None = None,
                   scheduler: str | None = None, device: str = "cpu") -> ExperimentResult:
    """Run (or resume) ``name`` under ``profile``; results under ``out/<name>/<profile>/``.

    Finished runs (their ``run_id`` already in ``runs.jsonl``) are skipped; cached checkpoints are reused.
    ``executor``: None or ``"process"``: ``jobs == 1`` runs in-process, ``jobs > 1`` in
    ``runner.process_pool(jobs)``; ``"dask"``: on the dask cluster at ``scheduler``, or with None on a local
    cluster of ``jobs`` worker processes (``cluster.dask_executor``); or any ``concurrent.futures.Executor``
    that runs calls in separate processes or one at a time (model initialisation seeds torch's
    process-global RNG, so concurrent threads would mix seeds), which the caller keeps. The numbers do not
    depend on the executor, only on the torch threads per run (recorded in every row). ``device``: where
    the models train and run (``devices.resolve_device``: ``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"auto"``);
    teachers and every random draw stay on the CPU, so a GPU run's numbers match the CPU's to float
    tolerance (recorded per row; it is not part of the run id). Raises
    ``runner.ExperimentError`` after writing everything that finished if any run failed.
    """
    exp = get_experiment(name)
    _check_profile(exp, profile)
    jobs = lattice.check_int(jobs, "jobs", 1)
    if isinstance(executor, str) and executor not in EXECUTORS:
        raise ValueError(f"executor must be one of {EXECUTORS}, a concurrent.futures.Executor or None; "
                         f"got {executor!r}")
    if executor is not None and not isinstance(executor, (str, cf.Executor)):
        raise TypeError(f"executor must be a concurrent.futures.Executor, one of {EXECUTORS} or None; "
                        f"got {type(executor).__name__}")
    if scheduler is not None and executor != "dask":
        raise ValueError(f"scheduler is the dask scheduler's address: it needs executor='dask'; got executor={executor!r}")
    specs = expand(name, profile, families)
    # the runs of the whole experiment (all families, also when running a subset): older ones become stale
    current = {s.run_id for s in (specs if families is None else expand(name, profile))}
    directory = result_dir(out, name, profile)
    dask = executor == "dask" and bool(runner.pending(specs, directory))  # nothing to run: no cluster to start
    if dask and scheduler is None:  # a local cluster runs on this machine: refuse a device it lacks first
        device = str(resolve_device(device))
    given = None if isinstance(executor, str) else executor
    with cluster.dask_executor(scheduler, jobs, log) if dask else contextlib.nullcontext(given) as pool:
        return runner.run_specs(exp, profile, specs, current, directory, jobs, pool, progress, log, device)


def load_results(out: str | os.PathLike, name: str, profile: str) -> ExperimentResult:
    """The saved results of ``name``/``profile`` without running anything (``FileNotFoundError`` if none)."""
    exp = get_experiment(name)
    _check_profile(exp, profile)
    current = {s.run_id for s in expand(name, profile)}
    return runner.load_rows(exp, result_dir(out, name, profile), current, profile)


def check_claims(out: str | os.PathLike, name: str, profile: str) -> list[paper.Claim]:
    """The paper's claims (``paper.claims``) on the saved results of ``name``/``profile``; Fig. 2's include
    the DSM-vs-floor claim when the floor of the same profile has all its runs. ``ValueError`` if the
    figure's own runs are incomplete."""
    summary = load_results(out, name, profile).summary
    floor = None
    if name == "fig2" and profile in FLOOR.profiles:
        try:
            done = load_results(out, "floor", profile)
        except FileNotFoundError:
            done = None
        if done is not None and {r["run_id"] for r in done.rows} == {s.run_id for s in expand("floor", profile)}:
            floor = done.summary
    return paper.claims(name, summary, floor=floor)
