"""experiments: run expansion, hashing, result files, resume, caches, failures; paper claims; plots."""
import concurrent.futures as cf
import dataclasses
import json
import math

import plotly.graph_objects as go
import pytest
import torch

from fdlf_core import experiments as ex
from fdlf_core import paper, plots, runner
from fdlf_core.cli import main


@pytest.fixture
def tiny(monkeypatch):
    """fig1 shrunk to seconds: train L=8, eval 8 and 12, 3 steps, 2 seeds, two families."""
    exp = ex.EXPERIMENTS["fig1"]
    small = dataclasses.replace(exp, families=("simple_local", "complex_local"), train_L=8, eval_sizes=(8, 12),
                                response_sizes=(12,),
                                profiles={"quick": ex.Budget(3, 2, 2, 2, (0, 1), width=4),
                                          "paper": ex.Budget(4, 2, 2, 2, (0, 1, 2), width=4)})
    monkeypatch.setitem(ex.EXPERIMENTS, "fig1", small)
    return small


def test_paper_profiles_follow_appendix_c():
    f1, f2 = ex.EXPERIMENTS["fig1"], ex.EXPERIMENTS["fig2"]
    assert (f1.train_L, f1.eval_sizes, f1.blocks) == (16, (16, 32, 48, 64), (1,))
    assert f1.families == ("simple_local", "complex_local", "complex_long")
    assert (f2.train_L, f2.eval_sizes, f2.response_sizes, f2.blocks) == (32, (32, 64), (64,), (1, 3, 6))
    assert f2.families == ("simple_local", "medium_range", "complex_long")
    p1, p2 = f1.profiles["paper"], f2.profiles["paper"]
    assert (p1.steps, p1.batch_size, p1.eval_n, p1.response_n, p1.lr) == (1500, 16, 8, 8, 5e-4)
    assert (p2.steps, p2.batch_size, p2.eval_n, p2.response_n) == (1500, 8, 4, 4)
    assert (p1.sigma_min, p1.sigma_max) == (0.005, 1.0) and p1.seeds == p2.seeds == (0, 1, 2)
    assert [s.R_eff for s in ex.expand("fig2", "paper")[:9:3]] == [4, 8, 14]


def test_expand_is_family_x_blocks_x_seed_with_distinct_stable_ids():
    specs = ex.expand("fig2", "paper")
    assert len(specs) == 3 * 3 * 3
    ids = [s.run_id for s in specs]
    assert len(set(ids)) == len(ids)
    assert ids == [s.run_id for s in ex.expand("fig2", "paper")]  # stable across calls
    assert len({s.train_id for s in specs}) == len(specs)
    # a change of evaluation keeps the checkpoint key, a change of training does not
    assert dataclasses.replace(specs[0], eval_n=5).train_id == specs[0].train_id
    assert dataclasses.replace(specs[0], train={**specs[0].train, "steps": 7}).train_id != specs[0].train_id
    # the id depends on content, not on labels: relabelling the profile keeps it
    assert dataclasses.replace(specs[0], profile="other").run_id == specs[0].run_id
    assert dataclasses.replace(specs[0], eval_n=5).run_id != specs[0].run_id


@pytest.mark.parametrize("call,match", [
    (lambda: ex.expand("fig9", "quick"), "experiment must be one of"),
    (lambda: ex.expand("fig1", "huge"), "profile must be one of"),
    (lambda: ex.expand("fig1", "quick", families=["medium_range"]), "family must be one of"),
    (lambda: ex.run_experiment("fig1", "quick", jobs=0), "jobs must be"),
])
def test_bad_experiment_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_executor_type_is_checked(tmp_path):
    with pytest.raises(TypeError, match="executor must be"):
        ex.run_experiment("fig1", "quick", out=tmp_path, executor="pool")


def test_summarize_mean_and_sem():
    rows = [{"family": "a", "blocks": 1, "R_eff": 4, "L": 8, "score_rmse": v, "near": None, "far": None}
            for v in (1.0, 2.0, 4.0)]
    (entry,) = ex.summarize(rows)
    assert entry["n_seeds"] == 3 and entry["score_rmse_mean"] == pytest.approx(7 / 3)
    assert entry["score_rmse_sem"] == pytest.approx(math.sqrt(((1 - 7 / 3) ** 2 + (2 - 7 / 3) ** 2 + (4 - 7 / 3) ** 2)
                                                              / 2 / 3))
    assert math.isnan(entry["near_mean"]) and math.isnan(ex.summarize(rows[:1])[0]["score_rmse_sem"])


