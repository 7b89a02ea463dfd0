"""experiments.transfer: the size-transfer sweep's configuration, its runs through the runner (a row per
size with the training size), the summary, the ratios, the floor gaps, both figures and its notebook; diagnostics.response_radius
against teachers whose range is known."""
import dataclasses

import nbformat
import pytest

from fdlf_core import catalog, diagnostics, plots, runner, teachers
from fdlf_core import experiments as ex
from fdlf_core.cli import NOTEBOOK_DIR
from fdlf_core.experiments.fdlf2d import SweepBudget, sweep_run
from fdlf_core.models import id_fields as model_id_fields
from fdlf_core.provenance import config_hash
from fdlf_core.training import id_fields
from fdlf_core.experiments.transfer import TRANSFER, floor_gaps, transfer_ratios


def test_the_sweep_profile():
    specs = ex.expand("sweep", "sweep")
    assert {"sweep", "sweep-1seed"} <= set(catalog.PROFILES) and list(TRANSFER.profiles) == ["sweep", "sweep-1seed"]
    assert len(specs) == 4 * 6 * 2 * 3 and len({s.run_id for s in specs}) == len(specs)
    assert sorted({s.R_eff for s in specs}) == [2, 4, 6, 8, 10, 14]
    assert [s.seed for s in specs] == sorted(s.seed for s in specs)  # seed-major: a partial sweep covers every cell
    assert {(s.train["L"], s.eval_sizes) for s in specs} == {(16, (16, 64, 128, 256)), (32, (32, 64, 128, 256))}
    fig2 = next(s for s in ex.expand("fig2", "paper") if (s.family, s.blocks, s.seed) == ("medium_range", 3, 1))
    same = next(s for s in specs if (s.family, s.blocks, s.seed, s.train["L"]) == ("medium_range", 3, 1, 32))
    assert same.train_id == fig2.train_id  # Fig. 2's paper runs are this sweep's: their checkpoints can be reused
    one_seed = ex.expand("sweep", "sweep-1seed")  # the first seed's runs, the same models (one checkpoint each)
    assert [s.run_id for s in one_seed] == [s.run_id for s in specs if s.seed == 0]
    assert [s.train_id for s in one_seed] == [s.train_id for s in specs[:len(one_seed)]]


def test_every_size_is_scored_on_at_least_eval_sites_sites():
    spec = ex.expand("sweep", "sweep")[0]
    assert spec.train["L"] == 16 and [spec.eval_samples(L) for L in spec.eval_sizes] == [1024, 64, 16, 4]
    assert all(spec.eval_samples(L) * L ** 2 == 4 * 256 ** 2 for L in spec.eval_sizes)  # the sites of L=256's 4
    odd = dataclasses.replace(spec, eval_sites=1000)
    assert [odd.eval_samples(L) for L in (16, 32, 64)] == [4, 4, 4]  # eval_n stays the least: 4 x 256 >= 1000
    assert odd.eval_samples(8) == 16 and dataclasses.replace(spec, eval_sites=1025).eval_samples(16) == 5  # rounded up
    # the field came after committed results: at its default it stays out of the run id (which stays what it was)
    plain = dataclasses.replace(spec, eval_sites=0)
    content = {k: v for k, v in dataclasses.asdict(plain).items() if k not in ("experiment", "profile", "eval_sites")}
    assert plain.run_id == config_hash({**content, "teacher": teachers.id_fields(plain.teacher),
                                        "model": model_id_fields(plain.model), "train": id_fields(plain.train)})
    assert len({plain.run_id, spec.run_id, odd.run_id}) == 3 and plain.train_id == spec.train_id == odd.train_id
    for bad in (-1, True, 2.0):
        with pytest.raises(ValueError, match="eval_sites must be an int >= 0"):
            SweepBudget(steps=1, batch_size=1, eval_n=1, response_n=1, seeds=(0,), eval_sites=bad)


