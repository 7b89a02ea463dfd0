"""cli: `fdlf demo` end to end on a tiny budget (through runner.execute_run); `fdlf reproduce` refuses bad
input and damaged caches with exit 2 before any work, reports a figure that fails, refuses a second
reproduction of a figure that is running, and leaves no kernel connection file; bad input exits 2 with one
line, no traceback."""
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import torch

from fdlf_core import experiments as ex
from fdlf_core import runner
from fdlf_core.cli import main
from fdlf_core.training import load_checkpoint

TINY = ["demo", "--L", "8", "--steps", "4", "--batch-size", "2", "--eval-sizes", "8", "16", "--eval-n", "2"]


def _rows(out: str) -> list[list[str]]:
    return [line.split() for line in out.splitlines() if line.strip().split(" ")[0] in ("8", "16")]


def test_demo_prints_a_row_per_size_and_saves_a_loadable_checkpoint(tmp_path, capsys):
    ckpt = tmp_path / "demo.pt"
    assert main(TINY + ["--save", str(ckpt)]) == 0
    out = capsys.readouterr().out
    rows = _rows(out)
    assert [r[0] for r in rows] == ["8", "16"] and all(len(r) == 7 for r in rows)
    # score RMSE, near / far relative ("undef." where the exact band response is ~0), near / far of total
    assert all(float(v) >= 0 for r in rows for v in r[1:2] + r[4:6])
    assert all(v == "undef." or float(v) >= 0 for r in rows for v in r[2:4])
    assert "'undef.': the exact response of that band is below 5 % of the total" in out
    assert "seed 10000, disjoint from training" in out  # evaluation on eval_seed = 10000 + seed
    loaded = load_checkpoint(ckpt)
    assert loaded.config.steps == 4 and loaded.config.seed == 0 and loaded.data_config.family == "simple_local"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo.pt"]  # the temporary checkpoint dir is gone


def test_demo_is_the_sweep_run_through_the_runner_and_writes_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    calls = []
    real = runner.execute_run

    def spy(spec, checkpoint_dir, progress=False, device="cpu"):
        assert device == "cpu"  # --device's default
        out = real(spec, checkpoint_dir, progress=False, device=device)
        calls.append((spec, checkpoint_dir, out))
        return out
    monkeypatch.setattr(runner, "execute_run", spy)
    assert main(TINY + ["--seed", "3", "--family", "complex_local"]) == 0
    ((spec, checkpoint_dir, out),) = calls
    assert checkpoint_dir is None and list(tmp_path.iterdir()) == []
    assert (spec.family, spec.seed, spec.eval_seed, spec.train["L"], spec.train["steps"]) == ("complex_local", 3,
                                                                                             10_003, 8, 4)
    assert spec.eval_sizes == spec.response_sizes == (8, 16) and spec.eval_n == spec.response_n == 2
    printed = _rows(capsys.readouterr().out)
    assert [float(r[1]) for r in printed] == pytest.approx([row["score_rmse"] for row in out["rows"]], abs=5e-4)
    assert [float(r[5]) for r in printed] == pytest.approx([row["far_of_total"] for row in out["rows"]], abs=5e-4)
    shown = lambda v: "undef." if v != v else f"{v:.3f}"
    assert [r[3] for r in printed] == [shown(row["far"]) for row in out["rows"]]


