"""experiments.ising_critical: Fig. 4 as data and through the runner: rows, references, resumption, the
evaluation pipeline, and the committed paper results."""
import dataclasses
from types import SimpleNamespace

import pytest
import torch

from fdlf_core import experiments as ex
from fdlf_core import runner
from fdlf_core.ising import BETA_C, IsingData, IsingPoolConfig, infinite_correlation, per_sample_correlations
from fdlf_core.experiments.ising_critical import FIG4, IsingBudget, IsingExperiment, IsingRunSpec
from fdlf_core.models import LocalCNNConfig


@pytest.fixture
def tiny(monkeypatch):
    """fig4 shrunk to seconds: train L=12, R=3, two betas, two sigmas, 3 steps, 2 seeds."""
    small = dataclasses.replace(FIG4, beta_ratios=(0.8, 0.95), sigmas=(1.0, 2.0), R=3, probe_d=2,
                                profiles={"quick": IsingBudget(train_L=12, steps=3, batch_size=2, pool_n=64,
                                                               seeds=(0, 1), width=4, thermalize=2.0)})
    monkeypatch.setitem(ex.EXPERIMENTS, "fig4", small)
    return small


def test_paper_configuration_follows_section_5_and_appendix_c():
    assert FIG4.R == 5 and FIG4.probe_d == 4 < FIG4.R and FIG4.sigmas == (0.5, 1.0, 2.0, 4.0)
    assert FIG4.beta_ratios[-1] == 0.99 and list(FIG4.beta_ratios) == sorted(FIG4.beta_ratios)
    specs = ex.expand("fig4", "paper")
    assert len(specs) == len(FIG4.beta_ratios) * 3 and {s.R for s in specs} == {5}
    assert specs[0].teacher["beta"] == pytest.approx(0.8 * BETA_C)
    # the pool is fixed across seeds (like the FDLF teacher); model and training seeds vary
    assert specs[0].teacher == specs[1].teacher and specs[0].train["seed"] != specs[1].train["seed"]
    assert specs[0].train["sigma_min"] < min(FIG4.sigmas) and specs[0].train["sigma_max"] > max(FIG4.sigmas)
    assert all(type(s) is IsingRunSpec for s in specs) and ex.EXPERIMENTS["fig4"] is FIG4
    assert isinstance(FIG4, IsingExperiment) and FIG4.notebook == "04_ising_critical.ipynb" and FIG4.d_max == 7
    # R = 5: two blocks and a 1x1 output projection; Fig. 1 / Fig. 2's model options and antithetic pairs, with
    # the sigma^2 loss weight (Fig. 4 reads the model across sigma 0.5 .. 4, not at sigma_min)
    assert specs[0].model == dataclasses.asdict(LocalCNNConfig.from_radius(5, 32, seed=0, zero_init=True,
                                                                           linear_path=True))
    assert (specs[0].train["weight_power"], specs[0].train["antithetic"]) == (2.0, True)
    assert [(s.beta_ratio, s.seed) for s in specs] == [(b, k) for b in FIG4.beta_ratios for k in (0, 1, 2)]
    assert len({s.run_id for s in specs}) == len(specs) and len({s.train_id for s in specs}) == len(specs)


def test_budget_is_keyword_only_with_the_ising_training_range():
    with pytest.raises(TypeError):
        IsingBudget(32, 1500, 16, 4000, (0,))
    budget = FIG4.profiles["paper"]
    assert (budget.train_L, budget.steps, budget.batch_size, budget.pool_n, budget.seeds) == (32, 1500, 16, 4000,
                                                                                              (0, 1, 2))
    assert (budget.sigma_min, budget.sigma_max) == (0.25, 8.0)
    assert budget.train_config(32, 2).sigma_min == 0.25 and budget.train_config(32, 2).seed == 2


def test_the_committed_paper_results_still_load_with_all_their_rows():
    res = ex.load_results(ex.RESULTS_DIR, "fig4", "paper")
    assert len(res.rows) == 18 == len(FIG4.beta_ratios) * 3
    assert {r["run_id"] for r in res.rows} == {s.run_id for s in ex.expand("fig4", "paper")}
    assert len(res.summary) == 6 * 4 * 8  # beta ratios x sigmas x d = 0 .. 7
    committed = ex.read_summary(ex.RESULTS_DIR / "fig4" / "paper" / "summary.csv", "fig4")
    assert len(committed) == len(res.summary)
    for a, b in zip(committed, res.summary):
        assert (a["beta_ratio"], a["sigma"], a["d"]) == (b["beta_ratio"], b["sigma"], b["d"])
        assert a["learned_mean"] == pytest.approx(b["learned_mean"], rel=1e-5, abs=1e-12)