def test_a_run_with_eval_sites_scores_each_size_on_its_own_sample_count(tmp_path):
    budget = SweepBudget(steps=2, batch_size=2, eval_n=1, response_n=1, seeds=(0,), width=4, eval_sites=3 * 16 ** 2)
    spec = sweep_run("simple_local", 0, 8, budget, 0, (8, 16, 32))
    out = runner.execute_run(spec, tmp_path)
    assert [r["score_rmse_definition"]["n"] for r in out["rows"]] == [12, 3, 1]
    model = runner.train_or_load(spec, tmp_path)[1].model
    teacher = teachers.Teacher(teachers.TeacherConfig(**spec.teacher))
    assert [r["score_rmse"] for r in out["rows"]] == [diagnostics.score_rmse(model, teacher, L, n=n, seed=spec.eval_seed)
                                                      for L, n in ((8, 12), (16, 3), (32, 1))]


@pytest.fixture
def tiny(monkeypatch):
    small = dataclasses.replace(TRANSFER, families=("simple_local", "complex_long"), blocks=(0, 1), train_sizes=(8, 12),
                                eval_sizes=(12, 16), profiles={"sweep": SweepBudget(
                                    steps=3, batch_size=2, eval_n=2, response_n=1, seeds=(0, 1), width=4)})
    monkeypatch.setitem(ex.EXPERIMENTS, "sweep", small)
    return small


def test_runs_summary_ratios_and_the_phase_diagram(tiny, tmp_path):
    res = ex.run_experiment("sweep", "sweep", out=tmp_path, progress=False)
    assert len(res.rows) == 2 * 2 * 2 * 2 * 3 - 2 * 2 * 2  # train L=12 is also an eval size: measured once
    assert {(r["train_L"], r["L"]) for r in res.rows} == {(8, 8), (8, 12), (8, 16), (12, 12), (12, 16)}
    entry = next(r for r in res.summary if (r["family"], r["train_L"], r["R_eff"], r["L"]) == ("complex_long", 8, 4, 16))
    vals = [r["score_rmse"] for r in res.rows if (r["family"], r["train_L"], r["R_eff"], r["L"]) == ("complex_long", 8, 4, 16)]
    assert entry["n_seeds"] == 2 and entry["score_rmse_mean"] == pytest.approx(sum(vals) / 2)
    ratios = transfer_ratios(res.summary)
    assert len(ratios) == 2 * 2 * 2 and {r["L"] for r in ratios} == {16}
    one = next(r for r in ratios if (r["family"], r["train_L"], r["R_eff"]) == ("simple_local", 12, 2))
    mean = {(r["train_L"], r["L"]): r["score_rmse_mean"] for r in res.summary
            if (r["family"], r["R_eff"]) == ("simple_local", 2)}
    assert one["ratio"] == pytest.approx(mean[12, 16] / mean[12, 12])
    fig = plots.transfer_phase_diagram(ratios, {"simple_local": 2, "complex_long": 40})
    assert len(fig.data) == 2 and list(fig.data[0].y) == ["simple_local (radius 2)", "complex_long (radius 40)"]
    assert fig.data[0].z[0][0] == pytest.approx(next(r["ratio"] for r in ratios if (r["family"], r["train_L"], r["R_eff"])
                                                     == ("simple_local", 8, 2)))
    # simple_local's radius falls on the R_eff axis in both panels, not complex_long's; at L=8 the window of
    # R_eff 4 (9 sites) is wider than the lattice: a dotted line before it, across the panel
    dashed = [sh for sh in fig.layout.shapes if sh.line.dash == "dash"]
    dotted = [sh for sh in fig.layout.shapes if sh.line.dash == "dot"]
    assert len(dashed) == 2 and len(fig.layout.shapes) == 3
    assert (dotted[0].x0, dotted[0].y0, dotted[0].y1, dotted[0].xref) == (0.5, -0.5, 1.5, "x")
    assert [a.text for a in fig.layout.annotations if "window" in a.text] == ["window wider than L=8"]

    # the locality floor where it was measured (here for simple_local at R_eff 2 only)
    floor = [{"family": "simple_local", "R_eff": 2, "L": 16, "n_seeds": 1, "score_rmse_mean": 0.5, "score_rmse_sem": float("nan")},
             {"family": "simple_local", "R_eff": 2, "L": 12, "n_seeds": 1, "score_rmse_mean": 9.0, "score_rmse_sem": float("nan")}]
    gaps = floor_gaps(res.summary, floor, train_L=12, L=16)
    assert [(g["family"], g["R_eff"]) for g in gaps] == [("simple_local", 2)]
    assert gaps[0]["dsm"] == mean[12, 16] and gaps[0]["excess"] == pytest.approx(mean[12, 16] / 0.5)
    fig = plots.transfer_curves(res.summary, floor, train_L=12, sizes=(12, 16))
    # each family at both sizes; the floor only for the family it was measured for, at the first size
    assert [t.name for t in fig.data] == ["simple_local, L=12", "simple_local, L=16", "simple_local: best radius-R fit, L=12",
                                          "complex_long, L=12", "complex_long, L=16"]
    assert list(fig.data[1].y) == [mean[12, 16], next(r["score_rmse_mean"] for r in res.summary if
                                                      (r["family"], r["train_L"], r["R_eff"], r["L"]) == ("simple_local", 12, 4, 16))]