def test_run_writes_results_and_resumes(tiny, tmp_path):
    res = ex.run_experiment("fig1", "quick", out=tmp_path, progress=False)
    d = tmp_path / "fig1" / "quick"
    rows = runner.read_runs(d / "runs.jsonl")
    assert len(rows) == 2 * 2 * 2 == len(res.rows)  # families x seeds x eval sizes
    row = rows[0]
    assert {"teacher", "model", "train", "score_rmse", "train_wall_s", "run_id", "R_eff"} <= set(row)
    assert [r["near"] is None for r in rows if r["L"] == 8] == [True] * 4
    assert all(r["near"] > 0 and r["far"] > 0 for r in rows if r["L"] == 12)
    summary = ex.read_summary(d / "summary.csv")
    assert len(summary) == 2 * 2 and all(s["n_seeds"] == 2 for s in summary)
    assert summary[0]["score_rmse_mean"] == pytest.approx(res.summary[0]["score_rmse_mean"], rel=1e-5)
    manifest = json.loads((d / "manifest.json").read_text())
    assert manifest["format"] == runner.RESULTS_FORMAT and manifest["profile"] == "quick"
    assert {"versions", "git_revision", "machine"} <= set(manifest["provenance"])
    assert all(r["status"] == "done" and r["wall_s"] > 0 for r in manifest["runs"].values())
    assert len(list((d / "checkpoints").glob("*.pt"))) == 4

    # resume: nothing is retrained, the rows are the same
    before = (d / "runs.jsonl").read_text()
    res2 = ex.run_experiment("fig1", "quick", out=tmp_path, progress=False)
    assert (d / "runs.jsonl").read_text() == before and len(res2.rows) == 8

    # a lost runs.jsonl is rebuilt from the cached checkpoints with identical numbers
    (d / "runs.jsonl").unlink()
    res3 = ex.run_experiment("fig1", "quick", out=tmp_path, progress=False)
    assert all(r["checkpoint_cached"] for r in res3.rows)
    key = lambda r: (r["run_id"], r["L"])
    assert [r["score_rmse"] for r in sorted(res3.rows, key=key)] == [r["score_rmse"] for r in sorted(rows, key=key)]


def test_same_seed_same_numbers_with_any_executor(tiny, tmp_path):
    a = ex.run_experiment("fig1", "quick", out=tmp_path / "a", progress=False)
    with cf.ThreadPoolExecutor(1) as pool:  # any Executor plugs in (one thread: model init seeds torch's global RNG)
        b = ex.run_experiment("fig1", "quick", out=tmp_path / "b", executor=pool, progress=False)
    key = lambda r: (r["run_id"], r["L"])
    assert [r["score_rmse"] for r in sorted(a.rows, key=key)] == [r["score_rmse"] for r in sorted(b.rows, key=key)]


def test_corrupt_or_foreign_files_stop_before_training_and_are_kept(tiny, tmp_path):
    d = tmp_path / "fig1" / "quick"
    d.mkdir(parents=True)
    (d / "runs.jsonl").write_text('{"run_id": "x", "L": 8}\n{broken\n')
    with pytest.raises(ValueError, match="line 2 is not JSON"):
        ex.run_experiment("fig1", "quick", out=tmp_path, progress=False)
    assert (d / "runs.jsonl").read_text().endswith("{broken\n")
    (d / "runs.jsonl").unlink()

    spec = ex.expand("fig1", "quick")[0]
    ckpt = d / "checkpoints" / f"{spec.train_id}.pt"
    ckpt.parent.mkdir()
    ckpt.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a readable fdlf checkpoint"):
        ex.run_experiment("fig1", "quick", out=tmp_path, progress=False)
    assert ckpt.read_bytes() == b"not a checkpoint" and not (d / "runs.jsonl").exists()

    (d / "manifest.json").write_text('{"format": "someone-else"}')
    ckpt.unlink()
    with pytest.raises(ValueError, match="not an fdlf manifest"):
        ex.run_experiment("fig1", "quick", out=tmp_path, progress=False)


def test_checkpoint_of_another_run_is_refused_before_training(tiny, tmp_path, capsys):
    ex.run_experiment("fig1", "quick", out=tmp_path, progress=False)
    d = tmp_path / "fig1" / "quick"
    specs = ex.expand("fig1", "quick")
    (d / "runs.jsonl").unlink()
    a, b = (d / "checkpoints" / f"{s.train_id}.pt" for s in specs[:2])
    a.write_bytes(b.read_bytes())  # run 0's cache now holds run 1's model
    with pytest.raises(ValueError, match="holds a different run's model"):
        ex.run_experiment("fig1", "quick", out=tmp_path, progress=False)
    assert not (d / "runs.jsonl").exists() and a.read_bytes() == b.read_bytes()
    assert main(["reproduce", "--only", "fig1", "--profile", "quick", "--out", str(tmp_path)]) == 2
    assert "holds a different run's model" in capsys.readouterr().err


