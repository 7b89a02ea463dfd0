"""The continuous channel of the 3D hard-valid teacher (paper Appendix B.1): ``c`` given ports ``b`` and
labels ``a``, with exact ``log p(c | b, a)`` and the exact clean score on the occupied sites.

On occupied sites ``z_i ~ N(mu[m_i, a_i], diag exp(l[m_i, a_i]))`` (``m_i`` the port motif, ``labels.motifs``);
empty sites stay 0. Then ``c = S_R(T_flow(z; b, a); occ(b))`` (the paper's pre-flow depth is 0 by default):
- ``T_flow``: checkerboard affine couplings on the 3D parity ``(x + y + z) % 2``, updating the occupied
  sites of one class from the other; the conditioner is a local CNN (3x3x3 conv, zero padding: open
  boundaries -> tanh -> 1x1x1 conv) over the passive class's ``c`` and embeddings of the motif and label
  of every site; log-scale clipped, ``s = clip * tanh(raw / clip)``. Radius 1 per layer.
- ``S_R``: additive smoothers, ``c_i += sum_j w(dist(i, j)) g(c_j)`` over occupied sites ``i`` of one class
  and ``j`` of the other within Chebyshev distance ``cutoff``, ``w(d) = strength d^power / Z`` (``Z``: the
  same sum over the infinite lattice's opposite-class offsets, so the rule is the same at every L); zero
  log-determinant. Radius ``cutoff`` per layer.
Every layer is exactly invertible given ``(b, a)``, so ``log p(c | b, a) = log N(z) + sum log|det dz/dc|``.

Shapes: ``c`` is ``(n, d_c, L, L, L)`` float64, zero on empty sites; ``b``, ``a`` as in ``ports``/``labels``.
"""
from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F

from .. import lattice
from ..teachers import MAX_SCALE_CLIP
from .labels import N_MOTIFS, motifs
from .ports import occupied


@dataclasses.dataclass(frozen=True)
class Context:
    """What every layer is conditioned on: ``occ (n, 1, L, L, L)`` 1.0 on occupied sites, and ``onehot (n,
    N_MOTIFS + K, L, L, L)`` each occupied site's motif and label as one-hot channels (all 0 on empty sites).

    The couplings' conditioners see the motif and label embeddings; a convolution of an embedding lookup is
    a convolution of the one-hot classes with the embedding folded into the weights, which is the same map
    at 13 context channels instead of 2 ``E`` = 32 (the conditioner convolution is most of the teacher's cost).
    """

    occ: torch.Tensor
    onehot: torch.Tensor


def parity3(L: int, parity: int) -> torch.Tensor:
    """``(L, L, L)`` float64 mask of the sites with ``(x + y + z) % 2 == parity``."""
    i = torch.arange(L)
    return (((i[:, None, None] + i[None, :, None] + i[None, None, :]) % 2) == parity).to(torch.float64)


class ConditionalCoupling:
    """``c_a = z_a exp(s) + t`` on the occupied sites of class ``parity``, ``(s, t)`` from the other class's
    ``c`` and every site's embeddings; the other class is copied. ``log|det| = sum_a s``. Radius 1.

    ``w1 (h, d_c + C, 3, 3, 3)``: the 3x3x3 conditioner conv over the passive ``c`` and the ``C`` one-hot
    context channels (``Context``); ``b1 (h,)``; ``w2 (2 d_c, h)``, ``b2 (2 d_c,)``: the per-site output map.
    """

    radius = 1

    def __init__(self, parity: int, w1: torch.Tensor, b1: torch.Tensor, w2: torch.Tensor, b2: torch.Tensor,
                 scale_clip: float):
        self.parity, self.scale_clip = parity, scale_clip
        self.w1, self.b1, self.w2, self.b2 = w1, b1, w2, b2

    def _shift_and_log_scale(self, field: torch.Tensor, ctx: Context):
        d_c, L = field.shape[1], field.shape[-1]
        active = parity3(L, self.parity) * ctx.occ                     # (n, 1, L, L, L)
        passive_field = field * (1.0 - parity3(L, self.parity))
        h = torch.tanh(F.conv3d(torch.cat([passive_field, ctx.onehot], 1), self.w1, self.b1, padding=1))
        raw = torch.einsum("oh,nhxyz->noxyz", self.w2, h) + self.b2[:, None, None, None]
        log_scale = self.scale_clip * torch.tanh(raw[:, :d_c] / self.scale_clip) * active
        return raw[:, d_c:] * active, log_scale

    def forward(self, z: torch.Tensor, ctx: Context):
        t, s = self._shift_and_log_scale(z, ctx)
        return z * torch.exp(s) + t, s.flatten(1).sum(1)

    def inverse(self, c: torch.Tensor, ctx: Context):
        t, s = self._shift_and_log_scale(c, ctx)
        return (c - t) * torch.exp(-s), -s.flatten(1).sum(1)


