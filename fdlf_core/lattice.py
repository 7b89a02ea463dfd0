"""Periodic square lattice: distances, checkerboard parity, neighbour offsets, input checks.

Conventions (shared by the whole package):
- a lattice field is a ``(n, L, L)`` tensor; sites are ``(row, col)`` tuples;
- distances are periodic Chebyshev distances on the ``L x L`` torus;
- ``L`` is even and ``>= 4`` so that the checkerboard colouring is consistent across the periodic seam.

The validators here are the single place where public entry points check their arguments; they raise
``ValueError``/``TypeError`` naming the parameter, the value and what is allowed.
"""
from __future__ import annotations

import functools
import math
import os
from numbers import Integral, Real

import torch

MIN_L = 4


def check_L(L, name: str = "L") -> int:
    """Return ``L`` as an int after checking it is an even integer ``>= 4``."""
    if isinstance(L, bool) or not isinstance(L, Integral):
        raise TypeError(f"{name} must be an int (even, >= {MIN_L}); got {type(L).__name__} {L!r}")
    if L < MIN_L or L % 2:
        raise ValueError(f"{name} must be an even integer >= {MIN_L} (periodic checkerboard); got {L}")
    return int(L)


# Stated limits. Depths and widths bound how long a model takes to build (10^7 layers hang for minutes, far
# past any use: the paper's deepest stack is 6 pairs, its widest CNN unstated, ours 64); array sizes are
# bounded by memory (``check_memory``), so a huge L or n is refused before anything is allocated.
MAX_DEPTH = 256          # coupling or smoother pairs in one teacher stack
MAX_WIDTH = 4096         # CNN channels
MAX_BLOCKS = 256         # CNN residual blocks
MEMORY_FRACTION = 0.5    # the share of this machine's memory one array computation may plan to use


@functools.cache  # read once: a model's forward checks against it on every call
def memory_bytes() -> int:
    """The memory this process may use, in bytes: the machine's physical memory, or the container's
    cgroup limit where that is lower (16 GiB where neither can be read)."""
    try:
        physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        physical = 16 * 2 ** 30
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):  # v2, v1
        try:
            limit = open(path).read().strip()
        except OSError:
            continue
        if limit.isdigit():
            return min(physical, int(limit))
    return physical


def check_memory(elements: int, bytes_per_element: int, what: str, unit: str = "sites (n L^2)") -> None:
    """``ValueError`` if ``elements`` x ``bytes_per_element`` (an estimate of a computation's peak working
    memory) exceeds ``MEMORY_FRACTION`` of this machine's memory; ``what`` names the sizes that set it and
    ``unit`` what ``elements`` counts."""
    need, limit = elements * bytes_per_element, MEMORY_FRACTION * memory_bytes()
    if need > limit:
        raise ValueError(f"{what} needs about {need / 2 ** 30:.3g} GiB, more than {MEMORY_FRACTION:.0%} of this "
                         f"machine's {memory_bytes() / 2 ** 30:.3g} GiB: at most {int(limit // bytes_per_element):,} "
                         f"{unit}; use a smaller size or count")


def check_int(value, name: str, minimum: int, maximum: int | None = None) -> int:
    """Return ``value`` as an int after checking ``minimum <= value (<= maximum)``."""
    allowed = f">= {minimum}" if maximum is None else f"in [{minimum}, {maximum}]"
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"{name} must be an int {allowed}; got {type(value).__name__} {value!r}")
    if value < minimum or (maximum is not None and value > maximum):
        raise ValueError(f"{name} must be an int {allowed}; got {value}")
    return int(value)


def check_in_range(value, name: str, low: float, high: float, why: str = "") -> float:
    """``value`` as a float after checking it is finite, ``> 0`` and in ``[low, high]``; ``why`` (e.g.
    " (sigma^2 must be a normal float32 number)") is said after the range."""
    value = check_positive(value, name)
    if not low <= value <= high:
        raise ValueError(f"{name} must be in [{low:.3g}, {high:.3g}]{why}; got {value}")
    return value


def check_positive(value, name: str) -> float:
    """Return ``value`` as a float after checking it is finite and ``> 0``."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a finite real number > 0; got {type(value).__name__} {value!r}")
    if not math.isfinite(_as_float(value)) or value <= 0:
        raise ValueError(f"{name} must be a finite real number > 0; got {value}")
    return float(value)


def check_finite(value, name: str) -> float:
    """Return ``value`` as a float after checking it is a finite real number."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a finite real number; got {type(value).__name__} {value!r}")
    if not math.isfinite(_as_float(value)):
        raise ValueError(f"{name} must be a finite real number; got {value}")
    return float(value)


def _as_float(value) -> float:
    """``float(value)``, with values too large for a float mapped to inf (then rejected as non-finite)."""
    try:
        return float(value)
    except OverflowError:
        return math.inf


