import dataclasses

import pytest
import torch


@pytest.fixture(autouse=True)
def _two_threads():
    # CI machines have 2 cores; fixed thread count keeps CPU results reproducible across runs.
    torch.set_num_threads(2)


@pytest.fixture
def gen():
    """A factory of seeded CPU generators: ``gen(seed)`` -> ``torch.Generator`` (a fresh one per call)."""

    def make(seed: int = 0) -> torch.Generator:
        return torch.Generator().manual_seed(seed)

    return make


@pytest.fixture
def tiny_fig1(monkeypatch):
    """fig1 shrunk to seconds: train L=8, eval 8 and 12, 3 steps, 2 seeds, two families."""
    from fdlf_core import experiments as ex
    from fdlf_core.experiments.fdlf2d import SweepBudget

    exp = ex.EXPERIMENTS["fig1"]
    small = dataclasses.replace(
        exp, families=("simple_local", "complex_local"), train_L=8, eval_sizes=(8, 12), response_sizes=(12,),
        profiles={"quick": SweepBudget(steps=3, batch_size=2, eval_n=2, response_n=2, seeds=(0, 1), width=4),
                  "paper": SweepBudget(steps=4, batch_size=2, eval_n=2, response_n=2, seeds=(0, 1, 2), width=4)})
    monkeypatch.setitem(ex.EXPERIMENTS, "fig1", small)
    return small


@pytest.fixture
def summary2d():
    """A factory of synthetic 2D summaries: ``summary2d({(family, R_eff, L): (rmse, far), ...})``."""

    def make(values: dict) -> list[dict]:
        return [{"family": f, "blocks": (R - 2) // 2, "R_eff": R, "L": L, "n_seeds": 3, "score_rmse_mean": v,
                 "score_rmse_sem": 0.01, "near_mean": 0.5, "near_sem": 0.1, "far_mean": far, "far_sem": 0.1}
                for (f, R, L), (v, far) in values.items()]

    return make
