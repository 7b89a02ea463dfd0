"""DSM and the exact-score fit on the hard-valid teacher: noise and loss only on the occupied continuous
coordinates, the model conditioned on ports and labels, reproducible, checkpoints that load; and the 3D
diagnostics against models whose answer is known (the exact score, the zero model)."""
import pytest
import torch
from torch import nn

from fdlf_core import training
from fdlf_core.hardvalid import diagnostics, model, teacher
from fdlf_core.models import LocalCNN

T = teacher.make("hv_medium", seed=0, embed=4, hidden=8)
SMALL = model.LocalCNN3DConfig(blocks=1, width=6, seed=2)


class Recorder(nn.Module):
    """A conditioned score model (the 3D CNN) that keeps every input it was given."""

    def __init__(self):
        super().__init__()
        self.net = model.LocalCNN3D(SMALL)
        self.seen = []

    def forward(self, c, sigma, b, a):
        self.seen.append((c.detach().clone(), b))
        return self.net(c, sigma, b, a)


def test_a_state_is_a_conditioned_sample():
    s = T.sample(2, 4, generator=torch.Generator().manual_seed(0))
    assert isinstance(s, training.ConditionedSample)
    assert s.field is s.c and s.mask.shape == (2, 1, 4, 4, 4) and torch.equal(s.mask[:, 0], s.occupied())
    assert set(s.condition()) == {"b", "a"} and s[1].c.shape == (1, 2, 4, 4, 4)


def test_dsm_noises_only_the_occupied_coordinates():
    rec = Recorder()
    training.train_dsm(T, rec, training.TrainConfig(4, 3, 2, antithetic=True), progress=False)
    assert len(rec.seen) == 6  # 3 steps, antithetic pairs
    for c, b in rec.seen:
        empty = (b == 0)[:, None].expand_as(c)
        assert (c[empty] == 0).all() and c[~empty].abs().sum() > 0


def test_the_masked_loss_is_the_mean_over_occupied_coordinates():
    gen = torch.Generator().manual_seed(1)
    s = T.sample(2, 4, generator=gen)
    net = model.LocalCNN3D(SMALL)
    score = lambda x, sig: net(x, sig, s.b, s.a) + 1.0  # non-zero off the mask: the mask must drop it there
    sigma = torch.tensor([0.1, 0.5], dtype=torch.float64)
    eps = torch.randn(s.c.shape, generator=gen, dtype=torch.float64).float() * s.mask
    x0 = s.c.float()
    loss = training._dsm_residual(score, x0, sigma, eps, weight_power=1.0, mask=s.mask)
    sig = sigma.float()[:, None, None, None, None]
    r = (sig * score(x0 + sig * eps, sigma) + eps) ** 2
    by_hand = torch.stack([r[k][s.mask[k].expand_as(r[k])].mean() for k in range(2)]) * sigma.float() ** -1
    torch.testing.assert_close(loss, by_hand)
    assert not torch.allclose(r.mean(dim=(1, 2, 3, 4)) * sigma.float() ** -1, by_hand)  # the unmasked mean differs


def test_a_mask_that_does_not_match_the_field_is_refused():
    class BadMask:
        config = T.config

        def sample(self, n, L, generator=None):
            return _Masked(T.sample(n, L, generator=generator))

    class _Masked:
        def __init__(self, s):
            self.field, self.mask, self._s = s.c, s.occupied(), s  # (n, L, L, L): one dimension short

        def condition(self):
            return self._s.condition()

    with pytest.raises(ValueError, match="mask must be a bool tensor with field's dimensions"):
        training.train_dsm(BadMask(), model.LocalCNN3D(SMALL), training.TrainConfig(4, 1, 2), progress=False)


