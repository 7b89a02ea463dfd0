"""MALA on the noisy posterior against the exact Gaussian case: the Tweedie response row within its error bars."""
import pytest
import torch

from fdlf_core import gaussian, posterior, teachers


def _gaussian_density(kappa):
    def log_prob(x):  # log p up to a constant: -x.Qx / 2 = x.s_0(x) / 2
        return 0.5 * (x * gaussian.clean_score(x, kappa)).sum((1, 2))
    return log_prob, lambda x: gaussian.clean_score(x, kappa)


@pytest.mark.parametrize("kappa,sigma", [(0.5, 1.0), (1.0, 0.5)])
def test_mala_response_matches_the_exact_gaussian_row(kappa, sigma):
    L, site = 8, (2, 5)
    y = torch.randn(L, L, dtype=torch.float64, generator=torch.Generator().manual_seed(3)) * 1.5
    est, info = posterior.smoothed_response(*_gaussian_density(kappa), y, sigma, site,
                                            posterior.MALAConfig(n_chains=32, n_steps=1500, burn_in=300, seed=1),
                                            progress=False)
    exact = torch.roll(gaussian.score_response(kappa, sigma, L), site, (0, 1))  # the same for every y
    z = (est.value - exact) / est.stderr
    assert 0.3 < info["acceptance"] < 0.85
    assert float((z.abs() < 4).double().mean()) >= 0.95 and float(z.abs().max()) < 6, z
    assert float((z ** 2).mean()) < 2.5  # error bars neither too small nor wildly too large
    assert float(est.stderr.max()) < 0.2 * float(exact.abs().max())  # and small enough to mean something


def test_same_seed_same_numbers_and_bad_input():
    teacher = teachers.make("simple_local", seed=0)
    y = teacher.sample(1, 8, generator=torch.Generator().manual_seed(0))[0]
    cfg = posterior.MALAConfig(n_chains=4, n_steps=64, burn_in=16, seed=2)
    a, _ = posterior.smoothed_response(teacher.log_prob, teacher.score, y, 0.3, (1, 1), cfg, progress=False)
    b, _ = posterior.smoothed_response(teacher.log_prob, teacher.score, y, 0.3, (1, 1), cfg, progress=False)
    assert torch.equal(a.value, b.value) and torch.isfinite(a.stderr).all()
    with pytest.raises(ValueError, match="sigma must be"):
        posterior.smoothed_response(teacher.log_prob, teacher.score, y, 0.0, (1, 1), cfg)
    with pytest.raises(ValueError, match="site must lie inside"):
        posterior.smoothed_response(teacher.log_prob, teacher.score, y, 0.3, (8, 1), cfg)
    with pytest.raises(ValueError, match="n_steps must be"):
        posterior.MALAConfig(n_steps=4)
    with pytest.raises(TypeError, match="callables"):
        posterior.smoothed_response(None, teacher.score, y, 0.3, (1, 1), cfg)
