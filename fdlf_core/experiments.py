"""The paper's 2D experiments as data: configs x profiles -> independent runs -> result files.

An ``Experiment`` (``EXPERIMENTS["fig1"]``, ``EXPERIMENTS["fig2"]``) names the teacher families, the CNN
depths, the training size and the evaluation sizes; a ``Budget`` (profile ``"paper"`` = Appendix C,
Table 2; ``"quick"`` = the same code path with a smaller budget, for CI) sets steps, batch sizes and
seeds. ``expand`` turns the pair into ``RunSpec`` s, one per (family, blocks, seed); each is keyed by a
hash of its scientific content (teacher, model, training and evaluation settings), so a finished run is
recognised after a restart and its checkpoint is reused.

``run_experiment`` executes the pending runs on any ``concurrent.futures.Executor`` (in-process for
``jobs=1``, a spawn-based process pool otherwise; pass your own executor to run elsewhere) and writes,
atomically after every finished run::

    <out>/<experiment>/<profile>/runs.jsonl     one JSON row per (run, eval L)
    <out>/<experiment>/<profile>/summary.csv    mean and s.e.m. over seeds per (family, R_eff, L)
    <out>/<experiment>/<profile>/manifest.json  configs, seeds, provenance, per-run wall time and status
    <out>/<experiment>/<profile>/checkpoints/<train_id>.pt

Seeds vary the model initialisation, the training minibatches and the evaluation samples and probes
(paper C.1); the teacher (seed ``teacher_seed``) is fixed across seeds.
"""
from __future__ import annotations

import concurrent.futures as cf
import contextlib
import csv
import dataclasses
import fcntl
import io
import json
import math
import multiprocessing
import os
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm

from . import diagnostics, lattice, teachers
from .atomic import atomic_write
from .models import LocalCNN, LocalCNNConfig
from .provenance import config_hash, provenance
from .training import TrainConfig, load_checkpoint, save_checkpoint, train_dsm

RESULTS_FORMAT = "fdlf.results/1"
EVAL_SEED_OFFSET = 10_000  # evaluation draws from seed + offset: disjoint from the training stream
SUMMARY_METRICS = ("score_rmse", "near", "far")


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
    """One figure's sweep. ``response_sizes``: the eval sizes that also get near/far response errors."""

    name: str
    title: str
    families: tuple[str, ...]
    blocks: tuple[int, ...]          # residual blocks B; R_eff = 2 B + 2
    train_L: int
    eval_sizes: tuple[int, ...]
    response_sizes: tuple[int, ...]
    profiles: Mapping[str, Budget]
    teacher_seed: int = 0


EXPERIMENTS: dict[str, Experiment] = {
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
}
PROFILES = tuple(sorted({p for exp in EXPERIMENTS.values() for p in exp.profiles}))


@dataclass(frozen=True)
class RunSpec:
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
    def run_id(self) -> str:
        """Hash of what determines the numbers (not the experiment/profile labels): keys result rows."""
        content = {k: v for k, v in dataclasses.asdict(self).items() if k not in ("experiment", "profile")}
        return config_hash(content)

    @property
    def train_id(self) -> str:
        """Hash of what determines the trained model only: keys the checkpoint cache, so changing an
        evaluation setting re-evaluates without retraining."""
        return config_hash({"teacher": self.teacher, "model": self.model, "train": self.train})

    @property
    def blocks(self) -> int:
        return self.model["blocks"]

    @property
    def R_eff(self) -> int:
        return LocalCNNConfig(**self.model).receptive_radius


def get_experiment(name: str) -> Experiment:
    if name not in EXPERIMENTS:
        raise ValueError(f"experiment must be one of {sorted(EXPERIMENTS)}; got {name!r}")
    return EXPERIMENTS[name]


def get_budget(experiment: Experiment, profile: str) -> Budget:
    if profile not in experiment.profiles:
        raise ValueError(f"profile must be one of {sorted(experiment.profiles)}; got {profile!r}")
    return experiment.profiles[profile]


