"""experiments.generation: Table 5 as data and through the runner: the configuration, one row per size and
sampler (kept apart when read back), the finite-sample floor, the summary, resumption, and claims that can fail."""
import dataclasses
import math

import pytest
import torch

from fdlf_core import experiments as ex
from fdlf_core import observables, paper, plots, runner, sampling, teachers
from fdlf_core.experiments.generation import TABLE5, GenerationBudget, GenerationExperiment, GenerationRun
from fdlf_core.models import LocalCNN, LocalCNNConfig


@pytest.fixture
def tiny(monkeypatch):
    """table5 shrunk to seconds: a width-4 model, 3 DSM steps, two sizes, a few sampler steps, two seeds."""
    small = dataclasses.replace(TABLE5, train_L=6, gen_sizes=(6, 8), profiles={
        "quick": GenerationBudget(steps=3, batch_size=2, seeds=(0, 1), sigma_max=80.0, width=4, n_samples=3,
                                  sampler_steps=(("sde", 4), ("ode", 2)), n_boot=5)})
    monkeypatch.setitem(ex.EXPERIMENTS, "table5", small)
    return small


def test_paper_configuration():
    assert TABLE5.families == ("simple_local", "complex_local", "complex_long")
    assert TABLE5.gen_sizes == (6, 8, 16, 24, 32, 40) and TABLE5.train_L == 16 and TABLE5.notebook == "05_table5_generation.ipynb"
    specs = ex.expand("table5", "paper")
    assert len(specs) == 3 * 3 and all(type(s) is GenerationRun for s in specs)
    assert [(s.family, s.seed) for s in specs] == [(f, k) for f in TABLE5.families for k in (0, 1, 2)]
    s = specs[0]
    # Fig. 1's model and DSM settings, but noise up to sigma_max = 80 (generation starts from N(0, 80^2))
    fig1 = next(r for r in ex.expand("fig1", "paper") if r.family == s.family and r.seed == s.seed)
    assert s.model == fig1.model and LocalCNNConfig(**s.model).receptive_radius == 4 == s.R_eff
    assert {k: v for k, v in s.train.items() if k != "sigma_max"} == {k: v for k, v in fig1.train.items() if k != "sigma_max"}
    assert s.train["sigma_max"] == 80.0 and fig1.train["sigma_max"] == 1.0 and s.train_id != fig1.train_id
    assert s.gen_sizes == TABLE5.gen_sizes and dict(s.sampler_steps) == {"sde": 500, "ode": 40}
    assert len({r.run_id for r in specs}) == len(specs) and all(r.eval_seed == ex.EVAL_SEED_OFFSET + r.seed for r in specs)
    # rows written before a metric was added belong to another run: evaluated again, from the same checkpoint
    older = dataclasses.replace(s, metrics=("mae", "floor_mae"))
    assert s.metrics == ex.generation.METRICS and older.run_id != s.run_id and older.train_id == s.train_id
    quick = ex.expand("table5", "quick")
    assert [r.gen_sizes for r in quick] == [(6, 16, 40)] * 3  # the training size and both ends of the paper's range


def test_run_rows_summary_and_resume(tiny, tmp_path):
    res = ex.run_experiment("table5", "quick", out=tmp_path, progress=False)
    d = tmp_path / "table5" / "quick"
    assert len(res.rows) == 3 * 2 * 2 * 2 == len(runner.read_runs(d / "runs.jsonl"))  # both samplers survive the read
    row = next(r for r in res.rows if (r["family"], r["seed"], r["L"], r["sampler"]) == ("complex_long", 1, 8, "sde"))
    assert row["sampler_steps"] == 4 and row["sigma_max"] == 80.0 and row["sigma_min"] == sampling.SIGMA_MIN
    assert set(row["abs_error"]) == set(row["generated"]) == set(row["reference"]) == set(observables.OBSERVABLES)
    assert row["mae"] == pytest.approx(sum(row["abs_error"].values()) / len(observables.OBSERVABLES))
    assert row["mae_se"] > 0 and row["floor_mae"] > 0 and row["floor_mae_se"] > 0
    assert row["corr_rel"] == observables.relative_correlation_error(row["generated"], row["reference"])
    assert row["corr_rel_se"] > 0 and row["floor_corr_rel"] > 0 and row["floor_corr_rel_se"] > 0
    # the floor and the reference do not depend on the sampler: one teacher draw per size and seed
    twin = next(r for r in res.rows if (r["family"], r["seed"], r["L"], r["sampler"]) == ("complex_long", 1, 8, "ode"))
    assert twin["floor_mae"] == row["floor_mae"] and twin["reference"] == row["reference"]
    assert twin["floor_corr_rel"] == row["floor_corr_rel"]
    assert twin["generated"] != row["generated"]
    summary = runner.read_csv(d / "summary.csv", tiny.summary_schema)
    assert len(summary) == 3 * 2 * 2 == len(res.summary) and all(r["n_seeds"] == 2 for r in summary)
    assert [r["sampler"] for r in summary[:2]] == ["sde", "ode"]  # the table's order
    entry = next(r for r in res.summary if (r["family"], r["L"], r["sampler"]) == ("complex_long", 8, "sde"))
    vals = [r["mae"] for r in res.rows if (r["family"], r["L"], r["sampler"]) == ("complex_long", 8, "sde")]
    assert entry["mae_mean"] == pytest.approx(sum(vals) / 2)
    assert entry["mae_sem"] == pytest.approx(abs(vals[0] - vals[1]) / 2)
    rel = [r["corr_rel"] for r in res.rows if (r["family"], r["L"], r["sampler"]) == ("complex_long", 8, "sde")]
    assert entry["corr_rel_mean"] == pytest.approx(sum(rel) / 2)
    before = (d / "runs.jsonl").read_text()
    resumed = ex.run_experiment("table5", "quick", out=tmp_path, progress=False)  # nothing to run
    assert (d / "runs.jsonl").read_text() == before and len(resumed.rows) == len(res.rows)
    (d / "runs.jsonl").unlink()  # rebuilt from the cached checkpoints: the same generated numbers
    again = ex.run_experiment("table5", "quick", out=tmp_path, progress=False)
    key = lambda r: (r["run_id"], r["L"], r["sampler"])
    assert all(r["checkpoint_cached"] for r in again.rows)
    assert [r["mae"] for r in sorted(again.rows, key=key)] == [r["mae"] for r in sorted(res.rows, key=key)]


