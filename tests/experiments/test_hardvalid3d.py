"""experiments.hardvalid3d: Fig. 3 as data and through the runner: the configuration, rows with their
within-run error bars, the summary, resumption, and claims that can fail."""
import dataclasses

import pytest

from fdlf_core import experiments as ex
from fdlf_core import paper, runner
from fdlf_core.experiments.hardvalid3d import FIG3, HardValidBudget, HardValidExperiment, HardValidRun
from fdlf_core.hardvalid.model import LocalCNN3DConfig
from fdlf_core.hardvalid.teacher import FAMILIES


@pytest.fixture
def tiny(monkeypatch):
    """fig3 shrunk to seconds: small teachers are not possible (the family fixes them), so tiny boxes, a
    width-4 model, 3 steps, two families' worth of seeds."""
    small = dataclasses.replace(FIG3, eval_sizes=(4, 6), response_sizes=(6,), inset_L=6, profiles={
        "quick": HardValidBudget(steps=3, batch_size=1, eval_n=1, eval_batches=2, response_n=1, response_repeats=2,
                                 inset_n=2, seeds=(0, 1), width=4, model_options=(("zero_init", True),))})
    small = dataclasses.replace(small, train_L=4)
    monkeypatch.setitem(ex.EXPERIMENTS, "fig3", small)
    return small


def test_paper_configuration_follows_table_2():
    assert FIG3.train_L == 8 and FIG3.eval_sizes == (8, 12, 16, 24, 32, 40) and FIG3.eval_sizes[-1] == 40
    assert FIG3.families == ("hv_local", "hv_medium", "hv_long") == tuple(FAMILIES)
    specs = ex.expand("fig3", "paper")
    assert len(specs) == 3 * 3 and all(type(s) is HardValidRun for s in specs)
    assert [(s.family, s.seed) for s in specs] == [(f, k) for f in FIG3.families for k in (0, 1, 2)]
    assert specs[0].teacher == specs[1].teacher and specs[0].train["seed"] != specs[1].train["seed"]
    assert specs[0].teacher["K"] == 4 and specs[0].teacher["d_c"] == 2 and specs[0].teacher["hidden"] == 64
    assert LocalCNN3DConfig(**specs[0].model).receptive_radius == 4 == specs[0].R_eff
    assert len({s.run_id for s in specs}) == len(specs) == len({s.train_id for s in specs})
    assert all(s.eval_seed == ex.EVAL_SEED_OFFSET + s.seed for s in specs)
    assert isinstance(FIG3, HardValidExperiment) and FIG3.notebook == "03_fig3_hard_valid.ipynb"


def test_run_rows_summary_and_resume(tiny, tmp_path):
    res = ex.run_experiment("fig3", "quick", out=tmp_path, progress=False)
    d = tmp_path / "fig3" / "quick"
    assert len(res.rows) == 3 * 2 * 2 == len(runner.read_runs(d / "runs.jsonl"))
    by_L = {r["L"]: r for r in res.rows if r["family"] == "hv_long" and r["seed"] == 0}
    assert by_L[4]["near"] is None and by_L[6]["near"] is not None and by_L[6]["far_of_total_se"] >= 0
    assert by_L[4]["score_rmse"] > 0 and by_L[4]["score_rmse_se"] >= 0 and by_L[4]["R_eff"] == 4
    assert by_L[4]["far_to_near"] == by_L[6]["far_to_near"] > 0  # the teacher's, once per run
    summary = runner.read_csv(d / "summary.csv", tiny.summary_schema)
    assert len(summary) == 3 * 2 == len(res.summary) and all(r["n_seeds"] == 2 for r in summary)
    row = next(r for r in res.summary if r["family"] == "hv_long" and r["L"] == 6)
    vals = [r["score_rmse"] for r in res.rows if r["family"] == "hv_long" and r["L"] == 6]
    assert row["score_rmse_mean"] == pytest.approx(sum(vals) / 2)
    ses = [r["score_rmse_se"] for r in res.rows if r["family"] == "hv_long" and r["L"] == 6]
    assert row["score_rmse_within_se"] == pytest.approx(sum(ses) / 2)
    before = (d / "runs.jsonl").read_text()
    resumed = ex.run_experiment("fig3", "quick", out=tmp_path, progress=False)  # nothing to run
    assert [r["run_id"] for r in resumed.rows] == [r["run_id"] for r in res.rows]
    assert (d / "runs.jsonl").read_text() == before
    (d / "runs.jsonl").unlink()  # rebuilt from the cached 3D checkpoints: identical numbers
    again = ex.run_experiment("fig3", "quick", out=tmp_path, progress=False)
    assert all(r["checkpoint_cached"] for r in again.rows)
    key = lambda r: (r["run_id"], r["L"])
    assert [r["score_rmse"] for r in sorted(again.rows, key=key)] == [r["score_rmse"] for r in sorted(res.rows, key=key)]


def _summary(rmse: dict, ratios=(0.03, 0.1, 0.3)):
    ratio = dict(zip(("hv_local", "hv_medium", "hv_long"), ratios))
    return [{"family": f, "train_L": 8, "L": L, "score_rmse_mean": v, "far_to_near_mean": ratio[f]}
            for (f, L), v in rmse.items()]


def test_fig3_claims_can_fail():
    sizes = (8, 16, 40)
    good = _summary({**{(f, L): 0.3 for f in ("hv_local", "hv_medium") for L in sizes},
                     **{("hv_long", L): {8: 0.4, 16: 0.45, 40: 0.5}[L] for L in sizes}})
    checked = paper.claims("fig3", good)
    assert [(c.key, c.passed) for c in checked] == [("hv_local_stable", True), ("hv_medium_stable", True),
                                                    ("long_poorer", True), ("long_degrades", True),
                                                    ("inset_ordered", True)]
    bad = _summary({**{(f, L): 0.3 * (1 + 0.2 * (L == 40)) for f in ("hv_local", "hv_medium") for L in sizes},
                    **{("hv_long", L): 0.33 for L in sizes}}, ratios=(0.03, 0.5, 0.3))
    assert [c.passed for c in paper.claims("fig3", bad)] == [False, False, False, False, False]
    with pytest.raises(ValueError, match="incomplete"):
        paper.claims("fig3", _summary({("hv_local", 8): 0.3, ("hv_local", 16): 0.3}))
    with pytest.raises(ValueError, match="incomplete"):  # hv_long without L=16
        paper.claims("fig3", _summary({k: 0.3 for k in [(f, L) for f in ("hv_local", "hv_medium", "hv_long")
                                                          for L in sizes] if k != ("hv_long", 16)}))


def test_the_committed_paper_results_load_and_hold_the_claims():
    res = ex.load_results(ex.RESULTS_DIR, "fig3", "paper")
    assert len(res.rows) == 3 * 3 * 6 and {r["run_id"] for r in res.rows} == {s.run_id for s in ex.expand("fig3", "paper")}
    committed = ex.read_summary(ex.RESULTS_DIR / "fig3" / "paper" / "summary.csv", "fig3")
    assert [(r["family"], r["L"]) for r in committed] == [(r["family"], r["L"]) for r in res.summary]
    for a, b in zip(committed, res.summary):
        assert a["score_rmse_mean"] == pytest.approx(b["score_rmse_mean"], rel=1e-5)  # the CSV keeps 6 digits
    checked = ex.check_claims(ex.RESULTS_DIR, "fig3", "paper")
    assert [c.key for c in checked if not c.passed] == [], paper.format_claims(checked)
