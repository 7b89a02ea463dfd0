"""Ising Monte Carlo: Wolff and Swendsen-Wang cluster samplers, a checkerboard heat-bath sampler, and
honest error bars.

The samplers return Markov-chain samples ``(n_samples, L, L)`` of spins ``+-1`` (``torch.int8``), seeded
(a ``seed`` int; numpy's PCG64 drives the cluster growth, torch's generator the heat bath), so the same
seed gives the same chain. Consecutive samples are correlated; ``fdlf_core.stats.binned_mean`` gives error
bars that account for it.
"""
from __future__ import annotations

import math
import time

import numpy as np
import torch

from .. import lattice
from ..progress import bar as progress_bar
from .exact import check_beta, check_ising_L


def _neighbours(L: int) -> np.ndarray:
    """``(L*L, 4)`` flat indices of the right, left, down and up neighbours on the torus."""
    r, c = np.divmod(np.arange(L * L), L)
    return np.stack([r * L + (c + 1) % L, r * L + (c - 1) % L, ((r + 1) % L) * L + c, ((r - 1) % L) * L + c], 1)


def _wolff_flip(spins: np.ndarray, nbr: np.ndarray, p_add: float, rng: np.random.Generator) -> int:
    """Grow one Wolff cluster from a random site breadth-first and flip it; returns its size.

    Each layer tests, at once, every bond from the newest cluster sites to equal, not-yet-joined
    neighbours (each bond at most once: a bond is tested only from its cluster end, while its other end
    is outside), so the cluster is the seed's component of the bond percolation with ``p = 1 - e^(-2 beta)``.
    """
    seed = rng.integers(spins.size)
    s = spins[seed]
    in_cluster = np.zeros(spins.size, dtype=bool)
    in_cluster[seed] = True
    frontier = np.array([seed])
    while frontier.size:
        cand = nbr[frontier].ravel()
        cand = cand[(spins[cand] == s) & ~in_cluster[cand]]
        frontier = np.unique(cand[rng.random(cand.size) < p_add])
        in_cluster[frontier] = True
    spins[in_cluster] = -s
    return int(in_cluster.sum())


MAX_SPIN_UPDATES = 10 ** 11  # a chain's stated limit: days on one core, far past any use here


def _check_work(L: int, n_samples: int, sweeps_between: float, thermalize: float) -> None:
    updates = (thermalize + n_samples * sweeps_between) * L * L
    if updates > MAX_SPIN_UPDATES:
        raise ValueError(f"thermalize + n_samples x sweeps_between = {thermalize + n_samples * sweeps_between:.3g} "
                         f"sweeps of L={L} is {updates:.3g} spin updates, more than the limit {MAX_SPIN_UPDATES:.0e}; "
                         f"use fewer samples or sweeps")


def wolff_sample(L: int, beta: float, n_samples: int, seed: int = 0, sweeps_between: float = 1.0,
                 thermalize: float = 20.0, progress: bool = True, stats: dict | None = None) -> torch.Tensor:
    """``n_samples`` spin configurations of the periodic ``L x L`` Ising model from a Wolff chain.

    The chain first flips clusters until ``thermalize * L^2`` spins have been flipped; from the mean
    cluster size seen there it fixes ``k``, the number of cluster flips worth ``sweeps_between * L^2``
    spins, and records a sample every ``k`` flips. (The count must be fixed in advance: stopping when the
    flipped spins reach a target would favour states right after a large cluster, which are biased
    towards order.) Returns ``(n_samples, L, L)`` int8 spins ``+-1``. ``stats``, if given, receives
    ``flips_between`` and, for the sampling phase, the cluster flips, flipped spins and wall time.
    """
    L = check_ising_L(L)
    beta = check_beta(beta)
    n_samples = lattice.check_int(n_samples, "n_samples", 1)
    seed = lattice.check_int(seed, "seed", 0)
    sweeps_between = lattice.check_positive(sweeps_between, "sweeps_between")
    thermalize = lattice.check_positive(thermalize, "thermalize")
    # the int8 samples, and per site the chain's spins, neighbour table and cluster stack (int64)
    lattice.check_memory(n_samples * L * L + 64 * L * L, 1, f"{n_samples} Ising sample(s) of L={L}", "bytes")
    _check_work(L, n_samples, sweeps_between, thermalize)
    rng = np.random.default_rng(seed)
    nbr = _neighbours(L)
    p_add = -math.expm1(-2 * beta)
    spins = rng.choice(np.array([-1, 1], dtype=np.int8), L * L)
    flipped = flips = 0
    while flipped < thermalize * L * L:
        flipped += _wolff_flip(spins, nbr, p_add, rng)
        flips += 1
    flips_between = max(1, round(sweeps_between * L * L * flips / flipped))
    out = np.empty((n_samples, L * L), dtype=np.int8)
    flipped = 0
    start = time.perf_counter()
    for k in progress_bar(n_samples, f"Wolff L={L} beta={beta:.4f}", progress):
        for _ in range(flips_between if k else 0):
            flipped += _wolff_flip(spins, nbr, p_add, rng)
        out[k] = spins
    if stats is not None:
        stats.update(flips_between=flips_between, cluster_flips=flips_between * (n_samples - 1),
                     spins_flipped=flipped, wall_s=time.perf_counter() - start)
    return torch.from_numpy(out.reshape(n_samples, L, L))