class OccupiedSmoother:
    """``c_i += sum_j w(dist(i, j)) g(c_j)`` for occupied ``i`` of class ``parity``, over ``j`` of the other
    class within ``cutoff`` (empty sites hold 0 and ``g(0) = 0``); ``g`` the identity or tanh. Unit Jacobian
    determinant. Radius ``cutoff``."""

    def __init__(self, parity: int, cutoff: int, power: float, strength: float, nonlinear: bool):
        self.parity, self.radius, self.power, self.strength, self.nonlinear = parity, cutoff, power, strength, nonlinear
        r = range(-cutoff, cutoff + 1)
        # every opposite-class offset (odd coordinate sum) within the cutoff, as on an infinite lattice
        self._norm = sum(max(abs(x), abs(y), abs(z)) ** power for x in r for y in r for z in r if (x + y + z) % 2)

    def weight(self, dist: int) -> float:
        return self.strength * dist ** self.power / self._norm if 0 < dist <= self.radius else 0.0

    def _increment(self, field: torch.Tensor, ctx: Context) -> torch.Tensor:
        L = field.shape[-1]
        g = field * (1.0 - parity3(L, self.parity))
        g = torch.tanh(g) if self.nonlinear else g
        # sum over Chebyshev shells = telescoped sums over balls; a ball sum is a separable box sum
        total = torch.zeros_like(g)
        for d in range(self.radius + 1):
            coef = self.weight(d) - self.weight(d + 1)
            if coef:
                total = total + coef * _box_sum(g, d)
        return total * parity3(L, self.parity) * ctx.occ

    def forward(self, z: torch.Tensor, ctx: Context):
        return z + self._increment(z, ctx), z.new_zeros(z.shape[0])

    def inverse(self, c: torch.Tensor, ctx: Context):
        return c - self._increment(c, ctx), c.new_zeros(c.shape[0])


def _box_sum(g: torch.Tensor, d: int) -> torch.Tensor:
    """Sum of ``g (n, C, L, L, L)`` over the open box's sites within Chebyshev distance ``d`` of each site
    (zero outside): three 1D window sums (average pools times the window), exact zeros beyond ``d`` (a
    cumulative-sum difference would leave ~1e-17 of every far site)."""
    k = 2 * d + 1
    out = g
    for axis in range(3):  # axis 0, 1, 2 of the box = dims 2, 3, 4
        kernel, pad = [1, 1, 1], [0] * 6
        kernel[axis] = k
        pad[2 * (2 - axis):2 * (2 - axis) + 2] = [d, d]  # F.pad lists the last dim first
        out = F.avg_pool3d(F.pad(out, pad), kernel, stride=1) * k
    return out