def test_damaged_checkpoint_content_is_a_clear_error(tiny, tmp_path):
    spec = ex.expand("fig1", "quick")[0]
    ckpt = tmp_path / "fig1" / "quick" / "checkpoints" / f"{spec.train_id}.pt"
    ckpt.parent.mkdir(parents=True)
    torch.save({"format": "fdlf.checkpoint/1"}, ckpt)  # right tag, no content
    with pytest.raises(ValueError, match="damaged fdlf checkpoint"):
        ex.run_experiment("fig1", "quick", out=tmp_path, progress=False)


def test_a_second_writer_on_the_same_directory_is_refused(tiny, tmp_path):
    d = tmp_path / "fig1" / "quick"
    d.mkdir(parents=True)
    with runner.exclusive(d):
        with pytest.raises(ValueError, match="another fdlf run is writing"):
            ex.run_experiment("fig1", "quick", out=tmp_path, progress=False)


def test_process_pool_matches_inline(tiny, tmp_path):
    a = ex.run_experiment("fig1", "quick", out=tmp_path / "a", progress=False)
    with runner.process_pool(2, threads=2) as pool:  # the same thread count as this process: same reductions
        b = ex.run_experiment("fig1", "quick", out=tmp_path / "b", executor=pool, progress=False)
    key = lambda r: (r["run_id"], r["L"])
    assert [r["score_rmse"] for r in sorted(a.rows, key=key)] == [r["score_rmse"] for r in sorted(b.rows, key=key)]


def test_eval_seed_is_disjoint_from_training_seed():
    for spec in ex.expand("fig2", "paper"):
        assert spec.eval_seed != spec.train["seed"] and spec.eval_seed == ex.EVAL_SEED_OFFSET + spec.seed


def test_unwritable_results_directory(tiny, tmp_path, monkeypatch):
    # CI runs as root, which ignores permission bits, so the access check itself is simulated
    monkeypatch.setattr(runner.os, "access", lambda path, mode: False)
    with pytest.raises(PermissionError, match="is not writable"):
        ex.run_experiment("fig1", "quick", out=tmp_path / "r", progress=False)