def check_field(x, name: str = "x", L: int | None = None, checkerboard: bool = True) -> torch.Tensor:
    """Check ``x`` is a finite floating ``(n, L, L)`` tensor with ``n >= 1`` and a valid ``L``: even and
    ``>= 4`` for anything with a checkerboard (teachers), any ``L >= 1`` when not ``checkerboard`` (models).

    Returns ``x`` unchanged (no copy, no dtype cast: callers cast at their own boundary).
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape (n, L, L); got {type(x).__name__}")
    if x.dim() != 3 or x.shape[1] != x.shape[2]:
        raise ValueError(f"{name} must have shape (n, L, L) with a square lattice; got {tuple(x.shape)}")
    if x.shape[0] < 1:
        raise ValueError(f"{name} must hold n >= 1 fields; got shape {tuple(x.shape)}")
    if checkerboard:
        check_L(x.shape[-1], name=f"{name}.shape[-1] (L)")
    elif x.shape[-1] < 1:
        raise ValueError(f"{name} must be on a lattice with L >= 1; got shape {tuple(x.shape)}")
    if L is not None and x.shape[-1] != L:
        raise ValueError(f"{name} must be on an L={L} lattice; got L={x.shape[-1]}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor; got dtype {x.dtype}")
    if not torch.isfinite(x).all():
        raise ValueError(f"{name} must be finite; it contains NaN or inf")
    return x


def check_magnitude(x: torch.Tensor, dtype: torch.dtype, name: str = "x") -> torch.Tensor:
    """``x`` unchanged if ``|x| <= sqrt(max)`` of ``dtype``, the largest values whose squares (and so the
    Gaussian terms and sums of squares computed from them) stay finite there; ``ValueError`` otherwise,
    instead of a silent NaN."""
    bound = math.sqrt(torch.finfo(dtype).max)
    if x.numel() and float(x.detach().abs().max()) > bound:
        raise ValueError(f"{name} must have |{name}| <= {bound:.3g} to be computed in {dtype}; got |{name}| up to "
                         f"{float(x.abs().max()):.3g}")
    return x


def check_site(site, L: int, name: str = "site") -> tuple[int, int]:
    """Return ``site`` as a ``(row, col)`` tuple of ints inside ``[0, L)``."""
    if (not isinstance(site, (tuple, list)) or len(site) != 2
            or any(isinstance(c, bool) or not isinstance(c, Integral) for c in site)):
        raise TypeError(f"{name} must be a (row, col) pair of ints; got {site!r}")
    r, c = int(site[0]), int(site[1])
    if not (0 <= r < L and 0 <= c < L):
        raise ValueError(f"{name} must lie inside the lattice, 0 <= row, col < {L}; got {site!r}")
    return r, c


def canonical_offset(d: int, L: int) -> int:
    """Representative of the displacement ``d`` modulo ``L`` in ``(-L/2, L/2]``."""
    d = d % L
    return d - L if d > L // 2 else d


def window_fits(radius: int, L: int) -> bool:
    """Whether a window of ``2 radius + 1`` sites fits in a periodic lattice of ``L`` sites, i.e. reads no
    site twice. A wider one sees sites' periodic images, whose weights training cannot tell apart: a model
    trained with it scores differently at its training size than on larger lattices
    (results/studies/small_train/)."""
    return 2 * radius + 1 <= L


def cyclic_distance(L: int) -> torch.Tensor:
    """``(L, L)`` int64 matrix of distances ``min(|i - j|, L - |i - j|)`` on a ring of ``L`` sites."""
    idx = torch.arange(L)
    return torch.minimum((idx[:, None] - idx[None, :]) % L, (idx[None, :] - idx[:, None]) % L)


def distance_map(L: int, site: tuple[int, int] = (0, 0)) -> torch.Tensor:
    """Periodic Chebyshev distance of every site to ``site``: ``(L, L)`` int64, values in ``[0, L/2]``."""
    L = check_L(L)
    r, c = check_site(site, L)
    ring = cyclic_distance(L)
    return torch.maximum(ring[r][:, None], ring[c][None, :])


def parity_mask(L: int, parity: int) -> torch.Tensor:
    """``(L, L)`` bool mask of the checkerboard class ``(row + col) % 2 == parity``."""
    L = check_L(L)
    if parity not in (0, 1):
        raise ValueError(f"parity must be 0 or 1; got {parity!r}")
    idx = torch.arange(L)
    return (idx[:, None] + idx[None, :]) % 2 == parity


def neighbour_offsets(L: int, cutoff: int, *, odd_only: bool = False) -> list[tuple[int, int, int]]:
    """Distinct torus displacements ``(dy, dx)`` with ``0 < dist <= cutoff``, as ``(dy, dx, dist)``.

    Displacements are taken modulo ``L`` and listed once each (canonical representatives in
    ``(-L/2, L/2]``), so a cutoff of ``L/2`` or more does not count a wrapped site twice.
    ``odd_only`` keeps the displacements with ``dy + dx`` odd, i.e. those joining the two checkerboard
    classes (well defined because ``L`` is even). Sorted by ``(dist, dy, dx)``.
    """
    L = check_L(L)
    cutoff = check_int(cutoff, "cutoff", 0)
    reach = min(cutoff, L // 2)
    seen = set()
    for dy in range(-reach, reach + 1):
        for dx in range(-reach, reach + 1):
            seen.add((canonical_offset(dy, L), canonical_offset(dx, L)))
    out = []
    for dy, dx in seen:
        dist = max(abs(dy), abs(dx))
        if 0 < dist <= cutoff and (not odd_only or (dy + dx) % 2):
            out.append((dy, dx, dist))
    return sorted(out, key=lambda t: (t[2], t[0], t[1]))