@dataclasses.dataclass
class ContinuousChannel:
    """The continuous channel's fixed tables and layers (``make_continuous_channel``)."""

    mu: torch.Tensor          # (N_MOTIFS, K + 1, d_c) base mean by motif and label
    log_var: torch.Tensor     # (N_MOTIFS, K + 1, d_c)
    layers: list

    @property
    def d_c(self) -> int:
        return self.mu.shape[-1]

    @property
    def radius(self) -> int:
        """Locality radius of the whole map (sum of the layers' radii)."""
        return sum(layer.radius for layer in self.layers)

    def context(self, b: torch.Tensor, a: torch.Tensor) -> Context:
        m = motifs(b) + 1  # 0 for empty
        K = self.mu.shape[1] - 1
        # class 0 (empty) of either is dropped: its embedding row is zero
        onehot = torch.cat([F.one_hot(m, N_MOTIFS + 1)[..., 1:], F.one_hot(a, K + 1)[..., 1:]], -1)
        return Context(occupied(b)[:, None].to(torch.float64),
                       onehot.permute(0, 4, 1, 2, 3).to(torch.float64).contiguous())

    def _base(self, b: torch.Tensor, a: torch.Tensor):
        m = motifs(b).clamp(min=0)
        return (self.mu[m, a].permute(0, 4, 1, 2, 3), self.log_var[m, a].permute(0, 4, 1, 2, 3))

    def sample(self, b: torch.Tensor, a: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """``c (n, d_c, L, L, L)`` for ports ``b`` and labels ``a`` (checked by the caller)."""
        ctx = self.context(b, a)
        mu, log_var = self._base(b, a)
        eps = torch.randn(mu.shape, dtype=torch.float64, generator=generator)
        x = (mu + torch.exp(0.5 * log_var) * eps) * ctx.occ
        for layer in self.layers:
            x, _ = layer.forward(x, ctx)
        return x

    def log_prob(self, c: torch.Tensor, b: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """Exact ``log p(c | b, a)``, ``(n,)``: the inverse map, the base density on occupied sites, and the
        layers' log-determinants."""
        ctx = self.context(b, a)
        z, logdet = c, c.new_zeros(c.shape[0])
        for layer in reversed(self.layers):
            z, ld = layer.inverse(z, ctx)
            logdet = logdet + ld
        mu, log_var = self._base(b, a)
        per_coord = -0.5 * ((z - mu) ** 2 * torch.exp(-log_var) + log_var + torch.log(torch.tensor(2 * torch.pi)))
        return (per_coord * ctx.occ).flatten(1).sum(1) + logdet

    def score(self, c: torch.Tensor, b: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """Exact clean score ``d log p(c | b, a) / d c``, zero on empty sites; ``(n, d_c, L, L, L)``."""
        with torch.enable_grad():
            x = c.detach().requires_grad_(True)
            (grad,) = torch.autograd.grad(self.log_prob(x, b, a).sum(), x)
        return grad * occupied(b)[:, None]


def make_continuous_channel(K: int = 4, d_c: int = 2, embed: int = 16, hidden: int = 64, flow_depth: int = 4,
                            scale_clip: float = 1.5, smoother_depth: int = 1, cutoff: int = 2, power: float = -1.0,
                            strength: float = 0.5, nonlinear: bool = True, seed: int = 0) -> ContinuousChannel:
    """A continuous channel with the paper's defaults (Table 2, "Figure 3" rows: d_c 2, embedding 16, hidden
    64, flow depth 4, scale clip 1.5); the smoother's depth, cutoff, power and strength are the range dials of
    the families. Every tensor from ``seed``; nothing depends on L."""
    K = lattice.check_int(K, "K", 2, 64)
    d_c = lattice.check_int(d_c, "d_c", 1, 64)
    embed = lattice.check_int(embed, "embed", 1, lattice.MAX_WIDTH)
    hidden = lattice.check_int(hidden, "hidden", 1, lattice.MAX_WIDTH)
    flow_depth = lattice.check_int(flow_depth, "flow_depth", 0, lattice.MAX_DEPTH)
    smoother_depth = lattice.check_int(smoother_depth, "smoother_depth", 0, lattice.MAX_DEPTH)
    cutoff = lattice.check_int(cutoff, "cutoff", 1, 64)
    scale_clip = lattice.check_in_range(scale_clip, "scale_clip", 1e-6, MAX_SCALE_CLIP)
    power = lattice.check_finite(power, "power")
    strength = lattice.check_finite(strength, "strength")
    if not -8 <= power <= 8 or not 0 <= strength <= 10:
        raise ValueError(f"power must be in [-8, 8] and strength in [0, 10]; got power {power}, strength {strength}")
    gen = torch.Generator().manual_seed(lattice.check_int(seed, "seed", 0))

    def randn(*shape, scale=1.0):
        return scale * torch.randn(*shape, generator=gen, dtype=torch.float64)

    motif_emb = torch.cat([torch.zeros(1, embed, dtype=torch.float64), randn(N_MOTIFS, embed)])
    label_emb = torch.cat([torch.zeros(1, embed, dtype=torch.float64), randn(K, embed)])
    layers: list = []
    fan_in = (d_c + 2 * embed) * 27
    for k in range(flow_depth):
        w1 = randn(hidden, d_c + 2 * embed, 3, 3, 3, scale=fan_in ** -0.5)  # over (c, motif emb, label emb)
        b1, w2, b2 = randn(hidden, scale=0.1), randn(2 * d_c, hidden, scale=hidden ** -0.5), randn(2 * d_c, scale=0.1)
        # fold the embeddings into the weights (Context): same conditioner, one-hot inputs
        on_motifs = torch.einsum("hexyz,me->hmxyz", w1[:, d_c:d_c + embed], motif_emb[1:])
        on_labels = torch.einsum("hexyz,me->hmxyz", w1[:, d_c + embed:], label_emb[1:])
        layers.append(ConditionalCoupling(k % 2, torch.cat([w1[:, :d_c], on_motifs, on_labels], 1), b1, w2, b2,
                                          scale_clip))
    for k in range(2 * smoother_depth):  # pairs: both classes
        layers.append(OccupiedSmoother(k % 2, cutoff, power, strength, nonlinear))
    return ContinuousChannel(randn(N_MOTIFS, K + 1, d_c), randn(N_MOTIFS, K + 1, d_c, scale=0.3), layers)
