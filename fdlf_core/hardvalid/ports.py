"""The hard-valid port layer of the 3D mixed teacher (paper Appendix B.1): port states ``b`` on the open cubic
lattice {0..L-1}^3, sampled without rejection from a library of 2x2x2 block patterns, with exact log P(b).

A site's port state is a subset of the six directions, stored as a 6-bit mask (bit k for ``DIRECTIONS[k]``):
0 is an empty site; occupied sites have degree one or two. Validity (checked by ``check_ports``, true for
every sample by construction): ``d in b_i  <=>  -d in b_{i+d}`` for every nearest-neighbour pair, and no
port faces the boundary.

The box is tiled into 2x2x2 blocks. Each block draws one pattern from a fixed library: empty, one edge, or
a two-edge path, all inside the block (1 + 12 + 24 = 37 patterns), with logits from the teacher's seed;
blocks are independent, so log P(b) is a sum over blocks. A configuration outside the model's support
(a block that is not a library pattern, or an edge between blocks) has probability zero.

Shapes: ``b`` is ``(n, L, L, L)`` int64 with axes (x, y, z); ``L`` even, >= 2.
"""
from __future__ import annotations

import functools
import itertools

import torch

from .. import lattice

# the six directions as (axis, sign); bit k of a port state is DIRECTIONS[k]; OPPOSITE[k] is -DIRECTIONS[k]
DIRECTIONS = ((0, 1), (0, -1), (1, 1), (1, -1), (2, 1), (2, -1))
OPPOSITE = (1, 0, 3, 2, 5, 4)
BLOCK = 2


def check_L3(L, name: str = "L") -> int:
    """``L`` as an int: the side of the open cubic box, even (2x2x2 blocks) and >= 2."""
    L = lattice.check_int(L, name, 2)
    if L % 2:
        raise ValueError(f"{name} must be even (the box is tiled by 2x2x2 blocks); got {L}")
    return L


def _block_sites() -> list[tuple[int, int, int]]:
    return list(itertools.product(range(BLOCK), repeat=3))


def _block_edges() -> list[tuple[int, int, int]]:
    """The 12 edges inside a 2x2x2 block as (site index, neighbour site index, direction index from the
    first to the second); the first site is at coordinate 0 along the edge's axis."""
    sites = _block_sites()
    edges = []
    for i, s in enumerate(sites):
        for axis in range(3):
            if s[axis] == 0:
                t = list(s)
                t[axis] = 1
                edges.append((i, sites.index(tuple(t)), 2 * axis))
    return edges


@functools.cache
def pattern_library() -> torch.Tensor:
    """``(37, 2, 2, 2)`` int64 port states of the block patterns, in a fixed order: the empty block, the 12
    single edges, then the 24 two-edge paths (each middle site with two of its three in-block edges)."""
    edges = _block_edges()
    chosen = [()] + [(e,) for e in range(len(edges))]
    for middle in range(BLOCK ** 3):
        touching = [e for e, (i, j, _) in enumerate(edges) if middle in (i, j)]
        chosen += list(itertools.combinations(touching, 2))
    sites = _block_sites()
    out = torch.zeros(len(chosen), BLOCK, BLOCK, BLOCK, dtype=torch.int64)
    for p, subset in enumerate(chosen):
        for e in subset:
            i, j, k = edges[e]
            out[(p, *sites[i])] |= 1 << k
            out[(p, *sites[j])] |= 1 << OPPOSITE[k]
    return out


def n_patterns() -> int:
    return pattern_library().shape[0]


def _to_blocks(b: torch.Tensor) -> torch.Tensor:
    """``(n, L, L, L)`` -> ``(n, m, m, m, 2, 2, 2)`` with m = L / 2: each block's sites together."""
    n, L = b.shape[0], b.shape[-1]
    m = L // BLOCK
    return b.reshape(n, m, BLOCK, m, BLOCK, m, BLOCK).permute(0, 1, 3, 5, 2, 4, 6)


def _from_blocks(blocks: torch.Tensor) -> torch.Tensor:
    n, m = blocks.shape[0], blocks.shape[1]
    return blocks.permute(0, 1, 4, 2, 5, 3, 6).reshape(n, BLOCK * m, BLOCK * m, BLOCK * m)


