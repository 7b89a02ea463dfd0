"""training: DSM loss against the closed-form Gaussian case, learning, reproducibility, checkpoints."""
import math

import pytest
import torch
from torch import nn

from fdlf_core import teachers
from fdlf_core.models import LocalCNN
from fdlf_core.training import (TrainConfig, dsm_loss, load_checkpoint, sample_sigma, save_checkpoint,
                                train_dsm, train_dsm_stacked)

from conftest import gen


class GaussianSmoothedScore(nn.Module):
    """Exact smoothed score of N(0, v I): s_sigma(y) = -y / (v + sigma^2)."""

    def __init__(self, v):
        super().__init__()
        self.v = v

    def forward(self, x, sigma):
        sigma = torch.as_tensor(sigma, dtype=x.dtype).reshape(-1, 1, 1)
        return -x / (self.v + sigma ** 2)


@pytest.mark.parametrize("sigma", [0.01, 0.3, 1.0, 3.0])
def test_dsm_loss_at_the_exact_score_is_the_closed_form_minimum(sigma):
    # For x0 ~ N(0, v), the sigma^2-weighted DSM loss of the exact smoothed score is v / (v + sigma^2).
    v, n = 2.0, 4000
    x0 = math.sqrt(v) * torch.randn(n, 4, 4, generator=gen(0), dtype=torch.float64)
    eps = torch.randn(n, 4, 4, generator=gen(1), dtype=torch.float64)
    sig = torch.full((n,), sigma, dtype=torch.float64)
    per_sample = dsm_loss(GaussianSmoothedScore(v), x0, sig, eps)
    assert per_sample.shape == (n,)
    sem = per_sample.std() / math.sqrt(n)
    assert abs(per_sample.mean() - v / (v + sigma ** 2)) < 5 * sem
    # any other score is worse in expectation (the minimiser is the smoothed score)
    assert dsm_loss(GaussianSmoothedScore(1.2 * v), x0, sig, eps).mean() > per_sample.mean()


def test_sigma_is_log_uniform_on_the_range():
    s = sample_sigma(200000, 0.005, 1.0, gen(2))
    assert s.min() >= 0.005 and s.max() <= 1.0
    u = (s.log() - math.log(0.005)) / (math.log(1.0) - math.log(0.005))
    # uniform on [0, 1]: mean 1/2, variance 1/12, within 5 standard errors
    assert abs(u.mean() - 0.5) < 5 * math.sqrt(1 / 12 / 200000)
    assert abs(u.var() - 1 / 12) < 0.002


def held_out_loss(model, teacher):
    x0 = teacher.sample(64, 8, gen(123)).float()
    sig = torch.tensor([0.2, 0.5, 1.0]).repeat(22)[:64].double()
    eps = torch.randn(64, 8, 8, generator=gen(124))
    with torch.no_grad():
        return dsm_loss(model, x0, sig, eps).mean().item()


def test_training_reduces_the_held_out_loss():
    # A strongly non-Gaussian teacher, so the Gaussian baseline of the untrained model is far from optimal.
    teacher = teachers.make("simple_local", coupling_strength=1.0)
    model = LocalCNN(1, 16)
    before = held_out_loss(model, teacher)
    result = train_dsm(teacher, model, L=8, steps=150, batch_size=16, lr=2e-3, seed=0, progress=False)
    after = held_out_loss(result.model, teacher)
    assert len(result.losses) == 150 and all(math.isfinite(v) for v in result.losses)
    assert after < before - 0.05, (before, after)


def test_same_seed_same_numbers():
    teacher = teachers.make("complex_local")
    runs = [train_dsm(teacher, LocalCNN(1, 8, seed=3), L=8, steps=5, batch_size=4, seed=11, progress=False)
            for _ in range(2)]
    assert runs[0].losses == runs[1].losses
    for p, q in zip(runs[0].model.parameters(), runs[1].model.parameters()):
        assert torch.equal(p, q)
    other = train_dsm(teacher, LocalCNN(1, 8, seed=3), L=8, steps=5, batch_size=4, seed=12, progress=False)
    assert other.losses != runs[0].losses