def expand(name: str, profile: str, families: Iterable[str] | None = None) -> list[RunSpec]:
    """The runs of ``name`` under ``profile``: family x blocks x seed, in that order.

    ``families`` restricts the sweep to a subset of the experiment's families (default: all).
    """
    exp = get_experiment(name)
    budget = get_budget(exp, profile)
    fams = exp.families if families is None else tuple(families)
    for fam in fams:
        if fam not in exp.families:
            raise ValueError(f"family must be one of {list(exp.families)} for {name}; got {fam!r}")
    teacher_cfgs = {fam: teachers.make(fam, seed=exp.teacher_seed).config for fam in fams}
    specs = []
    for fam in fams:
        for blocks in exp.blocks:
            for seed in budget.seeds:
                model = LocalCNNConfig(blocks=blocks, width=budget.width, seed=seed)
                train = TrainConfig(exp.train_L, budget.steps, budget.batch_size, budget.lr, budget.sigma_min,
                                    budget.sigma_max, seed)
                specs.append(RunSpec(name, profile, fam, seed, dataclasses.asdict(teacher_cfgs[fam]),
                                     dataclasses.asdict(model), dataclasses.asdict(train), exp.eval_sizes,
                                     exp.response_sizes, budget.eval_n, budget.response_n,
                                     EVAL_SEED_OFFSET + seed))
    return specs


def _load_cached(spec: RunSpec, checkpoint: Path):
    """The cached checkpoint of ``spec``; ``ValueError`` if it is damaged or holds another run's model."""
    result = load_checkpoint(checkpoint)
    stored = {"teacher": dataclasses.asdict(result.teacher_config), "model": dataclasses.asdict(result.model.config),
              "train": dataclasses.asdict(result.config)}
    if stored != {"teacher": spec.teacher, "model": spec.model, "train": spec.train}:
        raise ValueError(f"{checkpoint} holds a different run's model (its configs do not match run "
                         f"{spec.run_id}); move it away to retrain")
    return result


def _load_or_train(spec: RunSpec, checkpoint: Path, progress: bool):
    """The trained model of ``spec``: from its cached checkpoint when it is there, else trained and cached."""
    teacher = teachers.Teacher(teachers.TeacherConfig(**spec.teacher))
    if checkpoint.exists():
        return teacher, _load_cached(spec, checkpoint), True
    model = LocalCNN.from_config(spec.model)
    t = spec.train
    result = train_dsm(teacher, model, t["L"], t["steps"], t["batch_size"], lr=t["lr"], sigma_min=t["sigma_min"],
                       sigma_max=t["sigma_max"], seed=t["seed"], progress=progress)
    save_checkpoint(checkpoint, result)
    return teacher, result, False


def execute_run(spec: RunSpec, checkpoint_dir: str | os.PathLike, progress: bool = False) -> dict:
    """Train (or load) and evaluate one run. Returns ``{"run_id", "rows", "wall_s", "cached"}``.

    Top-level and pickleable so process pools can call it. Every row holds the full configs, the metric
    definitions and the run's wall times.
    """
    start = time.perf_counter()
    teacher, result, cached = _load_or_train(spec, Path(checkpoint_dir) / f"{spec.train_id}.pt", progress)
    model, seed = result.model, spec.eval_seed
    rows = []
    for L in spec.eval_sizes:
        t0 = time.perf_counter()
        row = {"run_id": spec.run_id, "experiment": spec.experiment, "profile": spec.profile,
               "family": spec.family, "seed": spec.seed, "eval_seed": seed, "blocks": spec.blocks, "R_eff": spec.R_eff,
               "width": spec.model["width"], "train_L": spec.train["L"], "L": L,
               "score_rmse": diagnostics.score_rmse(model, teacher, L, n=spec.eval_n, seed=seed),
               "near": None, "far": None}
        if L in spec.response_sizes:
            resp = diagnostics.response_errors(model, teacher, L, n=spec.response_n, seed=seed)
            row.update(near=resp["near"], far=resp["far"], response_definition=resp["definition"])
        row.update(final_loss=float(sum(result.losses[-50:]) / len(result.losses[-50:])),
                   train_wall_s=result.wall_s, eval_wall_s=time.perf_counter() - t0, checkpoint_cached=cached,
                   teacher=spec.teacher, model=spec.model, train=spec.train,
                   score_rmse_definition={"n": spec.eval_n, "seed": seed, "sigma": diagnostics.SIGMA_EVAL})
        rows.append(row)
    return {"run_id": spec.run_id, "rows": rows, "wall_s": time.perf_counter() - start, "cached": cached}