def test_reproduce_into_an_unusable_directory_exits_2(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    assert main(["reproduce", "--only", "fig1", "--out", str(tmp_path / "file" / "results")]) == 2
    assert "fdlf reproduce: error:" in capsys.readouterr().err


def test_failed_run_raises_after_saving_the_others(tiny, tmp_path, monkeypatch):
    real = runner.train_dsm

    def flaky(teacher, model, L, steps, batch_size, **kw):
        if teacher.config.family == "complex_local" and kw["seed"] == 1:
            raise FloatingPointError("DSM loss became nan")
        return real(teacher, model, L, steps, batch_size, **kw)

    monkeypatch.setattr(runner, "train_dsm", flaky)
    with pytest.raises(runner.ExperimentError, match="1 of 4 runs of fig1/quick failed"):
        ex.run_experiment("fig1", "quick", out=tmp_path, progress=False)
    d = tmp_path / "fig1" / "quick"
    assert len(runner.read_runs(d / "runs.jsonl")) == 3 * 2
    statuses = sorted(r["status"] for r in json.loads((d / "manifest.json").read_text())["runs"].values())
    assert statuses == ["done", "done", "done", "failed"]
    monkeypatch.setattr(runner, "train_dsm", real)
    assert len(ex.run_experiment("fig1", "quick", out=tmp_path, progress=False).rows) == 8  # resumes


def test_load_results_without_running(tiny, tmp_path):
    with pytest.raises(FileNotFoundError, match="run it first"):
        ex.load_results(tmp_path, "fig1", "quick")
    done = ex.run_experiment("fig1", "quick", out=tmp_path, progress=False)
    assert ex.load_results(tmp_path, "fig1", "quick").summary == done.summary


# ------------------------------------------------------------------------------------------ CLI input

@pytest.mark.parametrize("args,message", [
    (["--only", "fig3"], "--only must be a comma-separated subset"),
    (["--jobs", "0"], "--jobs must be"),
])
def test_reproduce_bad_input_exits_2(args, message, tmp_path, capsys):
    assert main(["reproduce", "--out", str(tmp_path)] + args) == 2
    assert message in capsys.readouterr().err


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


def test_a_figure_that_fails_after_its_notebook_still_gets_a_status_row(tmp_path, monkeypatch, capsys):
    # fig1's notebook "runs" (stubbed) but its results cannot be read: fig2 still runs, the table is printed
    import papermill
    monkeypatch.setattr(papermill, "execute_notebook", lambda *args, **kwargs: None)
    read = []

    def unreadable(out, name, profile):
        read.append(name)
        raise ValueError(f"{name} results are damaged")
    monkeypatch.setattr(ex, "load_results", unreadable)
    assert main(["reproduce", "--out", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert read == ["fig1", "fig2", "fig4"]
    for fig in read:
        assert f"{fig}    FAILED: ValueError: {fig} results are damaged" in out


# ------------------------------------------------------------------------------------- claims, plots

def _summary(values: dict) -> list[dict]:
    """A synthetic summary: values[(family, R_eff, L)] = (rmse, far)."""
    return [{"family": f, "blocks": (R - 2) // 2, "R_eff": R, "L": L, "n_seeds": 3, "score_rmse_mean": v,
             "score_rmse_sem": 0.01, "near_mean": 0.5, "near_sem": 0.1, "far_mean": far, "far_sem": 0.1}
            for (f, R, L), (v, far) in values.items()]


def test_fig1_claims_pass_on_the_papers_shape_and_fail_otherwise():
    good = _summary({**{(f, 4, L): (0.18, 2.0) for f in ("simple_local", "complex_local") for L in (16, 64)},
                     ("complex_long", 4, 16): (0.40, 1.0), ("complex_long", 4, 64): (0.81, 1.0)})
    assert all(c.passed for c in paper.claims("fig1", good))
    bad = _summary({("simple_local", 4, 16): (0.18, 1), ("simple_local", 4, 64): (0.30, 1),
                    ("complex_local", 4, 16): (0.2, 1), ("complex_local", 4, 64): (0.2, 1),
                    ("complex_long", 4, 16): (0.5, 1), ("complex_long", 4, 64): (0.25, 1)})
    assert [c.passed for c in paper.claims("fig1", bad)] == [False, True, False, False]
    small_growth = _summary({**{(f, 4, L): (0.18, 2.0) for f in ("simple_local", "complex_local") for L in (16, 64)},
                             ("complex_long", 4, 16): (0.60, 1.0), ("complex_long", 4, 64): (0.65, 1.0)})
    assert {c.key: c.passed for c in paper.claims("fig1", small_growth)}["long_degrades"] is False


def test_fig2_claims_and_comparison():
    rows = {("simple_local", R, 64): (0.17, 3.0) for R in (4, 8, 14)}
    rows.update({("medium_range", 4, 64): (0.265, 0.69), ("medium_range", 8, 64): (0.163, 0.45),
                 ("medium_range", 14, 64): (0.141, 0.5)})
    rows.update({("complex_long", R, 64): (0.6, far) for R, far in ((4, 0.99), (8, 1.07), (14, 0.94))})
    summary = _summary(rows)
    assert all(c.passed for c in paper.claims("fig2", summary))
    rows[("complex_long", 14, 64)] = (0.5, 0.3)
    assert [c.passed for c in paper.claims("fig2", _summary(rows))] == [True, True, False]
    comp = paper.compare("fig2", summary)
    assert len(comp) == 17  # Table 3 (15 numbers) + 2 near-response values in the text
    med = next(c for c in comp if c["metric"] == "score_rmse" and c["family"] == "medium_range" and c["R_eff"] == 8)
    assert (med["paper"], med["ours"]) == (0.163, 0.163)
    assert "0.163 +/- 0.000" in paper.format_comparison(comp)
    with pytest.raises(ValueError, match="incomplete"):
        paper.claims("fig2", _summary({("simple_local", 4, 64): (0.1, 1)}))


def test_plots_build_figures_and_save_offline_html(tmp_path):
    summary = _summary({(f, R, L): (0.3, 0.9) for f in ("simple_local", "medium_range", "complex_long")
                        for R in (4, 8) for L in (32, 64)})
    fig2 = plots.receptive_field_sweep(summary, L=64)
    names = [t.name for t in fig2.data]
    assert "medium_range far" in names and "complex_long (paper)" in names and "simple_local far" not in names
    ours = next(t for t in fig2.data if t.name == "medium_range")
    assert list(ours.x) == [4, 8] and list(ours.y) == [0.3, 0.3]
    f1 = plots.size_sweep_rmse([r for r in summary if r["R_eff"] == 4])
    assert isinstance(f1, go.Figure) and {t.name for t in f1.data} >= {"simple_local", "complex_long (paper)"}
    table = plots.comparison_table(paper.compare("fig2", summary))
    assert isinstance(table.data[0], go.Table)
    paths = plots.save_html({"a": f1, "b": fig2}, tmp_path)
    assert [p.name for p in paths] == ["a.html", "b.html"] and (tmp_path / "plotly.min.js").stat().st_size > 1e6
    html = paths[0].read_text()
    assert 'src="plotly.min.js"' in html and "cdn.plot.ly" not in html
