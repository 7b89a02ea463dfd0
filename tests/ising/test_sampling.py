"""ising.sampling: the Wolff and heat-bath chains against the transfer matrix's exact correlations, seeding,
and the correlation estimators on known configurations."""
import pytest
import torch

from fdlf_core.ising import (BETA_C, correlation_function, exact_correlations, heat_bath_sample,
                             per_sample_correlations, wolff_sample)
from fdlf_core.stats import binned_mean

@pytest.mark.parametrize("ratio", [0.8, 0.9, 1.0, 1.1])
def test_wolff_matches_the_transfer_matrix(ratio):
    beta = ratio * BETA_C
    est = binned_mean(per_sample_correlations(wolff_sample(8, beta, 3000, seed=11, progress=False)))
    exact = exact_correlations(8, beta)[0, :5]
    z = (est.value[1:] - exact[1:]) / est.stderr[1:]
    assert bool((z.abs() < 4).all()), f"z-scores {z.tolist()}"
    assert bool((est.stderr[1:] < 0.02).all())


def test_heat_bath_matches_the_transfer_matrix():
    beta = 0.9 * BETA_C
    est = binned_mean(per_sample_correlations(heat_bath_sample(8, beta, 3000, seed=3, progress=False)))
    z = (est.value[1:] - exact_correlations(8, beta)[0, 1:5]) / est.stderr[1:]
    assert bool((z.abs() < 4).all()), f"z-scores {z.tolist()}"


def test_samplers_are_seeded():
    a, b = wolff_sample(8, 0.4, 5, seed=2, progress=False), wolff_sample(8, 0.4, 5, seed=2, progress=False)
    assert torch.equal(a, b) and not torch.equal(a, wolff_sample(8, 0.4, 5, seed=3, progress=False))
    assert a.dtype == torch.int8 and set(a.unique().tolist()) <= {-1, 1}
    h = heat_bath_sample(8, 0.4, 3, seed=2, progress=False)
    assert torch.equal(h, heat_bath_sample(8, 0.4, 3, seed=2, progress=False))


def test_correlation_function_of_a_known_configuration():
    stripes = torch.ones(1, 4, 4, dtype=torch.int8)
    stripes[:, :, 1::2] = -1  # columns alternate: along x the product is (-1)^r, along y it is 1
    torch.testing.assert_close(correlation_function(stripes), torch.tensor([1.0, 0.0, 1.0], dtype=torch.float64))



def test_per_sample_correlations_of_known_configurations():
    # all up: every correlation is 1; a checkerboard: (-1)^r along an axis; one row of stripes per sample
    up = torch.ones(1, 6, 6, dtype=torch.int8)
    board = (1 - 2 * ((torch.arange(6)[:, None] + torch.arange(6)[None, :]) % 2)).to(torch.int8)[None]
    c = per_sample_correlations(torch.cat([up, board]))
    torch.testing.assert_close(c, torch.tensor([[1.0, 1, 1, 1], [1, -1, 1, -1]], dtype=torch.float64))


@pytest.mark.parametrize("call,match", [
    (lambda: wolff_sample(8, float("nan"), 2), "beta must be"),
    (lambda: heat_bath_sample(7, 0.4, 2), "even integer"),
    (lambda: correlation_function(torch.zeros(2, 4, 4)), r"spins \+-1"),
    (lambda: per_sample_correlations(torch.full((2, 4, 4), 2, dtype=torch.int8)), r"spins \+-1"),
])
def test_bad_input(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()