def _components(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Connected components of the graph on ``n`` vertices with edges ``(a[k], b[k])``: each vertex's label,
    the smallest vertex of its component.

    Vectorised union-find: every round hooks each root that has an edge to a smaller root onto the
    smallest such root, then compresses every path by pointer jumping, and drops the edges now inside one
    tree. The minimum label of a component only ever goes down, so it ends at the component's smallest
    vertex; a round hooks at least one root per pending component, and pointer jumping halves path lengths.
    """
    parent = np.arange(n)
    while True:
        while True:  # full compression: every vertex points at its root
            grand = parent[parent]
            if np.array_equal(grand, parent):
                break
            parent = grand
        ra, rb = parent[a], parent[b]
        pending = ra != rb
        if not pending.any():
            return parent
        a, b, ra, rb = a[pending], b[pending], ra[pending], rb[pending]
        np.minimum.at(parent, np.maximum(ra, rb), np.minimum(ra, rb))


def _swendsen_wang_sweep(spins: np.ndarray, bonds: tuple[np.ndarray, np.ndarray], p_add: float,
                         rng: np.random.Generator) -> None:
    """One Swendsen-Wang update in place: occupy each bond between equal spins with ``p = 1 - e^(-2 beta)``,
    find the clusters, flip each with probability 1/2 (every spin is updated)."""
    a, b = bonds
    occupied = (spins[a] == spins[b]) & (rng.random(a.size) < p_add)
    labels = _components(spins.size, a[occupied], b[occupied])
    flip = rng.random(spins.size) < 0.5  # one coin per label (a cluster's smallest site)
    spins[flip[labels]] *= -1


def swendsen_wang_sample(L: int, beta: float, n_samples: int, seed: int = 0, sweeps_between: int = 1,
                         thermalize: int = 20, progress: bool = True, stats: dict | None = None) -> torch.Tensor:
    """``n_samples`` spin configurations of the periodic ``L x L`` Ising model from a Swendsen-Wang chain.

    Each sweep updates every spin (all clusters of the bond percolation at once, each flipped with
    probability 1/2), so unlike Wolff's the sweep count is fixed in advance. ``thermalize`` sweeps, then a
    sample every ``sweeps_between`` sweeps. Returns ``(n_samples, L, L)`` int8 spins ``+-1``. ``stats``, if
    given, receives the sampling phase's ``sweeps``, ``spin_updates`` and ``wall_s``.
    """
    L = check_ising_L(L)
    beta = check_beta(beta)
    n_samples = lattice.check_int(n_samples, "n_samples", 1)
    seed = lattice.check_int(seed, "seed", 0)
    sweeps_between = lattice.check_int(sweeps_between, "sweeps_between", 1)
    thermalize = lattice.check_int(thermalize, "thermalize", 0)
    # the int8 samples, and per site the spins, the bond lists, labels and coins (int64 / float64)
    lattice.check_memory(n_samples * L * L + 64 * L * L, 1, f"{n_samples} Ising sample(s) of L={L}", "bytes")
    _check_work(L, n_samples, sweeps_between, thermalize)
    rng = np.random.default_rng(seed)
    nbr = _neighbours(L)
    sites = np.arange(L * L)
    bonds = (np.concatenate([sites, sites]), np.concatenate([nbr[:, 0], nbr[:, 2]]))  # right and down: each once
    p_add = -math.expm1(-2 * beta)
    spins = rng.choice(np.array([-1, 1], dtype=np.int8), L * L)
    for _ in range(thermalize):
        _swendsen_wang_sweep(spins, bonds, p_add, rng)
    out = np.empty((n_samples, L * L), dtype=np.int8)
    start = time.perf_counter()
    for k in progress_bar(n_samples, f"Swendsen-Wang L={L} beta={beta:.4f}", progress):
        for _ in range(sweeps_between if k else 0):
            _swendsen_wang_sweep(spins, bonds, p_add, rng)
        out[k] = spins
    if stats is not None:
        sweeps = sweeps_between * (n_samples - 1)
        stats.update(sweeps=sweeps, spin_updates=sweeps * L * L, wall_s=time.perf_counter() - start)
    return torch.from_numpy(out.reshape(n_samples, L, L))


def heat_bath_sample(L: int, beta: float, n_samples: int, seed: int = 0, sweeps_between: int = 1,
                     thermalize: int = 200, progress: bool = True) -> torch.Tensor:
    """``n_samples`` configurations from a checkerboard heat-bath chain (even ``L``: the two colours must
    not touch across the periodic seam). A sweep updates all black, then all white sites, each to
    ``+1`` with probability ``1 / (1 + exp(-2 beta h))``, ``h`` the sum of its 4 neighbours. Local moves:
    slow near ``beta_c`` (critical slowing down); use it as an independent check of ``wolff_sample``.
    Returns ``(n_samples, L, L)`` int8.
    """
    L = lattice.check_L(L)
    beta = check_beta(beta)
    n_samples = lattice.check_int(n_samples, "n_samples", 1)
    sweeps_between = lattice.check_int(sweeps_between, "sweeps_between", 1)
    thermalize = lattice.check_int(thermalize, "thermalize", 0)
    lattice.check_memory(n_samples * L * L + 64 * L * L, 1, f"{n_samples} Ising sample(s) of L={L}", "bytes")
    _check_work(L, n_samples, sweeps_between, thermalize)
    gen = torch.Generator().manual_seed(lattice.check_int(seed, "seed", 0))
    x = torch.where(torch.rand(L, L, generator=gen, dtype=torch.float64) < 0.5, -1.0, 1.0)
    black = lattice.parity_mask(L, 0)

    def sweep() -> None:
        nonlocal x
        for mask in (black, ~black):
            h = x.roll(1, 0) + x.roll(-1, 0) + x.roll(1, 1) + x.roll(-1, 1)
            up = torch.rand(L, L, generator=gen, dtype=torch.float64) < torch.sigmoid(2 * beta * h)
            x = torch.where(mask, torch.where(up, 1.0, -1.0), x)

    for _ in range(thermalize):
        sweep()
    out = torch.empty(n_samples, L, L, dtype=torch.int8)
    for k in progress_bar(n_samples, f"heat bath L={L} beta={beta:.4f}", progress):
        for _ in range(sweeps_between if k else 0):
            sweep()
        out[k] = x.to(torch.int8)
    return out


def _check_spins(samples) -> torch.Tensor:
    if not isinstance(samples, torch.Tensor):
        raise TypeError(f"samples must be a torch.Tensor (n, L, L) of spins +-1; got {type(samples).__name__}")
    if samples.dim() != 3 or samples.shape[1] != samples.shape[2] or samples.shape[0] < 1:
        raise ValueError(f"samples must have shape (n, L, L) with n >= 1; got {tuple(samples.shape)}")
    if not bool(((samples == 1) | (samples == -1)).all()):
        raise ValueError("samples must hold spins +-1 only")
    return samples.to(torch.float64)


def per_sample_correlations(samples: torch.Tensor) -> torch.Tensor:
    """``(n, L // 2 + 1)``: for each sample, ``x_i x_(i+r)`` averaged over all sites ``i`` and both axis
    directions of ``r = 0 .. L // 2`` (the periodic autocorrelation by FFT)."""
    x = _check_spins(samples)
    L = x.shape[-1]
    f = torch.fft.fft2(x)
    auto = torch.fft.ifft2(f * f.conj()).real / L ** 2                 # (n, L, L): [dy, dx]
    r = torch.arange(L // 2 + 1)
    return (auto[:, 0, r] + auto[:, r, 0]) / 2


def correlation_function(samples: torch.Tensor) -> torch.Tensor:
    """``<x_0 x_r>`` along the axes for ``r = 0 .. L // 2``, averaged over sites, directions and samples:
    ``(L // 2 + 1,)`` float64. Error bars: ``stats.binned_mean(per_sample_correlations(samples))``."""
    return per_sample_correlations(samples).mean(0)
