"""ising.sampling: the Wolff, Swendsen-Wang and heat-bath chains against the transfer matrix's exact correlations, seeding,
and the correlation estimators on known configurations."""
import numpy as np
import pytest
import torch

from fdlf_core.ising import (BETA_C, correlation_function, exact_correlations, heat_bath_sample,
                             per_sample_correlations, swendsen_wang_sample, wolff_sample)
from fdlf_core.ising.sampling import _components
from fdlf_core.stats import binned_mean

@pytest.mark.parametrize("ratio", [0.8, 0.9, 1.0, 1.1])
def test_wolff_matches_the_transfer_matrix(ratio):
    beta = ratio * BETA_C
    est = binned_mean(per_sample_correlations(wolff_sample(8, beta, 3000, seed=11, progress=False)))
    exact = exact_correlations(8, beta)[0, :5]
    z = (est.value[1:] - exact[1:]) / est.stderr[1:]
    assert bool((z.abs() < 4).all()), f"z-scores {z.tolist()}"
    assert bool((est.stderr[1:] < 0.02).all())


@pytest.mark.parametrize("ratio", [0.9, 1.0, 1.1])
def test_swendsen_wang_matches_the_transfer_matrix(ratio):
    beta = ratio * BETA_C
    stats = {}
    x = swendsen_wang_sample(8, beta, 3000, seed=5, progress=False, stats=stats)
    est = binned_mean(per_sample_correlations(x))
    z = (est.value[1:] - exact_correlations(8, beta)[0, 1:5]) / est.stderr[1:]
    assert bool((z.abs() < 4).all()), f"z-scores {z.tolist()}"
    assert bool((est.stderr[1:] < 0.02).all())
    assert stats["sweeps"] == 2999 and stats["spin_updates"] == 2999 * 64 and stats["wall_s"] > 0


def _components_by_search(n, a, b):
    """Each vertex's smallest component member, by depth-first search (the reference)."""
    adjacent = [[] for _ in range(n)]
    for u, v in zip(a.tolist(), b.tolist()):
        adjacent[u].append(v)
        adjacent[v].append(u)
    label = [-1] * n
    for root in range(n):
        if label[root] < 0:
            label[root], stack = root, [root]
            while stack:
                for v in adjacent[stack.pop()]:
                    if label[v] < 0:
                        label[v] = root
                        stack.append(v)
    return np.array(label)


def test_vectorised_union_find_finds_the_components():
    rng = np.random.default_rng(0)
    for _ in range(100):  # random multigraphs with self-loops, repeated edges, isolated vertices
        n, m = int(rng.integers(1, 120)), int(rng.integers(0, 200))
        a, b = rng.integers(0, n, m), rng.integers(0, n, m)
        assert np.array_equal(_components(n, a, b), _components_by_search(n, a, b))
    path = np.arange(499, 0, -1)  # a path listed from its far end: many hooks in one round, then jumping
    assert (_components(500, path, path - 1) == 0).all()


def test_heat_bath_matches_the_transfer_matrix():
    beta = 0.9 * BETA_C
    est = binned_mean(per_sample_correlations(heat_bath_sample(8, beta, 3000, seed=3, progress=False)))
    z = (est.value[1:] - exact_correlations(8, beta)[0, 1:5]) / est.stderr[1:]
    assert bool((z.abs() < 4).all()), f"z-scores {z.tolist()}"


def test_samplers_are_seeded():
    a, b = wolff_sample(8, 0.4, 5, seed=2, progress=False), wolff_sample(8, 0.4, 5, seed=2, progress=False)
    assert torch.equal(a, b) and not torch.equal(a, wolff_sample(8, 0.4, 5, seed=3, progress=False))
    assert a.dtype == torch.int8 and set(a.unique().tolist()) <= {-1, 1}
    sw = swendsen_wang_sample(8, 0.4, 5, seed=2, progress=False)
    assert torch.equal(sw, swendsen_wang_sample(8, 0.4, 5, seed=2, progress=False)) and sw.dtype == torch.int8
    assert not torch.equal(sw, swendsen_wang_sample(8, 0.4, 5, seed=3, progress=False))
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
    (lambda: swendsen_wang_sample(8, -1.0, 2), "beta must be"),
    (lambda: swendsen_wang_sample(8, 0.4, 2, sweeps_between=0), "sweeps_between must be"),
    (lambda: swendsen_wang_sample(8, 0.4, 2, sweeps_between=1.5), "sweeps_between must be"),
    (lambda: correlation_function(torch.zeros(2, 4, 4)), r"spins \+-1"),
    (lambda: per_sample_correlations(torch.full((2, 4, 4), 2, dtype=torch.int8)), r"spins \+-1"),
])
def test_bad_input(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()
