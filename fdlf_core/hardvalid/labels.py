"""The type channel of the 3D hard-valid teacher (paper Appendix B.1): labels ``a`` given ports ``b``, with
exact ``log P(a | b)``.

Empty sites have label 0; occupied sites a label in 1..K. Sampling, given ``b``:
1. base labels ``a0``: each 2x2x2 block draws a theme ``t`` (probabilities ``softmax(theme_logits)``);
   given it, each occupied site independently draws ``a0_i`` with ``softmax(motif_logits[motif_i, t])``,
   where ``motif_i`` is the site's port motif (an end along one axis, or a two-port site with the pair of
   axes it uses: 9 motifs). The themes are summed out exactly: a block contributes
   ``logsumexp_t (log pi_t + sum_i log q(a0_i | motif_i, t))``.
2. the type flow ``a = Phi(a0; b)``: ``depth`` layers, each tiling the box into 2x2x2 blocks (offset by one
   site in every axis on odd layers, so blocks at the faces are partial) and relabelling every occupied site
   of a block by a permutation of 1..K chosen by the block's parity and the port motifs in it. Given ``b``
   the flow is a bijection of label configurations, so ``log P(a | b) = log P_base(Phi^-1(a; b) | b)``.

Shapes: ``b`` and ``a`` are ``(n, L, L, L)`` int64. Every table comes from the teacher's seed; none depends
on ``L``.
"""
from __future__ import annotations

import dataclasses

import torch

from .. import lattice
from .ports import BLOCK, check_ports, degree, occupied

N_MOTIFS = 9          # ends along x, y, z; two-port sites using axes (0,0) (0,1) (0,2) (1,1) (1,2) (2,2)
N_SIGNATURES = 7      # a block's motif signature, reduced mod this, picks its permutation (with its parity)
_AXIS_PAIRS = ((0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2))


@dataclasses.dataclass(frozen=True)
class TypeChannel:
    """The type channel's tables (``make_type_channel`` draws them from a seed).

    ``theme_logits (K,)``, ``motif_logits (N_MOTIFS, K, K)`` (motif, theme, label - 1), and the flow's
    ``permutations (depth, 2, N_SIGNATURES, K + 1)``: lookup tables with entry 0 -> 0 and 1..K permuted.
    """

    theme_logits: torch.Tensor
    motif_logits: torch.Tensor
    permutations: torch.Tensor

    @property
    def K(self) -> int:
        return self.theme_logits.shape[0]

    @property
    def depth(self) -> int:
        return self.permutations.shape[0]


def make_type_channel(K: int = 4, depth: int = 2, seed: int = 0, logit_scale: float = 1.5) -> TypeChannel:
    """A type channel with ``K`` labels and a ``depth``-layer type flow, every table drawn from ``seed``."""
    K = lattice.check_int(K, "K", 2, 64)
    depth = lattice.check_int(depth, "depth", 0, lattice.MAX_DEPTH)
    seed = lattice.check_int(seed, "seed", 0)
    scale = lattice.check_in_range(logit_scale, "logit_scale", 0.0, 20.0)
    gen = torch.Generator().manual_seed(seed)
    theme = scale * torch.randn(K, generator=gen, dtype=torch.float64)
    motif = scale * torch.randn(N_MOTIFS, K, K, generator=gen, dtype=torch.float64)
    perms = torch.zeros(depth, 2, N_SIGNATURES, K + 1, dtype=torch.int64)
    for index in range(depth * 2 * N_SIGNATURES):
        perms.view(-1, K + 1)[index, 1:] = torch.randperm(K, generator=gen) + 1
    return TypeChannel(theme, motif, perms)


def motifs(b: torch.Tensor) -> torch.Tensor:
    """Port motif of every site, ``(n, L, L, L)`` int64: -1 empty; 0-2 an end along that axis; 3-8 a
    two-port site by the (sorted) pair of axes its ports use."""
    axes = [((b >> k) & 1) for k in range(6)]
    per_axis = torch.stack([axes[2 * a] + axes[2 * a + 1] for a in range(3)], -1)  # ports along each axis
    deg = degree(b)
    first = per_axis.ne(0).int().argmax(-1)                                     # lowest axis with a port
    second = torch.where(per_axis.gather(-1, first[..., None])[..., 0] == 2, first,
                         2 - per_axis.flip(-1).ne(0).int().argmax(-1))         # highest axis with a port
    pair = torch.zeros_like(b)
    for code, (i, j) in enumerate(_AXIS_PAIRS):
        pair = torch.where((first == i) & (second == j), code, pair)
    return torch.where(deg == 0, -1, torch.where(deg == 1, first, 3 + pair))