class InlineExecutor(cf.Executor):
    """Runs each submitted call at once in this process (``jobs=1``): same code path, no pickling."""

    def submit(self, fn, /, *args, **kwargs):
        future = cf.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # delivered through the future like a pool would
            future.set_exception(exc)
        return future


def _set_threads(n: int) -> None:
    torch.set_num_threads(n)


def _threads_per_job(jobs: int) -> int:
    return max(1, (os.cpu_count() or 1) // jobs)


def process_pool(jobs: int, threads: int | None = None) -> cf.ProcessPoolExecutor:
    """``jobs`` spawn-started worker processes with ``threads`` torch threads each (default: cores / jobs).

    Spawn, not fork: forking a process whose OpenMP pool is already running can deadlock the child.
    """
    jobs = lattice.check_int(jobs, "jobs", 1)
    threads = _threads_per_job(jobs) if threads is None else lattice.check_int(threads, "threads", 1)
    return cf.ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"),
                                  initializer=_set_threads, initargs=(threads,))


# ----------------------------------------------------------------------------------------------- files

def result_dir(out: str | os.PathLike, name: str, profile: str) -> Path:
    return Path(out) / name / profile


def read_runs(path: str | os.PathLike) -> list[dict]:
    """Rows of a ``runs.jsonl`` (empty list if absent); a damaged file raises ``ValueError`` naming the line."""
    path = Path(path)
    if not path.exists():
        return []
    rows = []
    for k, line in enumerate(_read_text(path).splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path} line {k} is not JSON ({exc.msg}); the file is damaged or foreign. "
                             f"Move it away to start afresh") from None
        if not isinstance(row, dict) or "run_id" not in row or "L" not in row:
            raise ValueError(f"{path} line {k} is not an fdlf run row (no run_id/L); move the file away")
        rows.append(row)
    unique = {(r["run_id"], r["L"]): r for r in rows}  # a row written twice counts once
    return list(unique.values())


def _read_text(path: Path) -> str:
    try:
        return path.read_text()
    except UnicodeDecodeError:
        raise ValueError(f"{path} is not text; the file is damaged or foreign. Move it away") from None


def _write_runs(path: Path, rows: list[dict]) -> None:
    text = "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows)
    atomic_write(path, lambda f: f.write(text), binary=False)


def _sem(values: list[float]) -> float:
    if len(values) < 2:
        return math.nan
    mean = sum(values) / len(values)
    return math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1) / len(values))


def summarize(rows: Iterable[dict]) -> list[dict]:
    """Tidy summary: one dict per (family, blocks, L) with ``<metric>_mean``, ``<metric>_sem``, ``n_seeds``.

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
            entry[f"{m}_sem"] = _sem(vals)
        out.append(entry)
    return out


SUMMARY_COLUMNS = ("family", "blocks", "R_eff", "L", "n_seeds") + tuple(
    f"{m}_{s}" for m in SUMMARY_METRICS for s in ("mean", "sem"))


def write_csv(path: str | os.PathLike, rows: list[dict], columns: Iterable[str]) -> Path:
    """Write ``rows`` (dicts) as CSV with ``columns``, atomically; floats with 6 significant digits."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(columns), lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
    return atomic_write(path, lambda f: f.write(buf.getvalue()), binary=False)


def write_summary(path: str | os.PathLike, summary: list[dict]) -> Path:
    return write_csv(path, summary, SUMMARY_COLUMNS)


def read_summary(path: str | os.PathLike) -> list[dict]:
    """Rows of a ``summary.csv`` with numbers parsed (ints for family keys, floats for metrics)."""
    path = Path(path)
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        if tuple(reader.fieldnames or ()) != SUMMARY_COLUMNS:
            raise ValueError(f"{path} is not an fdlf summary (columns {reader.fieldnames})")
        return [{k: (v if k == "family" else int(v) if k in ("blocks", "R_eff", "L", "n_seeds") else float(v))
                 for k, v in row.items()} for row in reader]


# ---------------------------------------------------------------------------------------------- runner

@dataclass
class ExperimentResult:
    """What ``run_experiment`` produced: the current runs' rows, their summary and where the files are."""

    name: str
    profile: str
    rows: list[dict]
    summary: list[dict]
    directory: Path
    failures: dict[str, str]


