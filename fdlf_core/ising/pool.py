"""Cached pools of Wolff samples, and the Ising data source that DSM training draws from.

A pool is ``n_samples`` consecutive samples of one Wolff chain (``IsingPoolConfig``), written atomically
to ``<cache_dir>/ising_pool_<hash>.pt`` with its config, so a later run (or another process) reuses it and
a killed run leaves no partial file. ``IsingData.sample`` draws pool entries with a random lattice
symmetry (translation, one of the 8 rotations/reflections, global spin flip), all of which leave the
Ising measure invariant, so the pool's few thousand samples serve many training steps.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from .. import lattice, registry
from ..atomic import atomic_write, read_tagged
from ..provenance import config_hash
from .exact import check_beta, check_ising_L
from .sampling import wolff_sample

POOL_FORMAT = "fdlf.ising_pool/1"


@registry.data_config
@dataclass(frozen=True)
class IsingPoolConfig:
    """One Wolff chain: lattice ``L``, coupling ``beta``, ``n_samples`` samples ``sweeps_between`` apart."""

    L: int
    beta: float
    n_samples: int
    seed: int = 0
    sweeps_between: float = 1.0
    thermalize: float = 20.0

    def __post_init__(self):
        check_ising_L(self.L)
        check_beta(self.beta)
        lattice.check_int(self.n_samples, "n_samples", 1)
        lattice.check_int(self.seed, "seed", 0)
        lattice.check_positive(self.sweeps_between, "sweeps_between")
        lattice.check_positive(self.thermalize, "thermalize")

    @property
    def key(self) -> str:
        return config_hash(dataclasses.asdict(self))


def load_pool(path: str | os.PathLike, config: IsingPoolConfig) -> torch.Tensor:
    """The samples stored at ``path``; ``ValueError`` if the file is damaged, foreign or another pool."""
    payload = read_tagged(path, POOL_FORMAT, "Ising pool")
    if payload.get("config") != dataclasses.asdict(config):
        raise ValueError(f"{path} holds another pool (config {payload.get('config')}); move it away")
    samples = payload.get("samples")
    expected = (config.n_samples, config.L, config.L)
    if not isinstance(samples, torch.Tensor) or tuple(samples.shape) != expected or samples.dtype != torch.int8:
        raise ValueError(f"{path} is a damaged Ising pool (samples are not int8 of shape {expected})")
    return samples


def sample_pool(config: IsingPoolConfig, cache_dir: str | os.PathLike | None = None,
                progress: bool = True) -> torch.Tensor:
    """The pool of ``config``: ``(n_samples, L, L)`` int8 spins, read from ``cache_dir`` if cached there,
    else sampled (and then cached atomically when ``cache_dir`` is given)."""
    if not isinstance(config, IsingPoolConfig):
        raise TypeError(f"config must be an IsingPoolConfig; got {type(config).__name__}")
    path = None if cache_dir is None else Path(cache_dir) / f"ising_pool_{config.key}.pt"
    if path is not None and path.exists():
        return load_pool(path, config)
    samples = wolff_sample(config.L, config.beta, config.n_samples, seed=config.seed,
                           sweeps_between=config.sweeps_between, thermalize=config.thermalize, progress=progress)
    if path is not None:
        payload = {"format": POOL_FORMAT, "config": dataclasses.asdict(config), "samples": samples}
        atomic_write(path, lambda f: torch.save(payload, f))
    return samples


def random_symmetry(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Each field of ``x (n, L, L)`` under its own random translation, dihedral map and global sign."""
    n, L = x.shape[0], x.shape[-1]
    shifts = torch.randint(L, (n, 2), generator=generator)
    dihedral = torch.randint(8, (n,), generator=generator)
    signs = torch.randint(2, (n,), generator=generator) * 2 - 1
    out = []
    for k in range(n):
        f = torch.roll(x[k], (int(shifts[k, 0]), int(shifts[k, 1])), (0, 1))
        f = torch.rot90(f, int(dihedral[k]) % 4, (0, 1))
        out.append(f.T if dihedral[k] >= 4 else f)
    return torch.stack(out) * signs[:, None, None].to(x.dtype)


class IsingData:
    """Noise-free Ising training data from a Wolff pool, in the shape DSM training asks of a teacher.

    ``sample(n, L, generator)`` -> ``(n, L, L)`` float64 spins ``+-1``: ``n`` pool entries drawn uniformly
    with replacement, each under a random lattice symmetry. ``L`` must be the pool's size (a fixed-size
    chain cannot be resized).
    """

    def __init__(self, config: IsingPoolConfig, cache_dir: str | os.PathLike | None = None,
                 progress: bool = True):
        self.config = config
        self.pool = sample_pool(config, cache_dir, progress)

    def sample(self, n: int, L: int, generator: torch.Generator | None = None) -> torch.Tensor:
        n = lattice.check_int(n, "n", 1)
        if L != self.config.L:
            raise ValueError(f"L must be the pool's lattice size {self.config.L}; got {L!r}")
        if generator is not None and not isinstance(generator, torch.Generator):
            raise TypeError(f"generator must be a torch.Generator or None; got {type(generator).__name__}")
        gen = generator if generator is not None else torch.default_generator
        idx = torch.randint(len(self.pool), (n,), generator=gen)
        return random_symmetry(self.pool[idx].to(torch.float64), gen)