def test_the_floor_is_the_mae_of_an_independent_teacher_set(tiny):
    # what a perfect generator would score: recomputed here from the same draws the run makes
    spec = ex.expand("table5", "quick")[0]
    teacher = teachers.Teacher(teachers.TeacherConfig(**spec.teacher))

    class Perfect(torch.nn.Module):  # stands in for the trained model; only the floor is read below
        def forward(self, x, sigma):
            return -x / (sigma ** 2 + 1)

    rows = spec.evaluate(teacher, type("R", (), {"model": Perfect()})())
    gen = torch.Generator().manual_seed(spec.eval_seed)
    reference, second = teacher.sample(3, 6, generator=gen), teacher.sample(3, 6, generator=gen)
    expected = observables.observable_mae(second, reference, spec.n_boot, spec.eval_seed)
    row = next(r for r in rows if r["L"] == 6)
    assert row["floor_mae"] == expected["mae"] and row["floor_mae_se"] == expected["stderr"]
    assert row["floor_corr_rel"] == expected["corr_rel"] and row["floor_corr_rel_se"] == expected["corr_rel_stderr"]


def test_generation_noise_is_independent_of_the_reference_samples(tiny):
    # both streams start with randn(n, L, L): seeded alike, the generated set would start from the teacher's
    # own latent noise and follow the reference sample by sample, making its MAE too small
    spec = ex.expand("table5", "quick")[0]
    assert spec.gen_seed == 2 * ex.EVAL_SEED_OFFSET + spec.seed != spec.eval_seed
    teacher = teachers.Teacher(teachers.TeacherConfig(**spec.teacher))
    reference = teacher.sample(64, 8, generator=torch.Generator().manual_seed(spec.eval_seed))
    frames = []
    sampling.generate(LocalCNN(zero_init=True), 64, 8, 2, 80.0, seed=spec.gen_seed, progress=False, record=frames)
    start = frames[0][1].double().flatten()
    assert abs(float(torch.corrcoef(torch.stack([start, reference.flatten()]))[0, 1])) < 0.05


