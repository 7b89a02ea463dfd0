"""experiments.fdlf2d: Fig. 1 and Fig. 2 as data (profiles per Appendix C, expansion order, stable ids that
still key the committed results), the summary, and sweep_run."""
import dataclasses
import itertools
import math

import pytest

from fdlf_core import experiments as ex
from fdlf_core.experiments.fdlf2d import FIG1, FIG2, SUMMARY_SCHEMA, SweepBudget, SweepExperiment, SweepRun, sweep_run
from fdlf_core.models import LocalCNNConfig
from fdlf_core.training import TrainConfig


def test_paper_profiles_follow_appendix_c():
    f1, f2 = ex.EXPERIMENTS["fig1"], ex.EXPERIMENTS["fig2"]
    assert (f1, f2) == (FIG1, FIG2) and isinstance(f1, SweepExperiment)
    assert (f1.train_L, f1.eval_sizes, f1.blocks) == (16, (16, 32, 48, 64), (1,))
    assert f1.families == ("simple_local", "complex_local", "complex_long")
    assert (f2.train_L, f2.eval_sizes, f2.response_sizes, f2.blocks) == (32, (32, 64), (64,), (1, 3, 6))
    assert f2.families == ("simple_local", "medium_range", "complex_long")
    assert (f1.radii, f2.radii) == ((4,), (4, 8, 14))  # R_eff = 2 B + 2
    p1, p2 = f1.profiles["paper"], f2.profiles["paper"]
    assert isinstance(p1, SweepBudget) and isinstance(p2, SweepBudget)
    assert (p1.steps, p1.batch_size, p1.eval_n, p1.response_n, p1.lr) == (1500, 16, 8, 8, 5e-4)
    assert (p2.steps, p2.batch_size, p2.eval_n, p2.response_n) == (1500, 8, 4, 4)
    assert (p1.sigma_min, p1.sigma_max) == (0.005, 1.0) and p1.seeds == p2.seeds == (0, 1, 2)
    assert [s.R_eff for s in ex.expand("fig2", "paper")[:9:3]] == [4, 8, 14]
    assert (f1.notebook, f2.notebook) == ("01_fig1_size_sweep.ipynb", "02_fig2_receptive_field.ipynb")


def test_budget_is_keyword_only_and_makes_train_configs():
    with pytest.raises(TypeError):
        SweepBudget(1500, 16, (0, 1, 2), eval_n=8, response_n=8)
    with pytest.raises(TypeError, match="eval_n"):
        SweepBudget(steps=10, batch_size=2, seeds=(0,), response_n=1)
    budget = SweepBudget(steps=10, batch_size=2, seeds=(0,), eval_n=1, response_n=1, lr=1e-3)
    assert budget.train_config(16, 5) == TrainConfig(16, 10, 2, 1e-3, 0.005, 1.0, 5)
    with pytest.raises(ValueError, match="L must be"):
        budget.train_config(15, 0)


def test_expand_is_family_x_blocks_x_seed_with_distinct_stable_ids():
    specs = ex.expand("fig2", "paper")
    assert len(specs) == 3 * 3 * 3 and all(type(s) is SweepRun for s in specs)
    assert [(s.family, s.blocks, s.seed) for s in specs] == list(itertools.product(FIG2.families, FIG2.blocks,
                                                                                 (0, 1, 2)))
    ids = [s.run_id for s in specs]
    assert len(set(ids)) == len(ids)
    assert ids == [s.run_id for s in ex.expand("fig2", "paper")]  # stable across calls
    assert len({s.train_id for s in specs}) == len(specs)
    # a change of evaluation keeps the checkpoint key, a change of training does not
    assert dataclasses.replace(specs[0], eval_n=5).train_id == specs[0].train_id
    assert dataclasses.replace(specs[0], train={**specs[0].train, "steps": 7}).train_id != specs[0].train_id
    # the id depends on content, not on labels: relabelling the profile keeps it
    assert dataclasses.replace(specs[0], profile="other").run_id == specs[0].run_id
    assert dataclasses.replace(specs[0], experiment="other").run_id == specs[0].run_id
    assert dataclasses.replace(specs[0], eval_n=5).run_id != specs[0].run_id
    # a subset of families is the same runs, in the same order
    assert [s.run_id for s in ex.expand("fig2", "paper", families=["complex_long"])] == ids[18:]