def test_conditioned_dsm_is_reproducible_and_checkpoints_round_trip(tmp_path):
    cfg = training.TrainConfig(4, 4, 2, seed=5, weight_power=0.0, antithetic=True)
    one = training.train_dsm(T, model.LocalCNN3D(SMALL), cfg, progress=False)
    two = training.train_dsm(T, model.LocalCNN3D(SMALL), cfg, progress=False)
    assert one.losses == two.losses and all(torch.isfinite(torch.tensor(one.losses)))
    path = training.save_checkpoint(tmp_path / "hv.pt", one)
    back = training.load_checkpoint(path)
    assert type(back.model) is model.LocalCNN3D and back.data_config == T.config
    s = T.sample(1, 6, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        torch.testing.assert_close(back.model(s.c, 0.01, s.b, s.a), one.model(s.c, 0.01, s.b, s.a), rtol=0, atol=0)


def test_the_exact_score_fit_takes_the_conditioned_source():
    net = model.LocalCNN3D(SMALL)
    gen = torch.Generator().manual_seed(0)  # fit_exact_score draws its first batch first from seed 0
    s = T.sample(2, 4, generator=gen)
    with torch.no_grad():
        out, exact = net(s.c, 0.005, s.b, s.a), T.score(s).float()
    first = float(((out - exact) ** 2).sum() / (exact ** 2).sum())
    result = training.fit_exact_score(T, net, training.TrainConfig(4, 2, 2), progress=False)
    assert result.losses[0] == pytest.approx(first, rel=1e-5)


def test_a_model_that_cannot_take_the_condition_is_refused():
    with pytest.raises(TypeError, match=r"forward\(x, sigma, b, a\)"):
        training.train_dsm(T, LocalCNN(1, 4), training.TrainConfig(4, 1, 1), progress=False)
    with pytest.raises(TypeError, match="unconditioned"):
        training.train_dsm_stacked(T, [LocalCNN(1, 4)], training.TrainConfig(4, 1, 1), [0], progress=False)


class ExactScore(nn.Module):
    """The teacher's own clean score as a model (float64): every error against it is 0."""

    def __init__(self, scale: float = 1.0):
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(scale, dtype=torch.float64), requires_grad=False)

    def forward(self, c, sigma, b, a):
        return self.scale * T.score(teacher.State(b, a, c.to(torch.float64)))


def test_the_diagnostics_are_zero_for_the_exact_score_and_one_for_zero():
    exact = diagnostics.score_rmse(ExactScore(), T, 6, n=1, batches=2, seed=4)
    assert exact["value"] < 1e-12 and len(exact["per_batch"]) == 2
    zero = diagnostics.score_rmse(ExactScore(0.0), T, 6, n=1, batches=2, seed=4)
    assert zero["value"] == pytest.approx(1.0) and zero["stderr"] == pytest.approx(0.0, abs=1e-12)
    resp = diagnostics.response_errors(ExactScore(), T, 8, n=1, repeats=2, seed=4)
    assert max(resp["near"], resp["far"], resp["near_of_total"], resp["far_of_total"]) < 1e-9
    none = diagnostics.response_errors(ExactScore(0.0), T, 8, n=1, repeats=2, seed=4)
    assert none["near"] == pytest.approx(1.0) and none["far"] == pytest.approx(1.0)
    assert none["near_of_total"] ** 2 + none["far_of_total"] ** 2 == pytest.approx(1.0)
    assert none["definition"]["far_band"] == [3, 7]


@pytest.mark.parametrize("call,match", [
    (lambda: diagnostics.score_rmse(LocalCNN(1, 4), "t", 6), "teacher must be"),
    (lambda: diagnostics.score_rmse(ExactScore(), T, 6, batches=0), "batches must be"),
    (lambda: diagnostics.score_rmse(ExactScore(), T, 7), "L must be"),
    (lambda: diagnostics.response_errors(ExactScore(), T, 2), "L must be >= 4"),
    (lambda: diagnostics.response_errors(ExactScore(), T, 6, delta=2.0), "delta must be"),
])
def test_bad_diagnostic_inputs_are_named(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()