def _blocks(L: int, offset: int) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Block id and block parity of every site of the L^3 box tiled by 2x2x2 blocks shifted by ``offset``
    (0 or 1) in every axis; and the number of blocks."""
    coord = (torch.arange(L) + offset) // BLOCK
    m = int(coord[-1]) + 1
    bx, by, bz = torch.meshgrid(coord, coord, coord, indexing="ij")
    return (bx * m + by) * m + bz, (bx + by + bz) % 2, m ** 3


def _permutation_index(channel: TypeChannel, b: torch.Tensor, layer: int) -> torch.Tensor:
    """``(n, L, L, L)``: for each site, the row of ``permutations[layer]`` its block uses (parity x
    signature, flattened); the signature is the sum of (motif + 1) over the block's occupied sites."""
    n, L = b.shape[0], b.shape[-1]
    block, parity, n_blocks = _blocks(L, layer % 2)
    code = (motifs(b) + 1).flatten(1)  # empty sites count 0
    signature = torch.zeros(n, n_blocks, dtype=torch.int64).index_add_(1, block.flatten(), code)
    site_signature = signature[:, block.flatten()].reshape(b.shape) % N_SIGNATURES
    return parity * N_SIGNATURES + site_signature


def flow(channel: TypeChannel, a0: torch.Tensor, b: torch.Tensor, inverse: bool = False) -> torch.Tensor:
    """``Phi(a0; b)`` (or ``Phi^-1(a; b)`` with ``inverse``): the type flow's layers in order (reversed,
    with inverse permutations, for the inverse). Label 0 (empty sites) stays 0."""
    out = a0.clone()
    layers = range(channel.depth - 1, -1, -1) if inverse else range(channel.depth)
    for layer in layers:
        table = channel.permutations[layer].reshape(-1, channel.K + 1)
        if inverse:
            table = torch.argsort(table, -1)  # the inverse permutation of each row
        out = table[_permutation_index(channel, b, layer), out]
    return out


def sample_labels(channel: TypeChannel, b: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Labels ``a`` for ports ``b`` (``(n, L, L, L)``, valid): block themes, base labels, the type flow."""
    b = check_ports(b)
    n, L = b.shape[0], b.shape[-1]
    block, _, n_blocks = _blocks(L, 0)
    themes = torch.multinomial(torch.softmax(channel.theme_logits, 0), n * n_blocks, replacement=True,
                               generator=generator).reshape(n, n_blocks)
    site_theme = themes[:, block.flatten()].reshape(b.shape)
    probs = torch.softmax(channel.motif_logits, -1)[motifs(b).clamp(min=0), site_theme]  # (n, L, L, L, K)
    a0 = torch.multinomial(probs.reshape(-1, channel.K), 1, generator=generator).reshape(b.shape) + 1
    a0 = torch.where(occupied(b), a0, 0)
    return flow(channel, a0, b)


def log_prob_labels(channel: TypeChannel, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Exact ``log P(a | b)``, ``(n,)`` float64 (themes summed out per block). ``ValueError`` if ``a`` is not
    0 exactly on the empty sites of ``b`` and in 1..K on its occupied sites."""
    b = check_ports(b)
    a = check_labels(a, b, channel.K)
    a0 = flow(channel, a, b, inverse=True)
    n, L = b.shape[0], b.shape[-1]
    block, _, n_blocks = _blocks(L, 0)
    logq = torch.log_softmax(channel.motif_logits, -1)  # (motif, theme, label - 1)
    occ = occupied(b)
    # per site and theme: log q(a0_i | motif_i, t), 0 on empty sites
    site = logq[motifs(b).clamp(min=0), :, (a0 - 1).clamp(min=0)]  # (n, L, L, L, K themes)
    site = torch.where(occ[..., None], site, 0.0).reshape(n, L ** 3, channel.K)
    per_block = torch.zeros(n, n_blocks, channel.K, dtype=torch.float64).index_add_(1, block.flatten(), site)
    log_pi = torch.log_softmax(channel.theme_logits, 0)
    return torch.logsumexp(per_block + log_pi, -1).sum(1)


def check_labels(a, b: torch.Tensor, K: int, name: str = "a") -> torch.Tensor:
    """``a`` as ``(n, L, L, L)`` int64, checked against the ports ``b``: 0 on empty sites, 1..K elsewhere."""
    if not isinstance(a, torch.Tensor) or a.dtype.is_floating_point or a.dtype == torch.bool:
        raise TypeError(f"{name} must be an integer torch.Tensor of type labels; got "
                        f"{getattr(a, 'dtype', type(a).__name__)}")
    a = a.to(torch.int64)
    if a.dim() == 3:
        a = a[None]
    if a.shape != b.shape:
        raise ValueError(f"{name} must have the shape of the ports b, {tuple(b.shape)}; got {tuple(a.shape)}")
    occ = occupied(b)
    if (a[~occ] != 0).any():
        raise ValueError(f"{name} must be 0 on empty sites (b == 0)")
    if ((a[occ] < 1) | (a[occ] > K)).any():
        raise ValueError(f"{name} must be in 1..{K} on occupied sites")
    return a