def test_eval_seed_is_disjoint_from_training_seed():
    for spec in ex.expand("fig2", "paper"):
        assert spec.eval_seed != spec.train["seed"] and spec.eval_seed == ex.EVAL_SEED_OFFSET + spec.seed
    assert ex.EVAL_SEED_OFFSET == 10_000


@pytest.mark.parametrize("name,n_rows,n_summary", [("fig1", 36, 12), ("fig2", 54, 18), ("fig1_attention", 36, 12),
                                                      ("fig2_attention", 54, 18)])
def test_the_committed_paper_results_still_load_with_all_their_rows(name, n_rows, n_summary):
    # the run ids of the paper profile are unchanged, so every committed row is a current run's row
    res = ex.load_results(ex.RESULTS_DIR, name, "paper")
    exp = ex.EXPERIMENTS[name]
    assert len(res.rows) == n_rows == len(exp.families) * len(exp.blocks) * 3 * len(exp.eval_sizes)
    assert {r["run_id"] for r in res.rows} == {s.run_id for s in ex.expand(name, "paper")}
    assert len(res.summary) == n_summary and all(r["n_seeds"] == 3 for r in res.summary)
    committed = ex.read_summary(ex.RESULTS_DIR / name / "paper" / "summary.csv", name)
    assert [(r["family"], r["R_eff"], r["L"]) for r in committed] == [(r["family"], r["R_eff"], r["L"])
                                                                      for r in res.summary]
    for a, b in zip(committed, res.summary):
        assert a["score_rmse_mean"] == pytest.approx(b["score_rmse_mean"], rel=1e-5)
        assert a["score_rmse_sem"] == pytest.approx(b["score_rmse_sem"], rel=1e-5)


def test_summary_schema_is_the_csv_header():
    header = (ex.RESULTS_DIR / "fig1" / "paper" / "summary.csv").read_text().splitlines()[0]
    assert header.split(",") == list(SUMMARY_SCHEMA) == list(FIG1.summary_schema) == list(FIG2.summary_schema)
    assert SUMMARY_SCHEMA["family"] is str and SUMMARY_SCHEMA["R_eff"] is int and SUMMARY_SCHEMA["far_sem"] is float


def test_summarize_mean_and_sem():
    rows = [{"family": "a", "blocks": 1, "R_eff": 4, "L": 8, "score_rmse": v, "near": None, "far": None}
            for v in (1.0, 2.0, 4.0)]
    (entry,) = SweepExperiment.summarize(rows)
    assert entry["n_seeds"] == 3 and entry["score_rmse_mean"] == pytest.approx(7 / 3)
    assert entry["score_rmse_sem"] == pytest.approx(math.sqrt(((1 - 7 / 3) ** 2 + (2 - 7 / 3) ** 2 + (4 - 7 / 3) ** 2)
                                                              / 2 / 3))
    assert math.isnan(entry["near_mean"]) and math.isnan(FIG1.summarize(rows[:1])[0]["score_rmse_sem"])
    assert set(entry) == set(SUMMARY_SCHEMA)


def test_summarize_groups_by_family_radius_and_size_in_order():
    rows = [{"family": f, "blocks": b, "R_eff": 2 * b + 2, "L": L, "score_rmse": 0.1 * s, "near": 0.5, "far": 1.0}
            for f in ("b", "a") for b in (3, 1) for L in (64, 32) for s in (1, 2)]
    out = FIG2.summarize(rows)
    assert [(r["family"], r["blocks"], r["L"]) for r in out] == list(itertools.product("ab", (1, 3), (32, 64)))
    assert all(r["n_seeds"] == 2 and r["score_rmse_mean"] == pytest.approx(0.15) for r in out)
    assert all(r["near_sem"] == 0 and r["far_mean"] == 1.0 for r in out)