def test_checkpoint_round_trip_is_atomic_and_weights_only(tmp_path):
    teacher = teachers.make("simple_local", seed=2)
    result = train_dsm(teacher, LocalCNN(2, 8, seed=1), L=8, steps=3, batch_size=2, progress=False)
    path = save_checkpoint(tmp_path / "ckpt" / "model.pt", result)
    assert sorted(p.name for p in path.parent.iterdir()) == ["model.pt"]  # no temp file left behind
    loaded = load_checkpoint(path)
    x = torch.randn(2, 8, 8, generator=gen(3))
    torch.testing.assert_close(loaded.model(x, 0.1), result.model(x, 0.1), atol=0, rtol=0)
    assert loaded.config == result.config and loaded.teacher_config == teacher.config
    assert loaded.losses == result.losses
    assert set(loaded.meta["provenance"]) == {"versions", "git_revision", "machine"}
    # the file holds only tensors and plain values: torch's safe loader reads it
    assert torch.load(path, weights_only=True)["format"] == "fdlf.checkpoint/1"


def test_interrupted_save_keeps_the_old_checkpoint(tmp_path, monkeypatch):
    teacher = teachers.make("simple_local")
    result = train_dsm(teacher, LocalCNN(1, 4), L=8, steps=2, batch_size=2, progress=False)
    path = save_checkpoint(tmp_path / "m.pt", result)
    before = path.read_bytes()

    def half_written_then_killed(obj, f):
        f.write(b"PK partial bytes")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", half_written_then_killed)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, result)
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["m.pt"]
    bad = type(result)(nn.Linear(1, 1), result.losses, result.config, result.teacher_config, 0.0)
    with pytest.raises(TypeError, match="LocalCNN"):
        save_checkpoint(path, bad)


def test_corrupt_and_foreign_checkpoints_are_rejected(tmp_path):
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(b"PK\x03\x04 not a zip")
    with pytest.raises(ValueError, match="not a readable fdlf checkpoint"):
        load_checkpoint(truncated)
    foreign = tmp_path / "foreign.pt"
    torch.save({"state_dict": {}}, foreign)
    with pytest.raises(ValueError, match="not an fdlf checkpoint"):
        load_checkpoint(foreign)
    unsafe = tmp_path / "unsafe.pt"
    torch.save({"format": "fdlf.checkpoint/1", "obj": TrainConfig(8, 1, 1)}, unsafe)
    with pytest.raises(ValueError, match="not a readable fdlf checkpoint"):
        load_checkpoint(unsafe)
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "missing.pt")


@pytest.mark.parametrize("kwargs,match", [
    (dict(L=7), "L must be"), (dict(steps=0), "steps must be"), (dict(batch_size=0), "batch_size must be"),
    (dict(sigma_min=0.0), "sigma_min must be"), (dict(sigma_min=1.0, sigma_max=0.5), "sigma_min must be <"),
    (dict(lr=-1.0), "lr must be"), (dict(seed=-1), "seed must be"),
])
def test_bad_training_input(kwargs, match):
    args = dict(L=8, steps=1, batch_size=1) | kwargs
    with pytest.raises(ValueError, match=match):
        train_dsm(teachers.make("simple_local"), LocalCNN(1, 4), progress=False, **args)
    with pytest.raises(TypeError, match="teacher must be"):
        train_dsm("simple_local", LocalCNN(1, 4), L=8, steps=1, batch_size=1)


