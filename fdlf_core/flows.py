"""Invertible lattice layers of the FDLF teachers (paper Sec. 3, Eq. 14-15; Appendix B.2).

Sign convention, used by every layer and by ``Composite``:

- ``forward(z) -> (x, logdet)`` with ``logdet = log|det dx/dz|``, shape ``(n,)``;
- ``inverse(x) -> (z, logdet)`` with ``logdet = log|det dz/dx|`` (the negated forward value at the
  matching point), shape ``(n,)``.

Fields are ``(n, L, L)`` float64 tensors on a periodic lattice with even ``L``. Every layer carries its
locality ``radius`` (an output site depends on input sites within that periodic Chebyshev distance, in
both directions) and ``is_global`` (true only for the mean-mode layer, whose coupling is all-to-all).
Layers hold fixed tensors, not trainable parameters: a teacher is a fixed, exactly known distribution.

Checkerboard layers update one parity class ``(row + col) % 2 == parity`` from the other, so they are
equivariant under lattice shifts with ``dy + dx`` even (not under odd shifts, which swap the classes).
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from .lattice import cyclic_distance, parity_mask


class _CircularPad(torch.autograd.Function):
    """``F.pad(x, (p,) * 4, mode="circular")`` for ``0 < p <= L``, with a backward that folds the halo back
    onto the field in four slice additions. Autograd's own backward of the circular pad allocates and
    zero-fills a full-size gradient per slice of the pad: about a fifth of a LocalCNN training step
    (``benchmarks/bench_loop.py``). Rows are folded before columns, the order autograd's sums take, so the
    gradient is the same to the bit (``tests/test_flows.py``). ``torch.func`` transforms (the stacked
    trainer's vmap) take it too."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x: torch.Tensor, p: int) -> torch.Tensor:
        return F.pad(x, (p, p, p, p), mode="circular")

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        ctx.p = inputs[1]

    @staticmethod
    def backward(ctx, g: torch.Tensor) -> tuple[torch.Tensor, None]:
        p = ctx.p
        rows, cols = g.shape[-2] - 2 * p, g.shape[-1] - 2 * p
        folded = g[..., p:p + rows, :].clone()      # (..., rows, cols + 2p)
        folded[..., :p, :] += g[..., rows + p:, :]  # the halo below wraps onto the first rows
        folded[..., rows - p:, :] += g[..., :p, :]  # the halo above onto the last
        field = folded[..., p:p + cols].clone()     # (..., rows, cols)
        field[..., :p] += folded[..., cols + p:]
        field[..., cols - p:] += folded[..., :p]
        return field, None


def circular_pad(x: torch.Tensor, p: int) -> torch.Tensor:
    """``x (..., L, L)`` -> ``(..., L + 2p, L + 2p)``, wrapped around the torus; ``0 <= p <= L``."""
    if not 0 <= p <= min(x.shape[-2:]):
        raise ValueError(f"p must be in [0, L] (a pad wraps at most once); got p={p} for a "
                         f"{tuple(x.shape[-2:])} field")
    return _CircularPad.apply(x, p) if p else x


def circular_conv(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """2D cross-correlation on the torus: ``x (n, C_in, L, L)``, ``weight (C_out, C_in, k, k)``, k odd.

    Any ``L >= 1``: a kernel wider than the lattice wraps around it as often as it needs to.
    """
    pad, L = weight.shape[-1] // 2, x.shape[-1]
    if pad > L:  # F.pad's circular mode wraps at most once
        idx = torch.arange(-pad, L + pad, device=x.device) % L
        x = x[..., idx][..., idx, :]
    else:
        x = circular_pad(x, pad)
    return F.conv2d(x, weight, bias)


def _masks(x: torch.Tensor, parity: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Float ``(L, L)`` masks of the updated (active) and conditioning (passive) checkerboard classes."""
    active = parity_mask(x.shape[-1], parity).to(dtype=x.dtype, device=x.device)
    return active, 1.0 - active


class AffineCoupling:
    """Checkerboard affine coupling (RealNVP-style, Dinh et al. 2017) with a fixed local conditioner.

    ``x_a = z_a * exp(s(z_p)) + t(z_p)`` on the active class ``a``; the passive class ``p`` is copied.
    The conditioner is ``conv3x3 (1 -> hidden) -> tanh -> conv1x1 (hidden -> 2)`` with circular padding;
    because it only sees the passive class, which the layer leaves unchanged, the inverse evaluates the
    same ``s, t`` and ``log|det| = sum_a s``. The log-scale is bounded, ``s = clip * tanh(raw / clip)``,
    so every layer is bi-Lipschitz. Radius 1 (the 3x3 stencil).
    """

    radius = 1
    is_global = False

    def __init__(self, parity: int, w1: torch.Tensor, b1: torch.Tensor, w2: torch.Tensor, b2: torch.Tensor,
                 scale_clip: float):
        self.parity = parity
        self.w1, self.b1, self.w2, self.b2 = w1, b1, w2, b2  # (h,1,3,3), (h,), (2,h,1,1), (2,)
        self.scale_clip = scale_clip

    def _shift_and_log_scale(self, passive_field: torch.Tensor, active: torch.Tensor):
        h = torch.tanh(circular_conv(passive_field[:, None], self.w1, self.b1))  # (n, hidden, L, L)
        raw = circular_conv(h, self.w2, self.b2)                                   # (n, 2, L, L)
        log_scale = self.scale_clip * torch.tanh(raw[:, 0] / self.scale_clip) * active
        return raw[:, 1] * active, log_scale

    def forward(self, z: torch.Tensor):
        active, passive = _masks(z, self.parity)
        t, s = self._shift_and_log_scale(z * passive, active)
        return z * torch.exp(s) + t, s.sum(dim=(1, 2))

    def inverse(self, x: torch.Tensor):
        active, passive = _masks(x, self.parity)
        t, s = self._shift_and_log_scale(x * passive, active)
        return (x - t) * torch.exp(-s), -s.sum(dim=(1, 2))


class AdditiveSmoother:
    """Volume-preserving additive smoother: ``x_a = z_a + sum_j w(dist(a, j)) g(z_j)``.

    The sum runs over the distinct torus sites ``j`` of the other parity class with
    ``0 < dist <= cutoff`` (``lattice.neighbour_offsets``, so no site is counted twice on small lattices).
    ``w(d) = strength * d**power / Z`` with ``Z = sum d**power`` over the infinite-lattice odd offsets, so the
    rule (and the total absolute weight ``strength``) is the same at every ``L`` large enough to hold the
    stencil. ``g`` is the identity, or ``tanh`` for the paper's "nonlinear smoother". Unit Jacobian
    determinant (triangular with unit diagonal); radius ``cutoff``.
    """

    is_global = False

    def __init__(self, parity: int, cutoff: int, power: float, strength: float, nonlinear: bool):
        self.parity = parity
        self.radius = cutoff
        self.power = power
        self.strength = strength
        self.nonlinear = nonlinear
        stencil = [d for dy in range(-cutoff, cutoff + 1) for dx in range(-cutoff, cutoff + 1)
                   if (dy + dx) % 2 and (d := max(abs(dy), abs(dx))) > 0]
        self._norm = sum(d ** power for d in stencil)
        self._operators: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}

    def weight(self, dist: int) -> float:
        """``w(dist)`` for ``0 < dist <= cutoff`` (0 elsewhere)."""
        return self.strength * dist ** self.power / self._norm if 0 < dist <= self.radius else 0.0

    def _box_operators(self, L: int, dtype, device) -> tuple[torch.Tensor, torch.Tensor]:
        """Separable form of the stencil: ``sum_j w(dist(i, j)) g_j = sum_d c_d (A_d G A_d)_i``.

        ``A_d`` is the ``(L, L)`` 0/1 matrix of cyclic distance ``<= d`` (a set: no double counting when
        ``2 d + 1 > L``), so ``A_d G A_d`` sums ``g`` over the Chebyshev ball of radius ``d``; with
        ``c_d = w(d) - w(d + 1)`` and ``c_0 = -w(1)`` the balls telescope to the shells' weights. Same-
        parity sites get weights too, but they multiply the masked (zero) passive field. Returns
        ``A (D, L, L)`` and ``c (D, 1, 1)`` for ``d = 0 .. min(cutoff, L/2)``.
        """
        key = (L, dtype, device)
        if key not in self._operators:
            cyc = cyclic_distance(L)
            ds = range(min(self.radius, L // 2) + 1)
            last = ds[-1]
            # At d = L/2 the ball is the whole torus: every farther shell's weight folds into it.
            coef = [self.weight(d) - (self.weight(d + 1) if d < last else 0.0) for d in ds]
            A = torch.stack([(cyc <= d) for d in ds]).to(dtype=dtype, device=device)
            c = torch.tensor(coef, dtype=dtype, device=device)[:, None, None]
            self._operators[key] = (A, c)
        return self._operators[key]

    def _increment(self, passive_field: torch.Tensor, active: torch.Tensor) -> torch.Tensor:
        # Dense banded matmuls instead of a (2 cutoff + 1)^2 conv: a handful of autograd nodes per layer,
        # exact zeros outside the stencil, and no float64 im2col (conv2d's slow path).
        g = torch.tanh(passive_field) if self.nonlinear else passive_field
        A, c = self._box_operators(g.shape[-1], g.dtype, g.device)
        balls = A @ g[:, None] @ A                            # (n, D, L, L)
        return (balls * c).sum(dim=1) * active

    def forward(self, z: torch.Tensor):
        active, passive = _masks(z, self.parity)
        return z + self._increment(z * passive, active), z.new_zeros(z.shape[0])

    def inverse(self, x: torch.Tensor):
        active, passive = _masks(x, self.parity)
        return x - self._increment(x * passive, active), x.new_zeros(x.shape[0])


class MeanStress:
    """Exact global mean stress: the map ``v_i -> v_i + gamma(L) L^-p sum_j v_j`` (Table 2, long-range stress).

    ``gamma(L) = gamma_scale * L**exponent`` (paper: 0.005 L^1.5, ``p = 2``). The map is
    ``I + (gamma L^-p) 1 1^T``, whose only non-unit eigenvalue is ``1 + g`` on the mean mode, with
    ``g = gamma(L) L^(2 - p)``; its inverse is ``v - g / ((1 + g) L^2) sum_j v_j``. ``contract=False``
    applies it in the generative direction (``x = map(z)``: the data's mean mode is amplified by ``1 + g``,
    ``log|det| = log(1 + g)``); ``contract=True`` reads it as the data -> latent map (``z = map(x)``: the
    data's mean mode is contracted by ``1 / (1 + g)``, its precision grows like ``(1 + g)^2``). All-to-all:
    ``is_global``. ``docs/calibration.md`` says why ``complex_long`` uses ``p = 1`` and ``contract``.
    """

    radius = 0
    is_global = True

    def __init__(self, gamma_scale: float, exponent: float = 1.5, norm_power: float = 2.0, contract: bool = False):
        self.gamma_scale = gamma_scale
        self.exponent = exponent
        self.norm_power = norm_power
        self.contract = contract

    def gain(self, L: int) -> float:
        """``g``: the mean mode's eigenvalue is ``1 + g`` (``gamma(L) L^(2 - p)``)."""
        return self.gamma_scale * L ** self.exponent * L ** (2.0 - self.norm_power)

    def _amplify(self, v: torch.Tensor):
        L = v.shape[-1]
        g = self.gain(L)
        return v + g / L ** 2 * v.sum(dim=(1, 2), keepdim=True), v.new_full((v.shape[0],), math.log1p(g))

    def _shrink(self, v: torch.Tensor):
        L = v.shape[-1]
        g = self.gain(L)
        return v - g / ((1.0 + g) * L ** 2) * v.sum(dim=(1, 2), keepdim=True), v.new_full((v.shape[0],), -math.log1p(g))

    def forward(self, z: torch.Tensor):
        return self._shrink(z) if self.contract else self._amplify(z)

    def inverse(self, x: torch.Tensor):
        return self._amplify(x) if self.contract else self._shrink(x)


class Composite:
    """``layers[-1] o ... o layers[0]``: forward in order, inverse in reverse order, log-dets summed.

    ``radius`` is the sum of the layer radii (the finite-range part); ``is_global`` if any layer is.
    """

    def __init__(self, layers: Sequence):
        self.layers = list(layers)
        self.radius = sum(layer.radius for layer in self.layers)
        self.is_global = any(layer.is_global for layer in self.layers)

    def forward(self, z: torch.Tensor):
        logdet = z.new_zeros(z.shape[0])
        for layer in self.layers:
            z, ld = layer.forward(z)
            logdet = logdet + ld
        return z, logdet

    def inverse(self, x: torch.Tensor):
        logdet = x.new_zeros(x.shape[0])
        for layer in reversed(self.layers):
            x, ld = layer.inverse(x)
            logdet = logdet + ld
        return x, logdet