def test_sweep_run_is_what_the_figures_expand_into():
    budget = FIG2.profiles["paper"]
    spec = sweep_run("medium_range", 3, 32, budget, 1, (32, 64), (64,), experiment="fig2", profile="paper")
    assert spec == ex.expand("fig2", "paper")[1 * 3 * 3 + 1 * 3 + 1]  # family 1, blocks 3 (index 1), seed 1
    assert (spec.blocks, spec.R_eff, spec.eval_seed, spec.eval_n, spec.response_n) == (3, 8, 10_001, 4, 4)
    assert spec.model == dataclasses.asdict(LocalCNNConfig(blocks=3, width=budget.width, seed=1,
                                                          **dict(budget.model_options)))
    assert (spec.model["zero_init"], spec.model["linear_path"]) == (True, True)  # the budget's model options
    assert spec.train == dataclasses.asdict(budget.train_config(32, 1)) and spec.train_config() == TrainConfig(
        **spec.train)
    assert spec.build_model().config == LocalCNNConfig(**spec.model)
    assert spec.teacher["family"] == "medium_range" and spec.teacher["seed"] == 0
    assert spec.describe() == {"family": "medium_range", "blocks": 3, "R_eff": 8, "seed": 1}
    assert spec.label == "medium_range, B=3, seed 1"
    teacher = spec.data_source(None, False)
    assert teacher.config.family == "medium_range" and dataclasses.asdict(teacher.config) == spec.teacher
    other = sweep_run("medium_range", 3, 32, budget, 1, (32, 64), (64,), teacher_seed=4)
    assert other.teacher["seed"] == 4 and other.run_id != spec.run_id
    assert (other.experiment, other.profile) == ("custom", "custom")


