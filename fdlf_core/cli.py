"""``fdlf`` command line.

Exit codes: 0 success; 1 a reproduction notebook failed (the others still ran; its executed notebook shows
the error); 2 bad input or any other error (one line on stderr; ``fdlf --debug ...`` shows the traceback);
130 interrupted (Ctrl-C).
"""
from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from . import catalog
from .catalog import PAGES

# torch and the core are imported by the commands, not here: `fdlf --help` and usage errors answer at once
NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"


def _demo(args: argparse.Namespace) -> int:
    from . import diagnostics, lattice, runner
    from .experiments.fdlf2d import SweepBudget, sweep_run

    for L in args.eval_sizes:  # validate everything before spending a minute on training
        if lattice.check_L(L, "--eval-sizes") < 2 * diagnostics.FAR_BAND[0]:
            raise ValueError(f"--eval-sizes must be >= {2 * diagnostics.FAR_BAND[0]} (the far response band starts "
                             f"at distance {diagnostics.FAR_BAND[0]}); got {L}")
    lattice.check_int(args.eval_n, "--eval-n", 1)
    lattice.check_int(args.teacher_seed, "--teacher-seed", 0)
    device = _device_arg(args.device)
    budget = SweepBudget(steps=args.steps, batch_size=args.batch_size, seeds=(args.seed,), lr=args.lr,
                         width=args.width, eval_n=args.eval_n, response_n=args.eval_n)
    spec = sweep_run(args.family, args.blocks, args.L, budget, args.seed, tuple(args.eval_sizes),
                     tuple(args.eval_sizes), experiment="demo", profile="demo", teacher_seed=args.teacher_seed)
    save = _check_save(args.save) if args.save else None  # last: it creates directories
    teacher = spec.data_source(None, False)
    print(f"fdlf demo: DSM on {args.family} (teacher r={teacher.locality_radius}) at L={args.L}, "
          f"LocalCNN B={args.blocks} width={args.width} (R_eff={spec.R_eff}), "
          f"{args.steps} steps x batch {args.batch_size}, seed {args.seed}; evaluated on fresh samples "
          f"(seed {spec.eval_seed}, disjoint from training)")
    untrained = diagnostics.score_rmse(spec.build_model(), teacher, args.L, n=args.eval_n, seed=spec.eval_seed)
    if save:
        with tempfile.TemporaryDirectory(dir=save.parent) as tmp:  # same filesystem: the move is atomic
            out = runner.execute_run(spec, tmp, progress=True, device=device)
            os.replace(Path(tmp) / f"{spec.train_id}.pt", save)
    else:
        out = runner.execute_run(spec, None, progress=True, device=device)
    print(f"trained in {out['rows'][0]['train_wall_s']:.1f} s; untrained score RMSE at L={args.L}: {untrained:.3f}")
    if save:
        print(f"checkpoint: {save}")
    print(f"\n{'':>4}  {'':>18}  {'response error (Eq. 17), relative to':^43}")
    print(f"{'L':>4}  {'score RMSE (Eq.16)':>18}  {'near band':>9} {'far band':>9}  {'total: near':>11} {'far':>6}  "
          f"{'eval s':>6}")
    rel = lambda v: "undef." if v != v else f"{v:.3f}"  # NaN: the exact band response is ~0
    for row in out["rows"]:
        print(f"{row['L']:>4}  {row['score_rmse']:>18.3f}  {rel(row['near']):>9} {rel(row['far']):>9}  "
              f"{row['near_of_total']:>11.3f} {row['far_of_total']:>6.3f}  {row['eval_wall_s']:>6.1f}")
    print(f"\n'undef.': the exact response of that band is below {100 * diagnostics.UNDEFINED_BELOW:.0f} % of the "
          f"total, so an error relative to it means nothing; the 'total' columns divide by the whole response.")
    print("\nA local teacher inside the receptive field keeps the RMSE flat in L; try --family complex_long.")
    return 0


def _device_arg(device: str, here: bool = True) -> str:
    """``--device`` checked (``here``: this machine must have it) before any work: the name to pass on."""
    from . import devices

    try:
        return str(devices.resolve_device(device)) if here else devices.check_device(device)
    except ValueError as exc:
        raise ValueError(f"--{exc}") from None


