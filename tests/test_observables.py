"""Local observables against closed forms: Gaussian free field samples (moments 0 / C(0) / 0 / 3, and the
exact covariance at each offset), a hand-computed lattice, and the MAE's bootstrap."""
import math

import pytest
import torch

from fdlf_core import gaussian, observables


def test_the_gaussian_free_field_has_its_exact_observables():
    kappa, L, n = 0.6, 12, 3000
    x = gaussian.sample(n, L, kappa, generator=torch.Generator().manual_seed(0))
    obs = observables.local_observables(x)
    cov = gaussian.covariance(kappa, L)
    exact = {"mean": 0.0, "variance": float(cov[0, 0]), "skewness": 0.0, "kurtosis": 3.0,
             **{name: float(cov[dr % L, dc % L]) for name, (dr, dc) in observables.OFFSETS.items()}}
    tolerance = {"mean": 0.02, "variance": 0.01, "skewness": 0.03, "kurtosis": 0.06}
    for name in observables.OBSERVABLES:
        assert obs[name] == pytest.approx(exact[name], abs=tolerance.get(name, 0.01)), name
    assert list(obs) == list(observables.OBSERVABLES)


def test_observables_of_a_hand_made_field():
    # one sample: columns alternate +1 / -1 (L = 6): mean 0, variance 1, skewness 0, kurtosis 1; the
    # correlation is -1 one column away, +1 two columns away and along the columns, -1 on the diagonals
    x = torch.tensor([[(-1.0) ** c for c in range(6)] for _ in range(6)])[None]
    obs = observables.local_observables(x)
    assert (obs["mean"], obs["variance"], obs["skewness"], obs["kurtosis"]) == (0.0, 1.0, 0.0, 1.0)
    assert (obs["corr_01"], obs["corr_10"], obs["corr_02"], obs["corr_20"]) == (-1.0, 1.0, 1.0, 1.0)
    assert (obs["corr_11"], obs["corr_1m1"]) == (-1.0, -1.0)


def test_the_mae_is_zero_for_one_set_and_its_error_bar_shrinks_with_samples():
    gen = torch.Generator().manual_seed(1)
    a = gaussian.sample(400, 8, 0.6, generator=gen)
    same = observables.observable_mae(a, a, n_boot=50)
    assert same["mae"] == 0.0 and same["stderr"] > 0  # resampling each set separately still scatters
    b = gaussian.sample(400, 8, 0.6, generator=gen)
    small = observables.observable_mae(a, b, n_boot=100)
    big = observables.observable_mae(torch.cat([a, gaussian.sample(3200, 8, 0.6, generator=gen)]),
                                     torch.cat([b, gaussian.sample(3200, 8, 0.6, generator=gen)]), n_boot=100)
    assert big["stderr"] < small["stderr"] / 2  # 9x the samples: about a third of the error bar
    each, each_big = small["per_observable_stderr"], big["per_observable_stderr"]
    assert list(each) == list(observables.OBSERVABLES) and all(each_big[k] < each[k] for k in each)
    scaled = observables.observable_mae(2 * a, a, n_boot=20)
    assert scaled["per_observable"]["variance"] == pytest.approx(3 * scaled["reference"]["variance"])
    assert scaled["per_observable"]["kurtosis"] == pytest.approx(0.0, abs=1e-12)  # scale free
    assert scaled["mae"] == pytest.approx(sum(scaled["per_observable"].values()) / len(observables.OBSERVABLES))


def test_the_relative_correlation_error_against_hand_values():
    # correlations all zero is as far off as the reference's own size (1); twice as strong is 1 as well
    x = torch.tensor([[(-1.0) ** c for c in range(6)] for _ in range(6)])[None]
    ref = observables.local_observables(x)
    zero = {**ref, **{k: 0.0 for k in observables.OFFSETS}}
    assert observables.relative_correlation_error(zero, ref) == 1.0
    assert observables.relative_correlation_error({k: 2 * v for k, v in ref.items()}, ref) == 1.0
    assert observables.relative_correlation_error(ref, ref) == 0.0
    assert observables.relative_correlation_error(ref, zero) == math.inf  # nothing to be relative to
    # doubling a field quadruples every correlation (the mean's square scales with it): error exactly 3
    a = gaussian.sample(200, 8, 0.6, generator=torch.Generator().manual_seed(2))
    scaled = observables.observable_mae(2 * a, a, n_boot=50)
    assert scaled["corr_rel"] == pytest.approx(3.0, rel=1e-12)
    b = gaussian.sample(200, 8, 0.6, generator=torch.Generator().manual_seed(3))
    two = observables.observable_mae(a, b, n_boot=50)
    assert 0 < two["corr_rel"] < 0.5 and two["corr_rel_stderr"] > 0


@pytest.mark.parametrize("call, match", [
    (lambda: observables.local_observables(torch.zeros(2, 4, 4)), "L >= 5"),
    (lambda: observables.local_observables(torch.zeros(2, 6, 6)), "zero variance"),
    (lambda: observables.observable_mae(torch.randn(2, 6, 6), torch.randn(2, 8, 8)), "L=6"),
    (lambda: observables.observable_mae(torch.randn(2, 6, 6), torch.randn(2, 6, 6), n_boot=1), "n_boot must be"),
    (lambda: observables.local_observables([1.0]), "must be a torch.Tensor"),
])
def test_bad_input_is_named(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()