@pytest.mark.parametrize("call,match", [
    (lambda: sweep_run("nope", 1, 8, FIG1.profiles["quick"], 0, (8,)), "family must be one of"),
    (lambda: sweep_run("simple_local", 1, 9, FIG1.profiles["quick"], 0, (8,)), "L must be"),
    (lambda: sweep_run("simple_local", 1, 8, FIG1.profiles["quick"], 0, (8,), model="mlp"), "model must be one of"),
    (lambda: sweep_run("simple_local", 1, 8, FIG1.profiles["quick"], 0, (8,), model="attention"),
     "not options of the attention model"),
])
def test_bad_sweep_run(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_model_options_reach_the_chosen_model():
    budget = dataclasses.replace(FIG1.profiles["quick"], model_options=(("position_scale", 1.0),))
    spec = sweep_run("simple_local", 2, 8, budget, 0, (8,), model="attention")
    assert spec.model["position_scale"] == 1.0 and spec.build_model().config.position_scale == 1.0
    default = sweep_run("simple_local", 2, 8, dataclasses.replace(budget, model_options=()), 0, (8,), model="attention")
    assert default.model["position_scale"] == 10.0 and default.run_id != spec.run_id
    with pytest.raises(ValueError, match=r"\['position_scale'\] are not options of the cnn model"):
        sweep_run("simple_local", 1, 8, budget, 0, (8,))
    with pytest.raises(ValueError, match=r"\['width'\] are set by the sweep itself"):
        sweep_run("simple_local", 1, 8, dataclasses.replace(budget, model_options=(("width", 8),)), 0, (8,))


def test_floor_runs_fit_the_exact_score_under_their_own_ids(tmp_path):
    from fdlf_core import runner
    from fdlf_core.experiments.fdlf2d import FLOOR, FloorRun

    floor = ex.EXPERIMENTS["floor"]
    assert floor is FLOOR and floor.fit == "exact_score" and floor.radii == (2, 4, 6, 8, 10, 14)
    assert (floor.families, floor.train_L, floor.eval_sizes) == (FIG2.families, FIG2.train_L, FIG2.eval_sizes)
    assert list(ex.EXPERIMENTS).index("floor") < list(ex.EXPERIMENTS).index("fig2")  # Fig. 2's plot draws it
    budget = SweepBudget(steps=2, batch_size=2, seeds=(0,), eval_n=1, response_n=1, width=4, lr=1e-3)
    dsm = sweep_run("simple_local", 1, 8, budget, 0, (8,))
    fit = sweep_run("simple_local", 1, 8, budget, 0, (8,), fit="exact_score")
    assert type(fit) is FloorRun and dataclasses.asdict(fit) == dataclasses.asdict(dsm)  # same configs ...
    assert fit.run_id != dsm.run_id and fit.train_id != dsm.train_id  # ... never the same row or checkpoint
    out = runner.execute_run(fit, tmp_path)
    cached = runner.load_cached(fit, tmp_path / f"{fit.train_id}.pt")
    from fdlf_core.training import fit_exact_score

    direct = fit_exact_score(fit.data_source(None, False), fit.build_model(), fit.train_config(), progress=False)
    assert cached.losses == direct.losses  # the exact-score fit ran, not DSM
    assert out["rows"][0]["score_rmse"] > 0 and not (tmp_path / f"{dsm.train_id}.pt").exists()
    with pytest.raises(ValueError, match="fit must be one of"):
        sweep_run("simple_local", 1, 8, budget, 0, (8,), fit="supervised")


def test_the_attention_model_has_a_locality_floor_too(tmp_path):
    from fdlf_core import runner
    from fdlf_core.experiments.fdlf2d import AttentionFloorRun, AttentionRun
    from fdlf_core.training import fit_exact_score

    budget = SweepBudget(steps=2, batch_size=2, seeds=(0,), eval_n=1, response_n=1, width=4, lr=1e-3)
    dsm = sweep_run("simple_local", 1, 8, budget, 0, (8,), model="attention")
    fit = sweep_run("simple_local", 1, 8, budget, 0, (8,), model="attention", fit="exact_score")
    assert type(dsm) is AttentionRun and type(fit) is AttentionFloorRun and fit.train_id != dsm.train_id
    runner.execute_run(fit, tmp_path)
    direct = fit_exact_score(fit.data_source(None, False), fit.build_model(), fit.train_config(), progress=False)
    assert runner.load_cached(fit, tmp_path / f"{fit.train_id}.pt").losses == direct.losses


def test_the_attention_sweeps_run_the_cnn_protocols_with_localattention(monkeypatch, tmp_path):
    from fdlf_core.experiments.fdlf2d import FIG1_ATTENTION, FIG2_ATTENTION, AttentionRun
    from fdlf_core.models import LocalAttention, LocalAttentionConfig

    assert FIG2_ATTENTION.radii == FIG2.radii == (4, 8, 14) and FIG1_ATTENTION.radii == FIG1.radii == (4,)
    for att, cnn in ((FIG1_ATTENTION, FIG1), (FIG2_ATTENTION, FIG2)):  # the same protocol, another model
        assert (att.families, att.train_L, att.eval_sizes, att.response_sizes) == \
               (cnn.families, cnn.train_L, cnn.eval_sizes, cnn.response_sizes)
        a, c = att.profiles["paper"], cnn.profiles["paper"]
        assert (a.steps, a.batch_size, a.seeds, a.recipe, a.eval_n) == (c.steps, c.batch_size, c.seeds, c.recipe, c.eval_n)
    spec = ex.expand("fig2_attention", "paper")[3 * 2 + 1]  # family 0, 7 layers, seed 1
    assert type(spec) is AttentionRun and (spec.blocks, spec.R_eff) == (7, 14) and spec.label.endswith("x7, seed 1")
    assert LocalAttentionConfig(**spec.model) == LocalAttentionConfig(layers=7, window=2, width=32, heads=4, seed=1)
    model = spec.build_model()
    assert type(model) is LocalAttention and model.receptive_radius == 14
    cnn_ids = {s.run_id for s in ex.expand("fig2", "paper")}
    assert not cnn_ids & {s.run_id for s in ex.expand("fig2_attention", "paper")}
    # through the runner on a tiny budget: rows, summary and the Fig. 1 claims under the attention name
    tiny = dataclasses.replace(FIG1_ATTENTION, eval_sizes=(8, 12), response_sizes=(12,), train_L=8, profiles={
        "paper": SweepBudget(steps=2, batch_size=2, eval_n=1, response_n=1, seeds=(0,), width=4)})
    monkeypatch.setitem(ex.EXPERIMENTS, "fig1_attention", tiny)
    res = ex.run_experiment("fig1_attention", "paper", out=tmp_path, progress=False)
    assert len(res.rows) == 3 * 2 and {r["R_eff"] for r in res.rows} == {4} and all(r["blocks"] == 2 for r in res.rows)
    assert all(r["model"]["layers"] == 2 and r["score_rmse"] > 0 for r in res.rows)
    checked = ex.check_claims(tmp_path, "fig1_attention", "paper")
    assert {c.experiment for c in checked} == {"fig1_attention"} and len(checked) == 5