@contextlib.contextmanager
def _exclusive(directory: Path):
    """One session per result directory: two writers would each rewrite runs.jsonl without the other's rows."""
    with open(directory / ".lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ValueError(f"another fdlf run is writing {directory}; wait for it or use another --out") from None
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


class ExperimentError(RuntimeError):
    """Some runs failed; the finished ones are saved (a rerun resumes)."""


def check_results(name: str, profile: str, out: str | os.PathLike = "results",
                  families: Iterable[str] | None = None) -> list[RunSpec]:
    """Validate everything ``run_experiment`` would read or write, before any training; return pending runs.

    Creates the result directories (nothing else is written, nothing removed); raises ``PermissionError``
    if they are not writable and ``ValueError`` naming the file if ``runs.jsonl``, ``manifest.json`` or a
    cached checkpoint of a pending run is damaged, foreign or holds another run's model.
    """
    return _pending(expand(name, profile, families), result_dir(out, name, profile))


def _pending(specs: list[RunSpec], directory: Path) -> list[RunSpec]:
    """The runs of ``specs`` not yet in ``directory``'s results, after the checks of ``check_results``."""
    done = {r["run_id"] for r in read_runs(directory / "runs.jsonl")}
    _read_manifest(directory / "manifest.json")
    pending = [s for s in specs if s.run_id not in done]
    (directory / "checkpoints").mkdir(parents=True, exist_ok=True)
    for d in (directory, directory / "checkpoints"):
        if not os.access(d, os.W_OK | os.X_OK):
            raise PermissionError(f"results directory {d} is not writable")
    for spec in pending:
        ckpt = directory / "checkpoints" / f"{spec.train_id}.pt"
        if ckpt.exists():
            _load_cached(spec, ckpt)
    return pending


def run_experiment(name: str, profile: str = "quick", out: str | os.PathLike = "results", jobs: int = 1,
                   executor: cf.Executor | None = None, families: Iterable[str] | None = None,
                   progress: bool = True, log: Callable[[str], None] | None = None) -> ExperimentResult:
    """Run (or resume) ``name`` under ``profile``; results under ``out/<name>/<profile>/``.

    Finished runs (their ``run_id`` already in ``runs.jsonl``) are skipped; cached checkpoints are reused.
    ``executor``: any ``concurrent.futures.Executor`` that runs calls in separate processes or one at a
    time (model initialisation seeds torch's process-global RNG, so concurrent threads would mix seeds); the
    caller keeps ownership. If None, ``jobs == 1`` runs in-process and ``jobs > 1`` uses
    ``process_pool(jobs)``. Raises ``ExperimentError`` after writing everything that finished if any run
    failed.
    """
    exp = get_experiment(name)
    get_budget(exp, profile)
    jobs = lattice.check_int(jobs, "jobs", 1)
    if executor is not None and not isinstance(executor, cf.Executor):
        raise TypeError(f"executor must be a concurrent.futures.Executor or None; got {type(executor).__name__}")
    specs = expand(name, profile, families)
    # the runs of the whole experiment (all families, also when running a subset): older ones become stale
    current = {s.run_id for s in (specs if families is None else expand(name, profile))}
    directory = result_dir(out, name, profile)
    pending = _pending(specs, directory)
    with _exclusive(directory):
        return _run_locked(name, profile, specs, current, pending, directory, jobs, executor, progress, log)


def _run_locked(name, profile, specs, current, pending, directory, jobs, executor, progress,
                log) -> ExperimentResult:
    exp = get_experiment(name)
    runs_path, manifest_path = directory / "runs.jsonl", directory / "manifest.json"
    rows = read_runs(runs_path)
    manifest = _read_manifest(manifest_path)
    own_threads = torch.get_num_threads() if jobs == 1 else _threads_per_job(jobs)
    manifest.update(format=RESULTS_FORMAT, experiment=dataclasses.asdict(exp), profile=profile,
                    budget=dataclasses.asdict(get_budget(exp, profile)), provenance=provenance(), jobs=jobs,
                    executor=type(executor).__name__ if executor else ("inline" if jobs == 1 else "process_pool"),
                    worker_threads=None if executor else own_threads)
    runs = manifest.setdefault("runs", {})
    for run_id, entry in runs.items():
        if run_id not in current:
            entry["status"] = "stale"  # from an older config; its rows stay in runs.jsonl, out of the summary
    for spec in pending:
        runs[spec.run_id] = {"family": spec.family, "blocks": spec.blocks, "R_eff": spec.R_eff, "seed": spec.seed,
                             "train_id": spec.train_id, "status": "pending"}
    manifest["started"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    _write_json(manifest_path, manifest)
    say = log or (lambda msg: None)
    say(f"{name}/{profile}: {len(specs)} runs, {len(specs) - len(pending)} already done, {len(pending)} to run")

    failures: dict[str, str] = {}

    def collect(fut: cf.Future, spec: RunSpec) -> None:
        entry = manifest["runs"][spec.run_id]
        label = f"run {spec.run_id} ({spec.family}, B={spec.blocks}, seed {spec.seed})"
        try:
            out = fut.result()
        except Exception as exc:  # one failed run must not take the others down; reported at the end
            failures[spec.run_id] = f"{type(exc).__name__}: {exc}"
            entry.update(status="failed", error=failures[spec.run_id])
            say(f"  {label} FAILED: {failures[spec.run_id]}")
        else:
            rows.extend(out["rows"])
            _write_runs(runs_path, rows)
            entry.update(status="done", wall_s=out["wall_s"], cached_checkpoint=out["cached"],
                         train_wall_s=out["rows"][0]["train_wall_s"])
            entry.pop("error", None)
            say(f"  {label} done in {out['wall_s']:.1f} s")
        _write_json(manifest_path, manifest)
        bar.update(1)

    start = time.perf_counter()
    own = executor is None
    pool = (InlineExecutor() if jobs == 1 else process_pool(jobs)) if own else executor
    inline = isinstance(pool, InlineExecutor)
    bar = tqdm(total=len(pending), desc=f"{name}/{profile} runs", disable=not progress)
    try:
        futures = {}
        for spec in pending:
            fut = pool.submit(execute_run, spec, directory / "checkpoints", progress and inline)
            futures[fut] = spec
            if inline:  # already done: record it now, so a kill loses at most the run in progress
                collect(fut, spec)
        if not inline:
            for fut in cf.as_completed(futures):
                collect(fut, futures[fut])
    finally:
        bar.close()
        if own:
            pool.shutdown(cancel_futures=True)
    mine = [r for r in rows if r["run_id"] in current]
    summary = summarize(mine)
    write_summary(directory / "summary.csv", summary)
    manifest.update(finished=time.strftime("%Y-%m-%dT%H:%M:%S%z"), session_wall_s=time.perf_counter() - start,
                    total_run_wall_s=sum(runs[i].get("wall_s", 0.0) for i in current if i in runs),
                    rows_from_other_configs=len(rows) - len(mine))
    _write_json(manifest_path, manifest)
    result = ExperimentResult(name, profile, mine, summary, directory, failures)
    if failures:
        raise ExperimentError(f"{len(failures)} of {len(specs)} runs of {name}/{profile} failed (finished runs "
                              f"are saved; rerun to resume): " + "; ".join(f"{k}: {v}" for k, v in failures.items()))
    return result


def _read_manifest(path: Path) -> dict:
    if not path.exists():
        return {}
    try:
        data = json.loads(_read_text(path))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not JSON ({exc.msg}); the file is damaged or foreign. Move it away") from None
    if not isinstance(data, dict) or data.get("format") != RESULTS_FORMAT:
        raise ValueError(f"{path} is not an fdlf manifest (expected format {RESULTS_FORMAT!r}); move it away")
    return data


def _write_json(path: Path, data: dict) -> None:
    text = json.dumps(data, indent=2, sort_keys=True, default=str) + "\n"
    atomic_write(path, lambda f: f.write(text), binary=False)


def load_results(out: str | os.PathLike, name: str, profile: str) -> ExperimentResult:
    """The saved results of ``name``/``profile`` without running anything (``FileNotFoundError`` if none)."""
    exp = get_experiment(name)
    get_budget(exp, profile)
    directory = result_dir(out, name, profile)
    if not (directory / "runs.jsonl").exists():
        raise FileNotFoundError(f"no results for {name}/{profile} under {directory}; run it first")
    current = {s.run_id for s in expand(name, profile)}
    rows = [r for r in read_runs(directory / "runs.jsonl") if r["run_id"] in current]
    return ExperimentResult(name, profile, rows, summarize(rows), directory, {})
