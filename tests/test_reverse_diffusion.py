"""Reverse-diffusion samplers against the exact case: the Gaussian free field with its exact smoothed score
as the "model". For a Gaussian every step is linear and diagonal in Fourier space, so Heun's method has a
closed-form per-mode gain: the ODE sampler is checked against it to rounding, its error against the exact
flow falls at second order in the steps; the SDE sampler's per-mode variance follows Euler-Maruyama's
closed-form recursion; and both samplers' sample covariance matches the prior's within sampling error at a
stated step count."""
import math

import pytest
import torch
from torch import nn

from fdlf_core import gaussian, sampling

KAPPA, L = 0.6, 8


class ExactGaussianScore(nn.Module):
    """``s_sigma(y)`` of the Gaussian free field, exactly (float64)."""

    def __init__(self, kappa: float = KAPPA):
        super().__init__()
        self.kappa = kappa
        self.dtype_anchor = nn.Parameter(torch.zeros((), dtype=torch.float64), requires_grad=False)

    def forward(self, x, sigma):
        return gaussian.smoothed_score(x, self.kappa, float(sigma))


def _mode_variances(kappa: float = KAPPA) -> torch.Tensor:
    return 1 / gaussian.symbol(kappa, L)  # the prior's variance of every Fourier mode, (L, L)


def _heun_gain(lam: torch.Tensor, sigmas: torch.Tensor) -> torch.Tensor:
    """The ODE sampler's multiplier of a mode of prior variance ``lam``, in closed form."""
    gain = torch.ones_like(lam)
    for s, t in zip(sigmas[:-1].tolist(), sigmas[1:].tolist()):
        f = lambda sig: sig / (lam + sig * sig)  # -sigma s(x, sigma) = f(sigma) x for a Gaussian mode
        euler = 1 + (t - s) * f(s)
        gain = gain * (euler if t == 0 else 1 + (t - s) * (f(s) + f(t) * euler) / 2)
    return gain


def test_the_edm_schedule():
    sig = sampling.edm_sigmas(10, 0.002, 80.0)
    assert sig.shape == (11,) and sig[0] == pytest.approx(80.0) and sig[9] == pytest.approx(0.002) and sig[10] == 0
    assert (sig[:-1] > sig[1:]).all()
    assert sampling.edm_sigmas(1, 0.1, 2.0).tolist() == [2.0, 0.0]


def test_the_ode_sampler_is_heuns_method_exactly():
    sigmas = sampling.edm_sigmas(12, 0.01, 40.0)
    x = torch.randn(3, L, L, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    out = sampling.probability_flow(ExactGaussianScore(), x, sigmas, progress=False)
    expected = torch.fft.ifft2(torch.fft.fft2(x) * _heun_gain(_mode_variances(), sigmas)).real
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-10)


def test_the_ode_error_falls_at_second_order():
    lam = _mode_variances()
    sigma_max = 40.0
    exact = torch.sqrt(lam / (lam + sigma_max ** 2))  # the flow's gain from sigma_max to 0, per mode
    x = torch.zeros(1, L, L, dtype=torch.float64)
    x[0, 0, 1] = 1.0  # a point source: every Fourier mode, each with its own gain
    errors = []
    for steps in (16, 32, 64):
        sigmas = sampling.edm_sigmas(steps, 1e-4, sigma_max)
        out = sampling.probability_flow(ExactGaussianScore(), x * sigma_max, sigmas, progress=False)
        target = torch.fft.ifft2(torch.fft.fft2(x * sigma_max) * exact).real
        errors.append(float((out - target).abs().max() / target.abs().max()))
    rates = [math.log2(a / b) for a, b in zip(errors, errors[1:])]
    assert all(1.7 < r < 2.5 for r in rates), (errors, rates)