@pytest.mark.parametrize("call,match", [
    (lambda: TABLE5.run("simple_local", "nope", 0), "profile must be one of"),
    (lambda: TABLE5.run("medium_range", "paper", 0), "family must be one of"),
    (lambda: TABLE5.run("simple_local", "paper", -1), "seed must be"),
    (lambda: GenerationBudget(steps=1, batch_size=1, seeds=(0,), n_samples=1, sampler_steps=(("sde", 2),)), "n_samples"),
    (lambda: GenerationBudget(steps=1, batch_size=1, seeds=(0,), n_samples=4, sampler_steps=(("euler", 2),)),
     "sampler_steps must be"),
    (lambda: GenerationBudget(steps=1, batch_size=1, seeds=(0,), n_samples=4, sampler_steps=(("sde", 0),)),
     "sampler steps must be"),
    (lambda: GenerationBudget(steps=1, batch_size=1, seeds=(0,), n_samples=4, sampler_steps=(("sde", 2),), sizes=(7,)),
     "L must be"),
])
def test_bad_generation_settings(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def _summary(mae: dict, floor=0.01, corr_over=None):
    """Table 5 summary rows from {(family, L, sampler): MAE}; the relative correlation error is ``corr_over``
    [family] times its floor of 0.2 (default: 4x for complex_long, 1.5x for the others)."""
    over = corr_over or {"simple_local": 1.5, "complex_local": 1.5, "complex_long": 4.0}
    return [{"family": f, "blocks": 1, "R_eff": 4, "train_L": 16, "L": L, "sampler": s, "n_seeds": 3,
             "mae_mean": v, "mae_sem": 0.01, "mae_within_se": 0.02, "floor_mae_mean": floor, "floor_mae_sem": math.nan,
             "floor_mae_within_se": 0.005, "corr_rel_mean": 0.2 * over[f], "corr_rel_sem": 0.05,
             "corr_rel_within_se": 0.05, "floor_corr_rel_mean": 0.2, "floor_corr_rel_sem": math.nan,
             "floor_corr_rel_within_se": 0.03} for (f, L, s), v in mae.items()]


SIZES = (6, 16, 40)


def _paper_like(long=0.8, sde_factor=0.3, grow=1.0):
    base = {"simple_local": 0.08, "complex_local": 0.2, "complex_long": long}
    return {(f, L, s): v * (grow if (L == 40 and f != "complex_long") else 1) * (sde_factor if s == "sde" else 1)
            for f, v in base.items() for L in SIZES for s in ("sde", "ode")}


def test_table5_claims_can_fail():
    checked = paper.claims("table5", _summary(_paper_like()))
    assert [(c.key, c.passed) for c in checked] == [
        ("simple_local_stable", True), ("complex_local_stable", True), ("long_larger", True),
        ("long_correlations_missed", True), ("sde_below_ode", True)]
    failing = {c.key: c.passed for c in paper.claims("table5", _summary(
        _paper_like(long=0.3, sde_factor=1.1, grow=1.5),
        corr_over={"simple_local": 1.5, "complex_local": 1.5, "complex_long": 2.5}))}
    assert failing == {"simple_local_stable": False, "complex_local_stable": False, "long_larger": False,
                       "long_correlations_missed": False, "sde_below_ode": False}
    # the correlation claim also fails when a short-range teacher's correlations are lost too
    short_lost = {"simple_local": 1.5, "complex_local": 2.5, "complex_long": 4.0}
    assert not next(c for c in paper.claims("table5", _summary(_paper_like(), corr_over=short_lost))
                    if c.key == "long_correlations_missed").passed
    incomplete = [r for r in _summary(_paper_like()) if r["sampler"] == "ode"]
    with pytest.raises(ValueError, match="both samplers"):
        paper.claims("table5", incomplete)
    with pytest.raises(ValueError, match="incomplete"):
        paper.claims("table5", [r for r in _summary(_paper_like()) if r["L"] != 16])  # no training-size row


def test_table5_comparison_has_a_row_per_sampler():
    rows = paper.compare("table5", _summary(_paper_like()))
    assert len(rows) == 3 * 2 * 2 and {r["metric"] for r in rows} == {"mae, sde", "mae, ode"}
    simple6 = [r for r in rows if (r["family"], r["L"]) == ("simple_local", 6)]
    assert [(r["metric"], r["paper"], r["ours"]) for r in simple6] == [("mae, sde", 0.079, pytest.approx(0.024)),
                                                                       ("mae, ode", 0.079, 0.08)]
    assert all(math.isnan(r["paper_sem"]) for r in rows)  # Table 5 gives none
    missing = paper.compare("table5", [r for r in _summary(_paper_like()) if r["L"] != 40])
    assert all(math.isnan(r["ours"]) for r in missing if r["L"] == 40)


def test_table5_figures_draw_both_samplers_and_the_paper():
    fig = plots.generation_error(_summary(_paper_like()))
    names = [t.name for t in fig.data]
    assert names.count("simple_local") == 2 and names.count("simple_local (paper)") == 2  # one per panel
    assert sum(n.endswith("teacher vs teacher") for n in names) == 3 * 2
    assert fig.layout.annotations[0].text.startswith("reverse SDE")
    assert fig.layout.yaxis.type == fig.layout.yaxis2.type == "log"  # both panels, not only the first
    floor = next(t for t in fig.data if t.name == "simple_local: teacher vs teacher")
    assert list(floor.error_y.array) == [0.005] * 3  # one seed's worth of s.e.m. (NaN): the bootstrap error instead
    rows = [{"family": f, "abs_error": {k: 0.1 for k in observables.OBSERVABLES}} for f in TABLE5.families]
    bars = plots.observable_errors(rows)
    assert [t.name for t in bars.data] == list(TABLE5.families) and list(bars.data[0].x) == list(observables.OBSERVABLES)
    corr = plots.generation_error(_summary(_paper_like()), metric="corr_rel")
    assert [t.name for t in corr.data].count("complex_long") == 2 and not any("(paper)" in t.name for t in corr.data)
    assert list(next(t for t in corr.data if t.name == "complex_long").y) == [pytest.approx(0.8)] * 3
    assert corr.layout.yaxis.type != "log"
    with pytest.raises(ValueError, match="metric must be one of"):
        plots.generation_error(_summary(_paper_like()), metric="rmse")
    grid = plots.sample_grid({"teacher": torch.zeros(4, 4), "sde": torch.ones(4, 4)})
    assert len(grid.data) == 2 and grid.data[0].zmin == 0 and grid.data[1].zmax == 1


def test_generation_experiment_satisfies_the_protocol():
    assert isinstance(TABLE5, GenerationExperiment) and "table5" in ex.EXPERIMENTS
    assert list(TABLE5.summary_schema)[:7] == ["family", "blocks", "R_eff", "train_L", "L", "sampler", "n_seeds"]
