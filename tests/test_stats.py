"""The blocking error bar against a chain whose autocorrelation is known in closed form."""
import math

import pytest
import torch

from fdlf_core import stats
from fdlf_core.stats import binned_mean


def test_blocking_error_bar_recovers_the_autocorrelation_time_of_an_ar1_chain():
    # x_t = phi x_(t-1) + noise: tau_int = (1 + phi) / (2 (1 - phi)), stderr^2 = 2 tau var / n
    phi, n = 0.8, 2 ** 16
    g = torch.Generator().manual_seed(0)
    noise = torch.randn(n, generator=g, dtype=torch.float64)
    x = torch.empty(n, dtype=torch.float64)
    x[0] = noise[0] / math.sqrt(1 - phi ** 2)
    for t in range(1, n):
        x[t] = phi * x[t - 1] + noise[t]
    est = binned_mean(x)
    tau = (1 + phi) / (2 * (1 - phi))
    assert est.tau_int == pytest.approx(tau, rel=0.25)
    assert est.stderr == pytest.approx(math.sqrt(2 * tau / (1 - phi ** 2) / n), rel=0.15)


def test_binned_mean_is_elementwise_and_rejects_bad_input():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(256, 3, dtype=torch.float64, generator=g)
    est = binned_mean(x)
    torch.testing.assert_close(est.value, x.mean(0))
    assert est.stderr.shape == (3,) and bool((est.stderr >= x.std(0) / 16 * 0.999).all())  # never below naive
    with pytest.raises(ValueError, match="series must be a tensor"):
        binned_mean(torch.zeros(1))
    with pytest.raises(ValueError, match="min_blocks"):
        binned_mean(x, min_blocks=1)


def test_mean_and_sem_of_independent_runs():
    # s.e.m. = sample std (ddof 1) / sqrt(n): for 1, 2, 4 the mean is 7/3, the squared deviations sum to 14/3
    assert stats.mean([1.0, 2.0, 4.0]) == pytest.approx(7 / 3)
    assert stats.sem([1.0, 2.0, 4.0]) == pytest.approx(math.sqrt(14 / 3 / 2 / 3))
    assert stats.sem([2.0, 2.0]) == 0.0
    assert math.isnan(stats.sem([1.0])) and math.isnan(stats.sem([]))  # no spread from one run
    assert math.isnan(stats.mean([]))  # a metric measured in no run of a group
    values = torch.randn(50, generator=torch.Generator().manual_seed(2), dtype=torch.float64).tolist()
    assert stats.sem(values) == pytest.approx(float(torch.tensor(values, dtype=torch.float64).std() / math.sqrt(50)), rel=1e-12)


def test_sem_moved_from_the_runner():
    from fdlf_core import runner
    assert not hasattr(runner, "sem")