def _covariance(out: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Translation-averaged ``<x_0 x_r>`` of samples ``(n, L, L)``: mean and standard error, each ``(L, L)``."""
    f = torch.fft.fft2(out)
    per_sample = torch.fft.ifft2(f * f.conj()).real / L ** 2
    return per_sample.mean(0), per_sample.std(0) / math.sqrt(out.shape[0])


# Euler-Maruyama's bias is O(1 / steps): in closed form (the per-mode variance recursion) 5 % of the variance
# at 200 steps, 1 % at 1000; the ODE's is below 0.1 % at 32 steps
@pytest.mark.parametrize("method, steps", [("ode", 32), ("sde", 1000)])
def test_generated_samples_have_the_prior_covariance(method, steps):
    n = 600
    out = sampling.generate(ExactGaussianScore(), n, L, steps, sigma_max=40.0, sigma_min=0.002, method=method,
                            seed=1, progress=False)
    assert out.shape == (n, L, L) and out.dtype == torch.float64
    exact = gaussian.covariance(KAPPA, L)
    mean, stderr = _covariance(out)
    for r in [(0, 0), (0, 1), (1, 1), (0, 2)]:
        assert abs(float(mean[r] - exact[r])) < 4 * float(stderr[r]) + 0.01 * float(exact[0, 0]), (r, mean[r], exact[r])


def test_the_sde_sampler_is_euler_maruyama_exactly():
    # Euler-Maruyama on a Gaussian mode of prior variance lam: v <- a^2 v + (s^2 - t^2), a = 1 - (s^2 - t^2) /
    # (lam + s^2); the sampled per-mode variance must match that recursion within sampling error
    lam, sigmas = _mode_variances(), sampling.edm_sigmas(20, 0.002, 40.0)
    v = torch.full_like(lam, 40.0 ** 2)
    for s, t in zip(sigmas[:-1].tolist(), sigmas[1:].tolist()):
        v = (1 - (s * s - t * t) / (lam + s * s)) ** 2 * v + (s * s - t * t)
    n = 4000
    out = sampling.generate(ExactGaussianScore(), n, L, 20, sigma_max=40.0, method="sde", seed=3, progress=False)
    power = (torch.fft.fft2(out).abs() ** 2).mean(0) / L ** 2  # each mode's sample variance (its own conjugate
    assert float((power / v - 1).abs().max()) < 5 * (2 / n) ** 0.5  # pair shares it: chi^2 with 1 or 2 dof)
    assert float((v / lam).max()) > 1.2  # and at 20 steps that recursion is far from the prior: a real check


@pytest.mark.parametrize("method", ["ode", "sde"])
def test_record_holds_the_reverse_process_frame_by_frame(method):
    frames = []
    out = sampling.generate(ExactGaussianScore(), 3, L, 6, sigma_max=20.0, method=method, seed=4, progress=False,
                            record=frames)
    sigmas = [s for s, _ in frames]
    assert sigmas == sampling.edm_sigmas(6, sampling.SIGMA_MIN, 20.0).tolist()  # the start, then every step
    assert torch.equal(frames[-1][1], out) and all(f.shape == out.shape for _, f in frames)
    assert all(not torch.equal(a, b) for (_, a), (_, b) in zip(frames, frames[1:]))  # a frame per step, not one tensor
    assert float(frames[0][1].std()) == pytest.approx(20.0, rel=0.2)  # pure noise at sigma_max
    again = sampling.generate(ExactGaussianScore(), 3, L, 6, sigma_max=20.0, method=method, seed=4, progress=False)
    assert torch.equal(again, out)  # recording changes nothing


class FnModel(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x, sigma):
        return self.fn(x, sigma)


@pytest.mark.parametrize("call, match", [
    (lambda: sampling.edm_sigmas(0, 0.1, 1.0), "steps must be"),
    (lambda: sampling.edm_sigmas(5, 1.0, 1.0), "sigma_max must be > sigma_min"),
    (lambda: sampling.generate(ExactGaussianScore(), 2, 7, 4, 10.0), "L must be"),
    (lambda: sampling.generate(ExactGaussianScore(), 2, 2, 4, 10.0), "L must be"),
    (lambda: sampling.generate(ExactGaussianScore(), 2, 8, 4, 10.0, method="euler"), "method must be"),
    (lambda: sampling.generate("m", 2, 8, 4, 10.0), "model must be"),
    (lambda: sampling.generate(ExactGaussianScore(), 2, 8, 4, 10.0, record=()), "record must be a list"),
    (lambda: sampling.probability_flow(ExactGaussianScore(), torch.zeros(1, 8, 8), torch.tensor([1.0, 2.0, 0.0])),
     "strictly decreasing"),
    (lambda: sampling.reverse_sde(ExactGaussianScore(), torch.zeros(1, 8, 8), torch.tensor([1.0, 0.0]), None),
     "generator must be"),
    (lambda: sampling.probability_flow(ExactGaussianScore(), torch.zeros(1, 8, 8), [1.0, 0.0]), "sigmas must be a 1D"),
    (lambda: sampling.probability_flow(FnModel(lambda x, s: x[:, None]), torch.zeros(2, 8, 8),
                                       torch.tensor([1.0, 0.0])), "must return a tensor of x's shape"),
])
def test_bad_input_is_named(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()