def _check_save(path: str) -> Path:
    """``--save`` as an absolute path in a directory that exists (created) and takes a file: checked before
    a minute of training, not after."""
    save = Path(path).resolve()
    if save.is_dir():
        raise ValueError(f"--save must be a file path, not a directory: {path}")
    try:
        save.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OSError(f"--save: cannot create the directory {save.parent} ({exc.strerror})") from None
    try:  # a real write: permission bits say nothing to root, or on a read-only or special filesystem
        with tempfile.TemporaryFile(dir=save.parent):
            pass
    except OSError as exc:
        raise OSError(f"--save: cannot write in the directory {save.parent} ({exc.strerror})") from None
    return save


def _parse_only(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in catalog.EXPERIMENTS]
    if not names or unknown:
        raise ValueError(f"--only must be a comma-separated subset of {','.join(catalog.EXPERIMENTS)}; "
                         f"got {text!r}")
    return list(dict.fromkeys(names))


def _reproduce(args: argparse.Namespace) -> int:
    from . import experiments, lattice, report

    # default: every experiment that has this profile (e.g. only the floor has "paper-2x")
    figures = _parse_only(args.only) if args.only is not None else [
        name for name, exp in experiments.EXPERIMENTS.items() if args.profile in exp.profiles]
    jobs = lattice.check_int(args.jobs, "--jobs", 1)
    if args.scheduler is not None and args.executor != "dask":
        raise ValueError("--scheduler is a dask scheduler's address: it needs --executor dask")
    if args.executor == "dask":
        from . import cluster
        cluster._import_distributed()  # not installed: say so before any notebook starts
    device = _device_arg(args.device, here=args.scheduler is None)  # a cluster's workers resolve it there
    out = Path(args.out).resolve()
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out must be a directory (the results root); got a file: {out}")
    for fig in figures:  # bad caches, unwritable --out, missing notebooks: exit 2 before any work
        experiments.check_results(fig, args.profile, out)
        notebook = NOTEBOOK_DIR / experiments.EXPERIMENTS[fig].notebook
        if not notebook.is_file():
            raise FileNotFoundError(f"notebook {notebook} not found (fdlf reproduce runs from a source checkout: "
                                    f"pip install -e .)")
    try:
        import papermill  # heavy, and part of the notebook stack: only for this command
    except ImportError:
        raise FileNotFoundError("papermill is not installed (fdlf reproduce executes notebooks): "
                                "pip install -e '.[notebooks]'") from None

    status = {}
    with _kernel_tempdir() as kernel_dir:
        for fig in figures:
            status[fig] = _execute_figure(papermill, fig, args.profile, jobs, out, kernel_dir,
                                          {"executor": args.executor, "scheduler": args.scheduler, "device": device})
    print(f"tables and claims of every figure under {out}: {report.write_results_readme(out)}")
    width = max(8, *map(len, figures))  # "fig2_attention" is wider than the header
    print(f"{'figure':<{width}} {'status':<10} {'wall s':>8}  claims  results")
    for fig, (state, wall, passed) in status.items():
        print(f"{fig:<{width}} {state:<10} {wall:>8.1f}  {passed or '-':>6}  "
              f"{experiments.result_dir(out, fig, args.profile)}")
    return 1 if any(state != "ok" for state, _, _ in status.values()) else 0