def test_families_other_than_ising_expand_to_nothing():
    assert FIG4.expand("paper", families=("simple_local",)) == []
    assert len(FIG4.expand("paper", families=("ising",))) == 18


def test_run_rows_references_and_resume(tiny, tmp_path):
    res = ex.run_experiment("fig4", "quick", out=tmp_path, progress=False)
    d = tmp_path / "fig4" / "quick"
    assert len(res.rows) == 2 * 2 and len(runner.read_runs(d / "runs.jsonl")) == 4
    assert len(list((d / "checkpoints").glob("ising_pool_*.pt"))) == 2  # one pool per beta, shared by the seeds
    row = res.rows[0]
    assert row["d"] == [0, 1, 2, 3, 4, 5] and row["L"] == 12 and row["R"] == 3
    for k, sigma in enumerate(row["sigmas"]):
        assert row["exact_L"][k][0] == row["exact_inf"][k][0] == pytest.approx(sigma ** -4 - sigma ** -2)
        inf = infinite_correlation(row["beta"], 5) / sigma ** 4
        assert row["exact_inf"][k][1:] == pytest.approx(inf[1:].tolist(), rel=1e-12)
        pool = IsingData(IsingPoolConfig(**row["teacher"]), cache_dir=d / "checkpoints").pool
        corr = per_sample_correlations(pool.to(torch.float64)).mean(0) / sigma ** 4
        assert row["exact_L"][k][1:] == pytest.approx(corr[1:6].tolist(), rel=1e-12)
        assert all(e > 0 for e in row["exact_L_stderr"][k][1:])
        assert row["learned"][k][4:] == [0.0, 0.0]  # d = 4, 5 > R: exactly outside a radius-3 model
    summary = runner.read_csv(d / "summary.csv", tiny.summary_schema)
    assert len(summary) == 2 * 2 * 6 == len(res.summary) and all(r["n_seeds"] == 2 for r in summary)
    assert all(type(r["d"]) is int and type(r["sigma"]) is float and type(r["family"]) is str for r in summary)
    assert ex.read_summary(d / "summary.csv", "fig4")[5]["learned_mean"] == pytest.approx(summary[5]["learned_mean"])
    one = next(r for r in res.summary if r["d"] == 2 and r["sigma"] == 1.0 and r["beta_ratio"] == 0.95)
    assert one["ratio_mean"] == pytest.approx(one["learned_mean"] / one["exact_L"])

    before = (d / "runs.jsonl").read_text()
    assert ex.run_experiment("fig4", "quick", out=tmp_path, progress=False).rows == res.rows
    assert (d / "runs.jsonl").read_text() == before
    (d / "runs.jsonl").unlink()  # rebuilt from the cached checkpoints and pools, identical numbers
    again = ex.run_experiment("fig4", "quick", out=tmp_path, progress=False)
    assert all(r["checkpoint_cached"] for r in again.rows)
    key = lambda r: r["run_id"]
    assert [r["learned"] for r in sorted(again.rows, key=key)] == [r["learned"] for r in sorted(res.rows, key=key)]


class _TweedieAtZero(torch.nn.Module):
    """A score whose Jacobian at y = 0 is exactly sigma^-4 C - sigma^-2 I for a correlation map C (L, L)."""

    def __init__(self, corr):
        super().__init__()
        self.corr = corr

    def forward(self, y, sigma):
        # sum_r C(r) y_(i+r): a cross-correlation, and C(r) = C(-r), so the plain FFT product
        conv = torch.fft.ifft2(torch.fft.fft2(y) * torch.fft.fft2(self.corr)).real
        return conv / sigma ** 4 - y / sigma ** 2


def test_evaluation_of_a_model_with_the_exact_response_gives_ratio_one(tiny, tmp_path):
    spec = ex.expand("fig4", "quick")[0]
    data = spec.data_source(tmp_path, progress=False)
    x = data.pool.to(torch.float64)
    f = torch.fft.fft2(x)
    corr = (torch.fft.ifft2(f * f.conj()).real / 144).mean(0)      # [dy, dx] = <x_0 x_(dy,dx)>
    corr = (corr + corr.T) / 2                                       # axis-symmetric, like the reference
    (row,) = spec.evaluate(data, SimpleNamespace(model=_TweedieAtZero(corr)))
    for k in range(len(spec.sigmas)):
        assert row["learned"][k] == pytest.approx(row["exact_L"][k], rel=1e-9)


def test_train_L_must_hold_the_profile(tiny):
    bad = dataclasses.replace(tiny, R=5)
    with pytest.raises(ValueError, match=r"train_L must be >= 2 \(R \+ 2\) = 14 .* got train_L=12"):
        bad.expand("quick")

