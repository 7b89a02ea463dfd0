"""experiments.transfer: the size-transfer sweep's configuration, its runs through the runner (a row per
size with the training size), the summary, the ratios and the phase diagram; diagnostics.response_radius
against teachers whose range is known."""
import dataclasses

import pytest

from fdlf_core import catalog, diagnostics, plots, teachers
from fdlf_core import experiments as ex
from fdlf_core.experiments.fdlf2d import SweepBudget
from fdlf_core.experiments.transfer import TRANSFER, transfer_ratios


def test_the_sweep_profile():
    specs = ex.expand("sweep", "sweep")
    assert "sweep" in catalog.PROFILES and list(TRANSFER.profiles) == ["sweep"]
    assert len(specs) == 4 * 6 * 2 * 3 and len({s.run_id for s in specs}) == len(specs)
    assert sorted({s.R_eff for s in specs}) == [2, 4, 6, 8, 10, 14]
    assert [s.seed for s in specs] == sorted(s.seed for s in specs)  # seed-major: a partial sweep covers every cell
    assert {(s.train["L"], s.eval_sizes) for s in specs} == {(16, (16, 64, 128, 256)), (32, (32, 64, 128, 256))}
    fig2 = next(s for s in ex.expand("fig2", "paper") if (s.family, s.blocks, s.seed) == ("medium_range", 3, 1))
    same = next(s for s in specs if (s.family, s.blocks, s.seed, s.train["L"]) == ("medium_range", 3, 1, 32))
    assert same.train_id == fig2.train_id  # Fig. 2's paper runs are this sweep's: their checkpoints can be reused


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
    assert len(fig.layout.shapes) == 2  # simple_local's radius falls on the R_eff axis in both panels, not complex_long's


def test_response_radius_orders_the_teachers():
    radius = {f: diagnostics.response_radius(teachers.make(f), 32) for f in ("simple_local", "medium_range", "complex_long")}
    assert radius["simple_local"] <= teachers.make("simple_local").locality_radius  # inside its proven range
    assert radius["simple_local"] < radius["medium_range"] < radius["complex_long"] == 16  # the mean mode: all of it
    assert diagnostics.response_radius(teachers.make("complex_long"), 16) == 8  # grows with L
    with pytest.raises(ValueError, match="mass must be in"):
        diagnostics.response_radius(teachers.make("simple_local"), 16, mass=1.0)