def test_response_radius_orders_the_teachers():
    radius = {f: diagnostics.response_radius(teachers.make(f), 32) for f in ("simple_local", "medium_range", "complex_long")}
    assert radius["simple_local"] <= teachers.make("simple_local").locality_radius  # inside its proven range
    assert radius["simple_local"] < radius["medium_range"] < radius["complex_long"] == 16  # the mean mode: all of it
    assert diagnostics.response_radius(teachers.make("complex_long"), 16) == 8  # grows with L
    with pytest.raises(ValueError, match="mass must be in"):
        diagnostics.response_radius(teachers.make("simple_local"), 16, mass=1.0)


def test_the_sweep_notebook_draws_both_figures_and_checks_the_claims(tiny, tmp_path, monkeypatch, capsys):
    # the notebook's own code, in this process so that it sees the tiny sweep (the real one takes hours); every
    # family, as the claims need
    monkeypatch.setitem(ex.EXPERIMENTS, "sweep", dataclasses.replace(tiny, families=TRANSFER.families))
    nb = nbformat.read(NOTEBOOK_DIR / TRANSFER.notebook, as_version=4)
    scope = {}
    for cell in (c for c in nb.cells if c.cell_type == "code"):
        exec(cell.source, scope)
        if "parameters" in cell.metadata.get("tags", []):
            scope.update(out_dir=str(tmp_path), interactive=False)
    assert {p.name for p in (tmp_path / "sweep" / "sweep").glob("*.html")} == {"sweep_phase_diagram.html",
                                                                                 "sweep_transfer_curves.html"}
    out = capsys.readouterr().out
    assert "medium_range (finite range) transfers" in out and "complex_long (its response grows with L)" in out
    assert "DSM / floor" in out  # the floor table's header, empty without the floor's results


@pytest.mark.parametrize("profile, runs", [("sweep-1seed", 48), ("sweep", 144)])
def test_the_committed_sweeps_still_load_with_all_their_rows(profile, runs):
    res = ex.load_results(ex.RESULTS_DIR, "sweep", profile)
    assert {r["run_id"] for r in res.rows} == {s.run_id for s in ex.expand("sweep", profile)}
    assert len(res.rows) == runs * 4  # each run at its training size and L = 64, 128, 256
    assert {(r["L"], r["score_rmse_definition"]["n"]) for r in res.rows} == {(16, 1024), (32, 256), (64, 64), (128, 16),
                                                                              (256, 4)}
    committed = ex.read_summary(ex.RESULTS_DIR / "sweep" / profile / "summary.csv", "sweep")
    assert [(r["family"], r["train_L"], r["R_eff"], r["L"]) for r in committed] == \
        [(r["family"], r["train_L"], r["R_eff"], r["L"]) for r in res.summary]
    assert [r["score_rmse_mean"] for r in committed] == pytest.approx([r["score_rmse_mean"] for r in res.summary], rel=1e-5)
    checked = {c.key: c.passed for c in ex.check_claims(ex.RESULTS_DIR, "sweep", profile)}
    # what results/README.md records
    assert checked == {"simple_local_transfers": True, "complex_local_transfers": True, "medium_range_transfers": True,
                       "long_degrades": True}
