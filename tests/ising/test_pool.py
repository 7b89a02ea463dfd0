"""ising.pool: cached Wolff pools (atomic, validated) and the symmetry-augmented Ising data source."""
import pytest
import torch

from fdlf_core.ising import pool
from fdlf_core.ising import (BETA_C, IsingData, IsingPoolConfig, per_sample_correlations, random_symmetry,
                             sample_pool)

CFG = IsingPoolConfig(L=8, beta=0.9 * BETA_C, n_samples=6, seed=1)


def test_pool_is_cached_and_reused(tmp_path, monkeypatch):
    first = sample_pool(CFG, tmp_path, progress=False)
    assert len(list(tmp_path.iterdir())) == 1 and first.shape == (6, 8, 8) and first.dtype == torch.int8
    assert torch.equal(sample_pool(CFG, None, progress=False), first)  # same seed, same chain

    def no_sampling(*args, **kwargs):
        raise AssertionError("the cached pool should have been read")
    monkeypatch.setattr(pool, "wolff_sample", no_sampling)
    assert torch.equal(sample_pool(CFG, tmp_path, progress=False), first)


def test_damaged_or_foreign_pool_files_are_refused(tmp_path):
    sample_pool(CFG, tmp_path, progress=False)
    path = next(tmp_path.iterdir())
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(ValueError, match="not a readable fdlf Ising pool"):
        sample_pool(CFG, tmp_path, progress=False)
    other = IsingPoolConfig(L=8, beta=0.5, n_samples=6, seed=1)
    torch.save({"format": "fdlf.ising_pool/1", "config": {"L": 8}, "samples": torch.zeros(6, 8, 8)},
               tmp_path / f"ising_pool_{other.key}.pt")
    with pytest.raises(ValueError, match="holds another pool"):
        sample_pool(other, tmp_path, progress=False)


def test_interrupted_pool_write_leaves_no_file(tmp_path, monkeypatch):
    def boom(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(torch, "save", boom)
    with pytest.raises(KeyboardInterrupt):
        sample_pool(CFG, tmp_path, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_symmetries_keep_the_correlations_and_the_spins():
    x = sample_pool(CFG, progress=False).to(torch.float64)
    y = random_symmetry(x, torch.Generator().manual_seed(0))
    assert not torch.equal(x, y)
    torch.testing.assert_close(per_sample_correlations(y), per_sample_correlations(x), rtol=0, atol=1e-12)
    torch.testing.assert_close(y.sum(dim=(1, 2)).abs(), x.sum(dim=(1, 2)).abs())  # |magnetisation| kept


def test_data_source_is_seeded_and_checks_L():
    data = IsingData(CFG, progress=False)
    a = data.sample(5, 8, torch.Generator().manual_seed(3))
    assert a.shape == (5, 8, 8) and a.dtype == torch.float64 and set(a.unique().tolist()) <= {-1.0, 1.0}
    assert torch.equal(a, data.sample(5, 8, torch.Generator().manual_seed(3)))
    with pytest.raises(ValueError, match="pool's lattice size 8"):
        data.sample(2, 16)


@pytest.mark.parametrize("kwargs,match", [
    ({"L": 1}, "L must be"), ({"beta": 0.0}, "beta must be"), ({"n_samples": 0}, "n_samples must be"),
    ({"seed": -1}, "seed must be"), ({"sweeps_between": 0.0}, "sweeps_between must be"),
])
def test_bad_pool_config(kwargs, match):
    base = {"L": 8, "beta": 0.4, "n_samples": 2}
    with pytest.raises((ValueError, TypeError), match=match):
        IsingPoolConfig(**{**base, **kwargs})