def sample_ports(logits: torch.Tensor, n: int, L: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """``n`` port configurations on the ``L^3`` box: each 2x2x2 block an independent draw of a library
    pattern with probabilities ``softmax(logits)`` (``logits``: ``(37,)``). Valid by construction."""
    L = check_L3(L)
    n = lattice.check_int(n, "n", 1)
    logits = _check_logits(logits)
    lattice.check_memory(n * L ** 3, 64, f"{n} port configuration(s) of L={L}", "sites (n L^3)")
    m = L // BLOCK
    index = torch.multinomial(torch.softmax(logits, 0), n * m ** 3, replacement=True, generator=generator)
    return _from_blocks(pattern_library()[index].reshape(n, m, m, m, BLOCK, BLOCK, BLOCK))


def block_patterns(b: torch.Tensor) -> torch.Tensor:
    """``(n, m, m, m)`` index of each block's library pattern, -1 where the block is not one (probability 0).

    ``b`` must be valid (``check_ports``): an edge between blocks leaves a port that no in-block pattern
    has, so such a block is -1 too."""
    blocks = _to_blocks(b).reshape(*b.shape[:1], *(b.shape[-1] // BLOCK,) * 3, BLOCK ** 3)
    library = pattern_library().reshape(n_patterns(), BLOCK ** 3)
    match = (blocks[..., None, :] == library).all(-1)  # (n, m, m, m, 37)
    return torch.where(match.any(-1), match.int().argmax(-1), torch.full(match.shape[:-1], -1))


def log_prob_ports(logits: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Exact ``log P(b)``, ``(n,)`` float64: the sum over blocks of ``log_softmax(logits)[pattern]``;
    ``-inf`` for a valid configuration outside the model's support. ``ValueError`` if ``b`` is not valid."""
    b = check_ports(b)
    logp = torch.log_softmax(_check_logits(logits), 0)
    index = block_patterns(b)
    per_block = torch.where(index >= 0, logp[index.clamp(min=0)], torch.tensor(-torch.inf, dtype=torch.float64))
    return per_block.flatten(1).sum(1)


def degree(b: torch.Tensor) -> torch.Tensor:
    """Number of ports per site, same shape as ``b``."""
    return sum((b >> k) & 1 for k in range(6))


def occupied(b: torch.Tensor) -> torch.Tensor:
    """``b != 0``: the sites that carry a type label and continuous coordinates."""
    return b != 0


def port_violations(b: torch.Tensor) -> torch.Tensor:
    """``(n,)`` number of violated constraints per configuration: boundary-facing ports, unmatched pairs
    (a port ``d`` at ``i`` without ``-d`` at ``i + d``, or the reverse), degree above two, and bits outside
    the six directions."""
    bad = ((b >> 6) != 0).flatten(1).sum(1) + (degree(b) > 2).flatten(1).sum(1)
    L = b.shape[-1]
    for k, (axis, sign) in enumerate(DIRECTIONS):
        has = ((b >> k) & 1).bool()
        layer = [slice(None)] * 4
        layer[axis + 1] = L - 1 if sign > 0 else 0  # the boundary layer this direction faces
        bad = bad + has[tuple(layer)].flatten(1).sum(1)
        if sign > 0:  # each pair once: +d at i against -d at i + d
            here, there = [slice(None)] * 4, [slice(None)] * 4
            here[axis + 1], there[axis + 1] = slice(0, L - 1), slice(1, L)
            answered = ((b[tuple(there)] >> OPPOSITE[k]) & 1).bool()
            bad = bad + (has[tuple(here)] != answered).flatten(1).sum(1)
    return bad


def check_ports(b, name: str = "b") -> torch.Tensor:
    """``b`` as ``(n, L, L, L)`` int64 after checking shape and hard validity (``ValueError`` naming the
    first violation otherwise). A single ``(L, L, L)`` configuration gets a batch axis."""
    if not isinstance(b, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of port states; got {type(b).__name__}")
    if b.dtype.is_floating_point or b.dtype == torch.bool:
        raise TypeError(f"{name} must be an integer tensor of 6-bit port masks; got {b.dtype}")
    b = b.to(torch.int64)
    if b.dim() == 3:
        b = b[None]
    if b.dim() != 4 or not (b.shape[1] == b.shape[2] == b.shape[3]):
        raise ValueError(f"{name} must have shape (n, L, L, L) or (L, L, L); got {tuple(b.shape)}")
    check_L3(b.shape[-1], f"{name}'s side L")
    bad = port_violations(b)
    if bad.any():
        k = int(bad.nonzero()[0])
        raise ValueError(f"{name} is not a valid port configuration: configuration {k} has {int(bad[k])} violated "
                         f"constraint(s) (an unmatched or boundary-facing port, degree > 2, or a bit outside "
                         f"the six directions)")
    return b


def _check_logits(logits) -> torch.Tensor:
    if not isinstance(logits, torch.Tensor) or logits.shape != (n_patterns(),):
        raise ValueError(f"logits must be a tensor of shape ({n_patterns()},), one per block pattern; got "
                         f"{getattr(logits, 'shape', type(logits).__name__)}")
    logits = logits.to(torch.float64)
    if not torch.isfinite(logits).all():
        raise ValueError("logits must be finite")
    return logits