@pytest.mark.parametrize("args,message", [
    (["--L", "7"], "L must be an even integer"),
    (["--eval-sizes", "8", "5"], "--eval-sizes must be an even integer"),
    (["--steps", "0"], "steps must be"),
    (["--blocks", "-1"], "blocks must be"),
    (["--lr", "nan"], "lr must be"),
])
def test_bad_input_exits_2_without_traceback(args, message):
    proc = subprocess.run([sys.executable, "-m", "fdlf_core.cli"] + TINY + args, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2
    assert message in proc.stderr and "Traceback" not in proc.stderr


def test_unknown_family_is_an_argparse_error():
    proc = subprocess.run([sys.executable, "-m", "fdlf_core.cli", "demo", "--family", "nope"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "invalid choice" in proc.stderr


def test_save_to_a_directory_is_rejected_before_training(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "fdlf_core.cli"] + TINY + ["--save", str(tmp_path)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "--save must be a file path" in proc.stderr
    assert "trained in" not in proc.stdout


# ------------------------------------------------------------------------------------------ reproduce

@pytest.mark.parametrize("args,message", [
    (["--only", "fig9"], "--only must be a comma-separated subset"),
    (["--only", ","], "--only must be a comma-separated subset"),
    (["--jobs", "0"], "--jobs must be"),
    (["--device", "gpu"], "--device must be one of"),
    (["--scheduler", "tcp://127.0.0.1:8786"], "--scheduler is a dask scheduler's address: it needs --executor dask"),
])
def test_reproduce_bad_input_exits_2(args, message, tmp_path, capsys):
    assert main(["reproduce", "--out", str(tmp_path)] + args) == 2
    assert message in capsys.readouterr().err


def test_reproduce_into_an_unusable_directory_exits_2(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    assert main(["reproduce", "--only", "fig1", "--out", str(tmp_path / "file" / "results")]) == 2
    assert "fdlf reproduce: error:" in capsys.readouterr().err


def test_reproduce_refuses_a_corrupt_cache_with_exit_2(tmp_path, capsys):
    d = tmp_path / "fig1" / "quick"
    d.mkdir(parents=True)
    (d / "runs.jsonl").write_text("garbage\n")
    assert main(["reproduce", "--only", "fig1", "--out", str(tmp_path)]) == 2
    assert "is not JSON" in capsys.readouterr().err
    assert (d / "runs.jsonl").read_text() == "garbage\n"


def test_reproduce_unknown_profile_is_an_argparse_error(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["reproduce", "--profile", "huge"])
    assert exc.value.code == 2 and "invalid choice" in capsys.readouterr().err


def _reproduce_with_unreadable_results(tmp_path, monkeypatch, capsys, stub_report: bool):
    # every notebook "runs" (stubbed) but its results cannot be read: the others still run, the table is printed
    import papermill

    from fdlf_core import report
    executed = []
    monkeypatch.setattr(papermill, "execute_notebook", lambda source, *args, **kwargs: executed.append(source))
    read = []

    def unreadable(out, name, profile):
        read.append(name)
        raise ValueError(f"{name} results are damaged")
    monkeypatch.setattr(ex, "load_results", unreadable)
    if stub_report:
        monkeypatch.setattr(report, "write_results_readme", lambda out: tmp_path / "README.md")
    assert main(["reproduce", "--out", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    figures = [name for name, exp in ex.EXPERIMENTS.items() if "quick" in exp.profiles]  # the default profile's
    assert read[:len(figures)] == figures and {"fig1", "fig2", "fig4", "table5"} <= set(read)
    # each figure executes its own notebook (the experiment's .notebook)
    assert [p.rsplit("/", 1)[-1] for p in executed] == [ex.EXPERIMENTS[name].notebook for name in figures]
    for fig in figures:
        assert f"{fig:<8} FAILED: ValueError: {fig} results are damaged" in out


def test_a_figure_that_fails_after_its_notebook_still_gets_a_status_row(tmp_path, monkeypatch, capsys):
    _reproduce_with_unreadable_results(tmp_path, monkeypatch, capsys, stub_report=True)


def test_unreadable_results_do_not_stop_the_results_readme_and_the_status_table(tmp_path, monkeypatch, capsys):
    _reproduce_with_unreadable_results(tmp_path, monkeypatch, capsys, stub_report=False)


def test_reproduce_runs_every_experiment_that_has_the_profile(tmp_path, monkeypatch, capsys):
    import papermill

    executed = []
    monkeypatch.setattr(papermill, "execute_notebook", lambda source, *args, **kwargs: executed.append(source))
    monkeypatch.setattr(ex, "load_results", lambda out, name, profile: (_ for _ in ()).throw(ValueError("stub")))
    main(["reproduce", "--profile", "paper-2x", "--out", str(tmp_path)])
    assert [p.rsplit("/", 1)[-1] for p in executed] == [ex.EXPERIMENTS["floor"].notebook]  # only the floor has it
    capsys.readouterr()
    assert main(["reproduce", "--profile", "paper-2x", "--only", "fig1", "--out", str(tmp_path)]) == 2
    assert "profile must be one of ['paper', 'quick']" in capsys.readouterr().err


def test_reproduce_hands_the_executor_to_every_notebook(tmp_path, monkeypatch, capsys):
    import papermill

    given = []
    monkeypatch.setattr(papermill, "execute_notebook", lambda source, target, **kwargs: given.append(kwargs["parameters"]))
    monkeypatch.setattr(ex, "load_results", lambda out, name, profile: (_ for _ in ()).throw(ValueError("stub")))
    main(["reproduce", "--only", "fig1,fig4", "--executor", "dask", "--scheduler", "tcp://10.0.0.5:8786",
          "--jobs", "3", "--out", str(tmp_path)])
    assert [(p["executor"], p["scheduler"], p["jobs"], p["device"]) for p in given] == \
        [("dask", "tcp://10.0.0.5:8786", 3, "cpu")] * 2
    given.clear()
    main(["reproduce", "--only", "fig1", "--out", str(tmp_path), "--device", "auto"])
    assert (given[0]["executor"], given[0]["scheduler"], given[0]["device"]) == \
        ("process", None, "cuda" if torch.cuda.is_available() else "cpu")  # resolved here: this machine runs them
    given.clear()  # a cluster's workers resolve the name themselves
    main(["reproduce", "--only", "fig1", "--out", str(tmp_path), "--executor", "dask", "--scheduler", "tcp://h:1",
          "--device", "cuda:1"])
    assert given[0]["device"] == "cuda:1"


def test_a_second_reproduction_of_the_same_figure_is_refused_without_touching_its_notebook(tmp_path, monkeypatch,
                                                                                          capsys):
    import papermill

    executed = []
    monkeypatch.setattr(papermill, "execute_notebook", lambda source, *args, **kwargs: executed.append(source))
    with runner.exclusive(ex.result_dir(tmp_path, "fig1", "quick"), ".reproduce.lock"):  # the first one, running
        assert main(["reproduce", "--only", "fig1", "--out", str(tmp_path)]) == 1
    assert executed == []
    assert "fig1     FAILED: ValueError: another fdlf reproduce is writing" in capsys.readouterr().out


def test_the_kernel_connection_file_is_removed_once_the_kernel_is_ready(tmp_path, monkeypatch, capsys):
    import papermill

    seen = []

    def execute(source, target, **kwargs):  # what papermill does: write the file, start, call the hook
        fd, path = tempfile.mkstemp(".json")
        os.close(fd)
        kwargs["on_notebook_start"](notebook=None)
        seen.append((Path(path).parent.name, Path(path).exists()))
    monkeypatch.setattr(papermill, "execute_notebook", execute)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    stale = tmp_path / "fdlf-reproduce-999999999-x1y2"  # a killed invocation's (no such pid)
    (stale / "tmpabc.json").parent.mkdir()
    (stale / "tmpabc.json").write_text("{}")
    monkeypatch.setattr(ex, "load_results", lambda out, name, profile: (_ for _ in ()).throw(ValueError("stub")))
    main(["reproduce", "--only", "fig1", "--out", str(tmp_path / "results")])
    (folder, exists), = seen
    assert folder.startswith(f"fdlf-reproduce-{os.getpid()}-") and not exists
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results"]  # its own and the stale one are gone
    assert tempfile.tempdir == str(tmp_path)


def test_an_unexpected_error_is_one_line_and_debug_shows_the_traceback(tmp_path, monkeypatch, capsys):
    from fdlf_core import cli

    def broken(args):
        raise RuntimeError("something deep\nwith a second line")
    monkeypatch.setattr(cli, "_reproduce", broken)
    assert main(["reproduce", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err == ("fdlf reproduce: error: RuntimeError: something deep (run fdlf --debug reproduce ... for the "
                   "traceback)\n")
    with pytest.raises(RuntimeError, match="something deep"):
        main(["--debug", "reproduce", "--out", str(tmp_path)])


def test_the_command_line_parses_before_it_imports_torch():
    # `fdlf --help` and usage errors answer without seconds of imports; the names it offers match the core's
    code = ("import sys; from fdlf_core import cli; cli.build_parser().parse_args(['demo', '--L', '8']); "
            "print('torch' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"
    from fdlf_core import catalog, teachers
    assert catalog.FAMILIES == tuple(teachers.FAMILIES) and catalog.EXPERIMENTS == tuple(ex.EXPERIMENTS)
    assert set(catalog.PROFILES) == set(ex.PROFILES)