@pytest.mark.parametrize("call,match", [
    (lambda: sample_sigma(4, 0.0, 1.0, gen(0)), "sigma_min must be"),
    (lambda: sample_sigma(4, 1.0, 0.5, gen(0)), "sigma_min must be <"),
    (lambda: sample_sigma(0, 0.1, 1.0, gen(0)), "n must be"),
    (lambda: dsm_loss(LocalCNN(1, 4), torch.zeros(2, 8, 8), 0.0, torch.zeros(2, 8, 8)), "sigma must be"),
    (lambda: dsm_loss(LocalCNN(1, 4), torch.zeros(2, 8, 8), 0.1, torch.zeros(2, 6, 6)), "eps must be"),
    (lambda: dsm_loss(LocalCNN(1, 4), torch.zeros(2, 8, 8), torch.ones(2, dtype=torch.int64),
                      torch.zeros(2, 8, 8)), "sigma must be a float or a real floating-point"),
])
def test_bad_loss_input(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()


def test_dsm_loss_accepts_a_float_sigma():
    x0, eps = torch.randn(3, 8, 8, generator=gen(5)), torch.randn(3, 8, 8, generator=gen(6))
    model = LocalCNN(1, 4)
    torch.testing.assert_close(dsm_loss(model, x0, 0.3, eps), dsm_loss(model, x0, torch.full((3,), 0.3), eps))


def test_stacked_training_is_train_dsm_per_model():
    # same data streams, same init, elementwise Adam: equal up to float rounding of grouped vs single convs
    teacher = teachers.make("complex_local")
    alone = [LocalCNN(blocks=1, width=8, seed=s) for s in (3, 5)]
    results = [train_dsm(teacher, m, 8, 6, 4, seed=s, progress=False) for m, s in zip(alone, (3, 5))]
    together = [LocalCNN(blocks=1, width=8, seed=s) for s in (3, 5)]
    stacked = train_dsm_stacked(teacher, together, 8, 6, 4, seeds=[3, 5], progress=False)
    assert [r.config for r in stacked] == [r.config for r in results]
    for a, b in zip(results, stacked):
        assert b.model is not None and a.losses[0] != a.losses[-1]
        torch.testing.assert_close(torch.tensor(b.losses), torch.tensor(a.losses), rtol=1e-5, atol=1e-6)
        for p, q in zip(a.model.parameters(), b.model.parameters()):
            torch.testing.assert_close(q, p, rtol=1e-4, atol=1e-5)
    # the two models did not share anything: different seeds, different weights
    assert not torch.equal(together[0].conv_in.weight, together[1].conv_in.weight)


@pytest.mark.parametrize("models,seeds,match", [
    ([], [], "models must be a non-empty list"),
    ("abc", [0], "models must be a non-empty list"),
    ([LocalCNN(1, 8), LocalCNN(2, 8)], [0, 1], "share one architecture"),
    ([LocalCNN(1, 8), LocalCNN(1, 8, seed=1)], [0], "one seed per model"),
    ([LocalCNN(1, 8)], [-1], "seed must be"),
])
def test_bad_stacked_training_input(models, seeds, match):
    with pytest.raises((TypeError, ValueError), match=match):
        train_dsm_stacked(teachers.make("simple_local"), models, 8, 2, 2, seeds=seeds, progress=False)


def test_dsm_on_an_ising_pool_and_its_checkpoint(tmp_path):
    from fdlf_core.ising import BETA_C, IsingData, IsingPoolConfig
    data = IsingData(IsingPoolConfig(L=8, beta=0.9 * BETA_C, n_samples=16, seed=0), progress=False)
    model = LocalCNN.from_radius(5, width=8)
    result = train_dsm(data, model, 8, 30, 4, sigma_min=0.5, sigma_max=4.0, seed=1, progress=False)
    assert result.teacher_config == data.config and all(math.isfinite(v) for v in result.losses)
    loaded = load_checkpoint(save_checkpoint(tmp_path / "ising.pt", result))
    assert loaded.teacher_config == data.config and loaded.model.receptive_radius == 5
    x = torch.randn(2, 8, 8, generator=gen(0))
    torch.testing.assert_close(loaded.model(x, 1.0), model(x, 1.0))
    with pytest.raises(ValueError, match="pool's lattice size"):
        train_dsm(data, LocalCNN(1, 8), 16, 2, 2, progress=False)
    with pytest.raises(TypeError, match="Teacher or a fdlf_core.ising.IsingData"):
        train_dsm(object(), LocalCNN(1, 8), 8, 2, 2, progress=False)