@contextlib.contextmanager
def _kernel_tempdir():
    """This process's temporary directory for the notebook kernel's connection file, removed on exit.

    jupyter_client writes the connection file with ``tempfile.mkstemp``; a SIGKILL leaves it behind. Each
    file is removed as soon as its kernel is ready (see ``_execute_figure``), and the directories of
    invocations that were killed before that (their pid is gone) are removed here on the next start.
    """
    root = Path(tempfile.gettempdir())
    for stale in root.glob("fdlf-reproduce-*-*"):
        pid = stale.name.split("-")[2]
        if pid.isdigit() and not _alive(int(pid)) and stale.stat().st_uid == os.getuid():
            shutil.rmtree(stale, ignore_errors=True)
    # private (0700), created exclusively, unguessable: the connection file holds the kernel's key
    directory = Path(tempfile.mkdtemp(prefix=f"fdlf-reproduce-{os.getpid()}-"))
    previous, tempfile.tempdir = tempfile.tempdir, str(directory)
    try:
        yield directory
    finally:
        tempfile.tempdir = previous
        shutil.rmtree(directory, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _execute_figure(papermill, fig: str, profile: str, jobs: int, out: Path, kernel_dir: Path,
                    where: dict) -> tuple:
    """Execute ``fig``'s notebook into its results folder; ``(status, wall s, claims passed or None)``.
    ``where``: the notebook's ``executor``, ``scheduler`` and ``device`` parameters."""
    from . import experiments, paper, runner

    notebook = experiments.EXPERIMENTS[fig].notebook
    target = experiments.result_dir(out, fig, profile) / notebook
    print(f"== {fig} ({profile}): executing {notebook} -> {target}", flush=True)
    start = time.perf_counter()

    def forget_connection_file(**_):  # the kernel has read it and the client holds its contents
        for path in kernel_dir.glob("*.json"):
            path.unlink(missing_ok=True)
    try:
        # a concurrent reproduction of the same figure would overwrite this one's executed notebook
        with runner.exclusive(experiments.result_dir(out, fig, profile), ".reproduce.lock", "fdlf reproduce"):
            papermill.execute_notebook(
                str(NOTEBOOK_DIR / notebook), str(target), cwd=str(NOTEBOOK_DIR), kernel_name="python3",
                parameters={"profile": profile, "jobs": jobs, "out_dir": str(out), "interactive": False, **where},
                progress_bar=False, stdout_file=sys.stdout, stderr_file=sys.stderr,
                on_notebook_start=forget_connection_file)
        summary = experiments.load_results(out, fig, profile).summary
        checked = experiments.check_claims(out, fig, profile) if fig in paper.CHECKS else []
        print(f"\n{paper.format_comparison(paper.compare(fig, summary))}\n\n{paper.format_claims(checked)}\n")
    except papermill.PapermillExecutionError as exc:
        return f"FAILED: {exc.ename}: {exc.evalue}", time.perf_counter() - start, None
    except Exception as exc:  # a dead kernel, unreadable results, a concurrent run: report it, go on
        return f"FAILED: {type(exc).__name__}: {exc}", time.perf_counter() - start, None
    return "ok", time.perf_counter() - start, f"{sum(c.passed for c in checked)}/{len(checked)}"


# Voila's lab template minus its CDN icon fonts, so an explorer page makes no request off this machine
VOILA_TEMPLATES = Path(__file__).resolve().parent.parent / "widgets" / "share"


def explorer_server(name: str, port: int, lab: bool = False) -> tuple[list[str], dict[str, str], str]:
    """The command, environment and URL that serve explorer ``name`` on ``127.0.0.1:port``: Voila with
    the offline ``fdlf`` template, or JupyterLab. Uses this interpreter's environment, whether or not its
    ``bin/`` is on PATH."""
    import importlib.util

    from . import lattice

    if name not in PAGES:
        raise ValueError(f"explorer must be one of {list(PAGES)}; got {name!r}")
    notebook = NOTEBOOK_DIR / ("00_tour.ipynb" if name == "tour" else f"explore_{name}.ipynb")
    if not notebook.is_file():
        raise FileNotFoundError(f"explorer notebook {notebook} not found (fdlf explore runs from a source "
                                f"checkout: pip install -e '.[notebooks]')")
    port = lattice.check_int(port, "port", 1024, 65535)
    server = "jupyterlab" if lab else "voila"
    if importlib.util.find_spec(server) is None:
        raise FileNotFoundError(f"{server} is not installed: pip install -e '.[notebooks]'")
    env = dict(os.environ)
    if lab:
        options, url = ["--ServerApp.ip=127.0.0.1"], f"http://127.0.0.1:{port}/lab/tree/{notebook.name}"
    else:
        options, url = ["--Voila.ip=127.0.0.1", "--template=fdlf"], f"http://127.0.0.1:{port}/"
        env["JUPYTER_PATH"] = os.pathsep.join(p for p in (str(VOILA_TEMPLATES), env.get("JUPYTER_PATH")) if p)
    command = [sys.executable, "-m", server, str(notebook), f"--port={port}", "--no-browser", *options]
    return command, env, url


def _explore(args: argparse.Namespace) -> int:
    import subprocess

    command, env, url = explorer_server(args.name, args.port, args.lab)
    print(f"fdlf explore {args.name}: {url}  (Ctrl-C stops the server)", flush=True)
    try:
        return subprocess.call(command, cwd=NOTEBOOK_DIR, env=env)
    except KeyboardInterrupt:
        return 0


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line usage error, like every other error of the command (--help has the usage)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="fdlf", description=__doc__)
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error (default: one line)")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="train a LocalCNN on one FDLF teacher and evaluate it at larger L")
    demo.add_argument("--family", default="simple_local", choices=sorted(catalog.FAMILIES))
    demo.add_argument("--L", type=int, default=16, help="training lattice size (even, >= 4)")
    demo.add_argument("--eval-sizes", type=int, nargs="+", default=[16, 32, 64], help="evaluation sizes")
    demo.add_argument("--steps", type=int, default=1500, help="DSM steps (paper: 1500)")
    demo.add_argument("--batch-size", type=int, default=16, help="teacher samples per step (paper: 16)")
    demo.add_argument("--lr", type=float, default=5e-4)
    demo.add_argument("--blocks", type=int, default=1, help="residual blocks B, R_eff = 2B + 2")
    demo.add_argument("--width", type=int, default=32)
    demo.add_argument("--seed", type=int, default=0, help="model init, training and evaluation seed")
    demo.add_argument("--teacher-seed", type=int, default=0)
    demo.add_argument("--eval-n", type=int, default=8, help="evaluation samples per size (paper: 8)")
    demo.add_argument("--save", default=None, help="write the trained checkpoint here (atomic)")
    demo.add_argument("--device", default="cpu", help=f"where the model trains: {', '.join(catalog.DEVICES)} or cuda:N "
                                                      f"(teachers stay on the CPU in float64)")
    demo.set_defaults(func=_demo)
    rep = sub.add_parser("reproduce", help="regenerate the paper's figures headlessly (papermill); "
                                           "results, HTML figures and executed notebooks under --out")
    rep.add_argument("--profile", default="quick", choices=catalog.PROFILES,
                     help="quick: minutes, for CI; paper: the Appendix C budget with 3 seeds; paper-2x: the "
                          "floor at twice its paper budget (its convergence check); sweep: the size-transfer "
                          "sweep (144 runs, hours: use --executor dask); sweep-1seed: its first seed (48 runs)")
    rep.add_argument("--only", default=None, help=f"comma-separated subset of {','.join(catalog.EXPERIMENTS)} "
                                                  f"(default: every one with the profile)")
    rep.add_argument("--jobs", type=int, default=1,
                     help="training runs in parallel (processes; with --executor dask and no --scheduler, the "
                          "local cluster's workers)")
    rep.add_argument("--executor", default="process", choices=catalog.EXECUTORS,
                     help="process: this machine (inline or a process pool); dask: a dask.distributed cluster "
                          "(pip install -e '.[dask]'), a local one unless --scheduler is given")
    rep.add_argument("--device", default="cpu", help=f"where the models train: {', '.join(catalog.DEVICES)} or cuda:N "
                                                     f"(teachers and random draws stay on the CPU)")
    rep.add_argument("--scheduler", default=None,
                     help="with --executor dask: the address of a running dask scheduler (tcp://host:8786); its "
                          "workers need fdlf installed, not this machine's files")
    rep.add_argument("--out", default="results", help="results root (default: ./results)")
    rep.set_defaults(func=_reproduce)
    exp = sub.add_parser("explore", help="open an interactive explorer (Voila, or JupyterLab with --lab)")
    exp.add_argument("name", choices=PAGES, help="which explorer, or the tour (all of them, with the story)")
    exp.add_argument("--lab", action="store_true", help="open it in JupyterLab instead of Voila")
    exp.add_argument("--port", type=int, default=8866, help="local port (default 8866)")
    exp.set_defaults(func=_explore)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print(f"fdlf {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # one line, whatever it is; --debug shows where it came from
        if args.debug:
            raise
        first = str(exc).splitlines()[0] if str(exc) else ""
        if isinstance(exc, (ValueError, TypeError, OSError)):  # bad input: the message names it
            print(f"fdlf {args.command}: error: {first}", file=sys.stderr)
        else:  # unexpected: name the kind, and how to see where it came from
            print(f"fdlf {args.command}: error: {type(exc).__name__}: {first} (run fdlf --debug {args.command} "
                  f"... for the traceback)", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
