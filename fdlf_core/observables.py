"""Local observables of lattice samples and their generated-vs-teacher error (paper Appendix C.2, Table 5).

For samples ``x (n, L, L)`` on the periodic lattice, every observable is a translation average (the
teachers are translation invariant), so one sample gives ``L^2`` terms of each:

* per-site moments: mean, variance, skewness and kurtosis of the site values;
* correlations ``<x_i x_(i+r)> - <x>^2`` at the nearest neighbours along both axes (``r = (0, 1)``,
  ``(1, 0)``), the next-nearest along both axes (``(0, 2)``, ``(2, 0)``) and the two diagonals (``(1, 1)``,
  ``(1, -1)``).

``local_observables`` returns them as a dict (``OBSERVABLES`` order); ``observable_mae`` is the mean
absolute error of a generated set against a reference set over all of them, with a bootstrap standard
error that resamples both sets' samples (the Table 5 number), and beside it the relative correlation error
``sum_r |c_gen(r) - c_ref(r)| / sum_r |c_ref(r)|`` over the six offsets (beyond the paper): on teachers with
weak local correlations the absolute MAE cannot show that a model misses them; this can (0: every
correlation right, 1: as far off as setting them all to zero).
"""
from __future__ import annotations

import torch

from . import lattice

OFFSETS = {"corr_01": (0, 1), "corr_10": (1, 0), "corr_02": (0, 2), "corr_20": (2, 0), "corr_11": (1, 1),
           "corr_1m1": (1, -1)}
OBSERVABLES = ("mean", "variance", "skewness", "kurtosis", *OFFSETS)


def relative_correlation_error(observed: dict[str, float], reference: dict[str, float]) -> float:
    """``sum_r |observed[r] - reference[r]| / sum_r |reference[r]|`` over the correlation offsets ``OFFSETS``
    of two ``local_observables`` dicts (dimensionless; ``inf`` if every reference correlation is 0)."""
    num = sum(abs(observed[k] - reference[k]) for k in OFFSETS)
    den = sum(abs(reference[k]) for k in OFFSETS)
    return num / den if den > 0 else float("inf")


def _per_sample(x: torch.Tensor) -> dict[str, torch.Tensor]:
    """The raw moment sums of each sample, ``(n,)`` each: what the observables are functions of."""
    x = x.to(torch.float64)
    sums = {f"m{k}": (x ** k).mean(dim=(1, 2)) for k in (1, 2, 3, 4)}
    for name, (dr, dc) in OFFSETS.items():
        sums[name] = (x * torch.roll(x, (-dr, -dc), (1, 2))).mean(dim=(1, 2))
    return sums


def _from_sums(sums: dict[str, torch.Tensor], weights: torch.Tensor | None = None) -> dict[str, float]:
    avg = {k: float(v.mean() if weights is None else (v * weights).sum() / weights.sum()) for k, v in sums.items()}
    m1, m2, m3, m4 = (avg[f"m{k}"] for k in (1, 2, 3, 4))
    var = m2 - m1 ** 2
    if var <= 0:
        raise ValueError("the samples have zero variance: the moments beyond the mean are undefined")
    central3 = m3 - 3 * m1 * m2 + 2 * m1 ** 3
    central4 = m4 - 4 * m1 * m3 + 6 * m1 ** 2 * m2 - 3 * m1 ** 4
    out = {"mean": m1, "variance": var, "skewness": central3 / var ** 1.5, "kurtosis": central4 / var ** 2}
    out.update({name: avg[name] - m1 ** 2 for name in OFFSETS})
    return out


def local_observables(x: torch.Tensor) -> dict[str, float]:
    """The local observables (module docstring) of samples ``x (n, L, L)``, ``L >= 5`` (the offsets of 2
    must be distinct sites on the torus), pooled over samples and sites."""
    x = lattice.check_field(x, "x", checkerboard=False)
    if x.shape[-1] < 5:
        raise ValueError(f"x must be on a lattice with L >= 5 (correlations at distance 2 on a torus); got L={x.shape[-1]}")
    return _from_sums(_per_sample(x))


def observable_mae(generated: torch.Tensor, reference: torch.Tensor, n_boot: int = 200,
                   seed: int = 0) -> dict[str, object]:
    """Mean absolute error over ``OBSERVABLES`` of ``generated`` against ``reference`` (both ``(n, L, L)``,
    the same ``L``): ``{"mae", "stderr"`` (bootstrap over samples of both sets, ``n_boot`` resamples from
    ``seed``), ``"per_observable"``: each absolute error, ``"per_observable_stderr"``: its bootstrap standard
    error, ``"corr_rel"``, ``"corr_rel_stderr"``: ``relative_correlation_error`` of the two sets and its
    bootstrap standard error (the same resamples), ``"generated"``, ``"reference"``: the observables``}``."""
    generated = lattice.check_field(generated, "generated", checkerboard=False)
    reference = lattice.check_field(reference, "reference", L=generated.shape[-1], checkerboard=False)
    n_boot = lattice.check_int(n_boot, "n_boot", 2)
    gen_obs, ref_obs = local_observables(generated), local_observables(reference)
    errors = {k: abs(gen_obs[k] - ref_obs[k]) for k in OBSERVABLES}
    gen_sums, ref_sums = _per_sample(generated), _per_sample(reference)
    rng = torch.Generator().manual_seed(lattice.check_int(seed, "seed", 0))
    boot, boot_each, boot_rel = [], [], []
    for _ in range(n_boot):
        # multinomial weights = resampling each set's samples with replacement
        wg = torch.bincount(torch.randint(generated.shape[0], (generated.shape[0],), generator=rng),
                            minlength=generated.shape[0]).to(torch.float64)
        wr = torch.bincount(torch.randint(reference.shape[0], (reference.shape[0],), generator=rng),
                            minlength=reference.shape[0]).to(torch.float64)
        g, r = _from_sums(gen_sums, wg), _from_sums(ref_sums, wr)
        boot_each.append([abs(g[k] - r[k]) for k in OBSERVABLES])
        boot.append(sum(boot_each[-1]) / len(OBSERVABLES))
        boot_rel.append(relative_correlation_error(g, r))
    se = lambda values: float(torch.tensor(values, dtype=torch.float64).std())
    each_se = torch.tensor(boot_each, dtype=torch.float64).std(0)
    return {"mae": sum(errors.values()) / len(errors), "stderr": se(boot), "per_observable": errors,
            "per_observable_stderr": dict(zip(OBSERVABLES, each_se.tolist())),
            "corr_rel": relative_correlation_error(gen_obs, ref_obs), "corr_rel_stderr": se(boot_rel),
            "generated": gen_obs, "reference": ref_obs}
