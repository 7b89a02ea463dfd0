"""Local score models: a fixed receptive radius, the same site rule at every lattice size (paper Eq. 4).

Nothing here pools over space (no global average, no GroupNorm/LayerNorm over the lattice): any such layer
would silently give every site a view of the whole lattice and break the locality the diagnostics test.
Noise conditioning enters only through per-sample scalars of ``sigma``.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from . import lattice, registry
from .devices import model_device
from .flows import circular_conv
from .provenance import without_defaults


@dataclass(frozen=True)
class LocalCNNConfig:
    """Architecture of a ``LocalCNN``; stored in checkpoints and result rows."""

    blocks: int = 1          # residual blocks, each two 3x3 convs (+2 to the radius)
    width: int = 32          # channels of every hidden layer
    out_kernel: int = 3      # output projection 3x3 (+1 to the radius) or 1x1 (+0), for odd radii
    sigma_data: float = 1.0  # EDM preconditioning scale (std of the clean data, roughly)
    seed: int = 0            # parameter initialisation
    zero_init: bool = False  # residual branches and output projection start at 0: the model starts as the Gaussian baseline
    linear_path: bool = False  # add a linear conv x -> s of the same radius (zero-initialised)

    # Fields added after run ids existed, with the values every earlier model had: ``id_fields`` leaves them
    # out at these values, so earlier runs keep their ids and checkpoints.
    LATER_DEFAULTS: ClassVar[dict] = {"zero_init": False, "linear_path": False}

    def __post_init__(self):
        _check_config(self)

    @property
    def receptive_radius(self) -> int:
        """``R_eff = 1 + 2 B + (1 for a 3x3 output projection)``: ``2 B + 2`` for the paper's models."""
        return 1 + 2 * self.blocks + (self.out_kernel - 1) // 2

    @classmethod
    def from_radius(cls, R: int, width: int = 32, **kwargs) -> "LocalCNNConfig":
        """The config whose receptive radius is exactly ``R >= 1`` (odd ``R``: a 1x1 output projection)."""
        R = lattice.check_int(R, "R", 1)
        return cls(blocks=(R - 1) // 2, width=width, out_kernel=3 if (R - 1) % 2 else 1, **kwargs)


def id_fields(config: dict) -> dict:
    """A model config dict (``LocalCNNConfig``, ``LocalAttentionConfig``, ...) as run ids hash it: the
    ``LATER_DEFAULTS`` fields of both 2D configs at those values left out (their names are disjoint, so one
    dict serves every config; a test checks it)."""
    return without_defaults(config, {**LocalCNNConfig.LATER_DEFAULTS, **LocalAttentionConfig.LATER_DEFAULTS})


def _check_config(cfg: LocalCNNConfig) -> LocalCNNConfig:
    lattice.check_int(cfg.blocks, "blocks", 0, lattice.MAX_BLOCKS)
    lattice.check_int(cfg.width, "width", 1, lattice.MAX_WIDTH)
    if cfg.out_kernel not in (1, 3):
        raise ValueError(f"out_kernel must be 1 or 3; got {cfg.out_kernel!r}")
    lattice.check_in_range(cfg.sigma_data, "sigma_data", *sigma_range(torch.float32), " (its square enters in float32)")
    lattice.check_int(cfg.seed, "seed", 0)
    for name in ("zero_init", "linear_path"):
        if not isinstance(getattr(cfg, name), bool):
            raise TypeError(f"{name} must be a bool; got {getattr(cfg, name)!r}")
    return cfg


def check_sigma(sigma, n: int, name: str = "sigma") -> torch.Tensor:
    """``sigma`` (float or ``(n,)`` tensor, all finite and > 0) as an ``(n,)`` float64 tensor."""
    if isinstance(sigma, torch.Tensor):
        if sigma.dim() == 0:
            sigma = sigma.reshape(1).expand(n)
        if sigma.shape != (n,):
            raise ValueError(f"{name} must be a float or a tensor of shape ({n},); got shape {tuple(sigma.shape)}")
        if not sigma.is_floating_point():
            raise TypeError(f"{name} must be a float or a real floating-point tensor; got dtype {sigma.dtype}")
        if not (torch.isfinite(sigma).all() and (sigma > 0).all()):
            raise ValueError(f"{name} must be finite and > 0 everywhere")
        return sigma.detach().to(torch.float64)
    return torch.full((n,), lattice.check_positive(sigma, name), dtype=torch.float64)


def sigma_range(dtype: torch.dtype) -> tuple[float, float]:
    """The noise levels a model computing in ``dtype`` takes: ``sigma^2`` must be a finite normal number
    there (float32: about [1.1e-19, 1.8e19]); past it the cast makes sigma 0 or inf and the score NaN."""
    info = torch.finfo(dtype)
    return math.sqrt(info.tiny), math.sqrt(info.max)


def check_in_dtype(sigma: torch.Tensor, x: torch.Tensor, dtype: torch.dtype, name: str = "sigma") -> None:
    """``ValueError`` unless ``sigma (n,)`` lies in ``sigma_range(dtype)`` and ``x`` passes
    ``lattice.check_magnitude`` in ``dtype``; checked before the cast to ``dtype`` that would hide both."""
    lo, hi = sigma_range(dtype)
    if not bool(((sigma >= lo) & (sigma <= hi)).all()):
        raise ValueError(f"{name} must be in [{lo:.3g}, {hi:.3g}] for a model computing in {dtype} (sigma^2 must be "
                         f"a normal {dtype} number); got values from {float(sigma.min()):.3g} to {float(sigma.max()):.3g}")
    lattice.check_magnitude(x, dtype)


def model_dtype(model: nn.Module) -> torch.dtype:
    """The floating dtype of ``model``'s parameters (float32 for a parameter-free module)."""
    param = next(model.parameters(), None)
    return torch.float32 if param is None else param.dtype


class LatticeScoreModel(nn.Module):
    """What the 2D score models share: ``forward(x, sigma)`` checks its inputs (a field ``(n, L, L)``, the
    lattice size the model accepts, ``sigma``, and on CPU the memory the pass needs) and calls ``score``,
    which subclasses implement without checks. Subclasses give ``_check_size(L)`` and ``_bytes_per_site``."""

    def forward(self, x: torch.Tensor, sigma) -> torch.Tensor:
        x = lattice.check_field(x, checkerboard=False)
        self._check_size(x.shape[-1])
        dtype, device = model_dtype(self), model_device(self)
        sig = check_sigma(sigma, x.shape[0])
        check_in_dtype(sig, x, dtype)
        if device.type == "cpu":  # host memory; a GPU's is the allocator's to refuse
            lattice.check_memory(x.numel(), self._bytes_per_site(dtype), f"{x.shape[0]} field(s) of L={x.shape[-1]} "
                                 f"through a width-{self.config.width} {type(self).__name__}")
        # the model's device for the pass, the caller's for the answer (a no-op when they are the same)
        return self.score(x.to(device, dtype), sig.to(device, dtype)).to(x.device)

    def _check_size(self, L: int) -> None:
        """Raise ``ValueError`` if the model cannot run on an ``L x L`` torus (default: any ``L`` runs)."""

    def _bytes_per_site(self, dtype: torch.dtype) -> int:
        raise NotImplementedError

    def score(self, x: torch.Tensor, sig: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


@registry.model
class LocalCNN(LatticeScoreModel):
    """Noise-conditioned local CNN score model ``s_theta(x, sigma)``; receptive radius ``R = 2B + 2``.

    Layout: 3x3 input projection, ``blocks`` residual blocks of two 3x3 convs (SiLU), output projection
    (3x3, or 1x1 for odd radii), all with circular padding, so ``receptive_radius = 1 + 2 B + (0 or 1)``.
    Output: ``s = c_in (F(c_in x, c_noise) - c_in x)`` with ``c_in = (sigma^2 + sigma_data^2)^-1/2``, i.e.
    the exact score of ``N(0, sigma_data^2)`` smoothed by ``sigma`` plus a learned residual (with
    ``linear_path``, ``F`` gains a linear ``(2R + 1)^2`` conv of ``c_in x``: the same radius);
    ``c_noise = ln(sigma) / 4`` enters every block as a channel bias (EDM's input scaling and noise
    embedding, Karras et al. 2022). Unlike EDM's denoiser output ``(D - x) / sigma^2``, the residual stays
    O(1) as ``sigma -> 0``, so the clean-score limit that the diagnostics read at ``sigma_min`` is not an
    O(1/sigma) amplification of the network's output error.

    ``forward(x, sigma)``: ``x (n, L, L)`` float (cast to float32), any ``L >= 1``; ``sigma`` a float
    or an ``(n,)`` tensor; returns the score ``(n, L, L)`` float32.
    """

    def __init__(self, blocks: int = 1, width: int = 32, *, out_kernel: int = 3, sigma_data: float = 1.0,
                 seed: int = 0, zero_init: bool = False, linear_path: bool = False):
        super().__init__()
        self.config = LocalCNNConfig(blocks, width, out_kernel, sigma_data, seed, zero_init, linear_path)
        with torch.random.fork_rng(devices=[]):  # seeded init without touching the caller's RNG
            torch.manual_seed(seed)
            self.conv_in = nn.Conv2d(1, width, 3)
            self.noise_embed = nn.Sequential(nn.Linear(1, width), nn.SiLU(), nn.Linear(width, width))
            self.block_bias = nn.ModuleList(nn.Linear(width, width) for _ in range(blocks))
            self.block_convs = nn.ModuleList(
                nn.ModuleList([nn.Conv2d(width, width, 3), nn.Conv2d(width, width, 3)]) for _ in range(blocks))
            self.conv_out = nn.Conv2d(width, 1, out_kernel)
        if zero_init:
            # each residual block starts as the identity and the residual F as 0, so the first steps learn
            # the score's correction to the Gaussian baseline instead of first undoing a random one
            for conv in [self.conv_out] + [pair[1] for pair in self.block_convs]:
                nn.init.zeros_(conv.weight)
                nn.init.zeros_(conv.bias)
        R = self.config.receptive_radius
        # (1, 1, 2R + 1, 2R + 1) or None; starts at 0 (a linear map the CNN would need many steps to build)
        self.linear = nn.Parameter(torch.zeros(1, 1, 2 * R + 1, 2 * R + 1)) if linear_path else None
        self.act = nn.SiLU()

    @classmethod
    def from_radius(cls, R: int, width: int = 32, **kwargs) -> "LocalCNN":
        """A model whose receptive radius is exactly ``R >= 1`` (odd ``R`` uses a 1x1 output projection)."""
        return cls.from_config(LocalCNNConfig.from_radius(R, width, **kwargs))

    @classmethod
    def from_config(cls, config: LocalCNNConfig | dict) -> "LocalCNN":
        fields = config if isinstance(config, dict) else dataclasses.asdict(config)
        return cls(**fields)

    @property
    def receptive_radius(self) -> int:
        return self.config.receptive_radius

    def _conv(self, conv: nn.Conv2d, h: torch.Tensor) -> torch.Tensor:
        return circular_conv(h, conv.weight, conv.bias)

    def _bytes_per_site(self, dtype: torch.dtype) -> int:
        # peak activations per site (measured): with autograd ~(9 blocks + 6) maps of width channels are
        # kept, without it ~6; the linear path adds a (2R+1)^2 window per site either way
        maps = 9 * self.config.blocks + 6 if torch.is_grad_enabled() else 6
        window = (2 * self.receptive_radius + 1) ** 2 if self.config.linear_path else 0
        return dtype.itemsize * (maps * self.config.width + 2 * window)

    def score(self, x: torch.Tensor, sig: torch.Tensor) -> torch.Tensor:
        """``forward`` without input checks, for callers that checked already (and for ``torch.func.vmap``,
        which cannot run the data-dependent checks): ``x (n, L, L)``, ``sig (n,)``, both in the model's dtype.
        """
        sig = sig[:, None, None]                                   # (n, 1, 1)
        c_in = torch.rsqrt(sig ** 2 + self.config.sigma_data ** 2)  # (n, 1, 1)
        emb = self.noise_embed(torch.log(sig).reshape(-1, 1) / 4)  # (n, width)
        h = self._conv(self.conv_in, (c_in * x)[:, None])          # (n, width, L, L)
        for (conv1, conv2), bias in zip(self.block_convs, self.block_bias):
            r = self._conv(conv1, self.act(h)) + bias(emb)[:, :, None, None]
            h = h + self._conv(conv2, self.act(r))
        f = self._conv(self.conv_out, self.act(h))[:, 0]           # (n, L, L)
        if self.linear is not None:
            f = f + circular_conv((c_in * x)[:, None], self.linear)[:, 0]
        return c_in * (f - c_in * x)



@dataclass(frozen=True)
class LocalAttentionConfig:
    """Architecture of a ``LocalAttention``; stored in checkpoints and result rows."""

    layers: int = 2          # attention layers, each +window to the radius
    window: int = 2          # w: each site attends to the (2w + 1)^2 sites around it
    width: int = 32          # channels of every site's state
    heads: int = 4           # attention heads (width must be a multiple)
    sigma_data: float = 1.0  # EDM preconditioning scale, as LocalCNN's
    seed: int = 0            # parameter initialisation
    zero_init: bool = True   # residual outputs and output projection start at 0: the Gaussian baseline
    # the relative-position bias enters the logits as position_scale x its parameter. Adam moves every
    # parameter by about its learning rate per step, whatever the gradient, so an unscaled bias travels
    # about lr x steps (0.75 at Fig. 2's 5e-4 x 1500) and the attention stays nearly uniform over the window
    # (results/studies/attention_floor/); the scale is a larger learning rate for the bias alone
    position_scale: float = 10.0

    # Fields added after run ids existed, with the values every earlier model had: ``id_fields`` leaves them
    # out at these values, so earlier runs keep their ids, and ``LocalAttention.from_config`` gives them to a
    # stored config that lacks them
    LATER_DEFAULTS: ClassVar[dict] = {"position_scale": 1.0}

    def __post_init__(self):
        lattice.check_int(self.layers, "layers", 1, lattice.MAX_BLOCKS)
        lattice.check_int(self.window, "window", 1, lattice.MAX_BLOCKS)
        lattice.check_int(self.width, "width", 1, lattice.MAX_WIDTH)
        lattice.check_int(self.heads, "heads", 1, self.width)
        if self.width % self.heads:
            raise ValueError(f"width must be a multiple of heads; got width={self.width}, heads={self.heads}")
        lattice.check_in_range(self.sigma_data, "sigma_data", *sigma_range(torch.float32), " (its square enters in float32)")
        lattice.check_int(self.seed, "seed", 0)
        if not isinstance(self.zero_init, bool):
            raise TypeError(f"zero_init must be a bool; got {self.zero_init!r}")
        # a float, so that position_scale=10 and 10.0 are one model under one run id
        object.__setattr__(self, "position_scale",
                           float(lattice.check_in_range(self.position_scale, "position_scale", 1e-3, 1e3)))

    @property
    def receptive_radius(self) -> int:
        """``R_eff = layers x window``: every other operation acts on one site."""
        return self.layers * self.window

    @classmethod
    def from_radius(cls, R: int, window: int = 2, **kwargs) -> "LocalAttentionConfig":
        """The config whose receptive radius is exactly ``R`` (a multiple of ``window``)."""
        R, window = lattice.check_int(R, "R", 1), lattice.check_int(window, "window", 1)
        if R % window:
            raise ValueError(f"R must be a multiple of window={window} (R_eff = layers x window); got R={R}")
        return cls(layers=R // window, window=window, **kwargs)


def _rms_norm(h: torch.Tensor, gain: torch.Tensor) -> torch.Tensor:
    # over the channels of each site (dim 1) only: a norm over the lattice would see every site
    return h * torch.rsqrt(h.pow(2).mean(1, keepdim=True) + 1e-6) * gain[None, :, None, None]


def _window_attention(q: torch.Tensor, key: torch.Tensor, v: torch.Tensor, bias: torch.Tensor, w: int) -> torch.Tensor:
    """Each site's softmax attention over the ``(2w + 1)^2`` sites around it on the torus.

    ``q, key, v (n, heads, d, L, L)``; ``bias (heads, K, 1, 1)``, ``K = (2w + 1)^2`` offsets in row-major order
    (``(-w, -w), (-w, -w + 1), ...``), added to the logits ``q . key / sqrt(d)``. Returns ``(n, heads, d, L, L)``.
    One rolled copy of ``key`` and ``v`` per offset, not an unfolded ``(..., K, L^2)`` window tensor: each
    product then works on one lattice-sized tensor that stays in cache (the model's step: 1.6-1.75x faster).
    """
    offsets = [(-dy, -dx) for dy in range(-w, w + 1) for dx in range(-w, w + 1)]  # roll by -offset: site + offset
    logits = torch.stack([(q * torch.roll(key, o, (-2, -1))).sum(2) for o in offsets], 2)  # (n, heads, K, L, L)
    # unbind, not indexing: its backward is one stack, where K indexings would each zero-fill a (.., K, ..) grad
    att = torch.softmax(logits / math.sqrt(q.shape[2]) + bias, dim=2).unsqueeze(2).unbind(3)  # K x (n, heads, 1, L, L)
    out = att[0] * torch.roll(v, offsets[0], (-2, -1))
    for a, o in zip(att[1:], offsets[1:]):
        out = out + a * torch.roll(v, o, (-2, -1))
    return out


@registry.model
class LocalAttention(LatticeScoreModel):
    """Noise-conditioned sliding-attention local score model ``s_theta(x, sigma)`` (the paper's auxiliary
    "pure sliding-attention local score models", Sec. 4); receptive radius ``R = layers x window``.

    Each site carries a ``width``-channel state (a per-site linear embedding of ``c_in x``). Each layer:
    per-site RMS norm, the noise embedding added as a channel bias, multi-head attention of the site over
    the ``(2 window + 1)^2`` sites around it on the torus (``_window_attention``; no global attention, no
    pooling) with a learned relative-position bias per head and offset (``position_scale`` x a parameter),
    residual; then a per-site MLP, residual. The output is LocalCNN's: ``s = c_in (F - c_in x)``,
    ``c_in = (sigma^2 + sigma_data^2)^-1/2``, ``c_noise = ln(sigma) / 4``.

    ``forward(x, sigma)``: ``x (n, L, L)`` float (cast to float32), ``L >= 2 window + 1`` (a window that
    wraps would count a site twice); ``sigma`` a float or an ``(n,)`` tensor; returns ``(n, L, L)`` float32.
    """

    def __init__(self, layers: int = 2, window: int = 2, width: int = 32, heads: int = 4, *,
                 sigma_data: float = 1.0, seed: int = 0, zero_init: bool = True, position_scale: float = 10.0):
        super().__init__()
        self.config = LocalAttentionConfig(layers, window, width, heads, sigma_data, seed, zero_init, position_scale)
        K = (2 * window + 1) ** 2
        with torch.random.fork_rng(devices=[]):  # seeded init without touching the caller's RNG
            torch.manual_seed(seed)
            self.embed = nn.Conv2d(1, width, 1)
            self.noise_embed = nn.Sequential(nn.Linear(1, width), nn.SiLU(), nn.Linear(width, width))
            self.noise_bias = nn.ModuleList(nn.Linear(width, width) for _ in range(layers))
            self.qkv = nn.ModuleList(nn.Conv2d(width, 3 * width, 1) for _ in range(layers))
            self.attn_out = nn.ModuleList(nn.Conv2d(width, width, 1) for _ in range(layers))
            self.mlp = nn.ModuleList(nn.Sequential(nn.Conv2d(width, 2 * width, 1), nn.SiLU(), nn.Conv2d(2 * width, width, 1))
                                     for _ in range(layers))
            self.out = nn.Conv2d(width, 1, 1)
        self.position_bias = nn.Parameter(torch.zeros(layers, heads, K, 1))  # (layer, head, offset, 1): every site
        self.gains = nn.Parameter(torch.ones(2 * layers + 1, width))          # the RMS norms' gains
        if zero_init:
            for lin in [self.out, *self.attn_out, *(m[2] for m in self.mlp)]:
                nn.init.zeros_(lin.weight)
                nn.init.zeros_(lin.bias)

    @classmethod
    def from_config(cls, config: LocalAttentionConfig | dict) -> "LocalAttention":
        """The model of ``config``; a dict stored before a ``LATER_DEFAULTS`` field existed gets its old value."""
        fields = config if isinstance(config, dict) else dataclasses.asdict(config)
        return cls(**{**LocalAttentionConfig.LATER_DEFAULTS, **fields})

    @property
    def receptive_radius(self) -> int:
        return self.config.receptive_radius

    def _check_size(self, L: int) -> None:
        w = self.config.window
        if 2 * w + 1 > L:
            raise ValueError(f"window must fit the lattice (2 window + 1 <= L): window={w} needs L >= {2 * w + 1}; "
                             f"got L={L}")

    def _bytes_per_site(self, dtype: torch.dtype) -> int:
        # peak per site (measured: peak RSS of a forward, and backward, at n=4, L=128 with 2 and 7 layers):
        # with autograd each layer keeps its K rolled keys and values and the backward's window products
        # (~5 K width), the logits and weights of each head and the layer's maps; without autograd one
        # layer's logits and weights and a few dozen maps
        K, d, h = (2 * self.config.window + 1) ** 2, self.config.width, self.config.heads
        if torch.is_grad_enabled():
            return dtype.itemsize * ((5 * K * d + 2 * K * h + 16 * d) * self.config.layers + 52 * d)
        return dtype.itemsize * (2 * K * h + 40 * d)

    def score(self, x: torch.Tensor, sig: torch.Tensor) -> torch.Tensor:
        """``forward`` without input checks: ``x (n, L, L)``, ``sig (n,)``, both in the model's dtype."""
        n, L, _ = x.shape
        heads, w = self.config.heads, self.config.window
        dh = self.config.width // heads
        sig = sig[:, None, None]                                   # (n, 1, 1)
        c_in = torch.rsqrt(sig ** 2 + self.config.sigma_data ** 2)
        emb = self.noise_embed(torch.log(sig).reshape(-1, 1) / 4)  # (n, width)
        h = self.embed((c_in * x)[:, None])                        # (n, width, L, L)
        for k in range(self.config.layers):
            a = _rms_norm(h, self.gains[2 * k]) + self.noise_bias[k](emb)[:, :, None, None]
            q, key, v = self.qkv[k](a).reshape(n, 3, heads, dh, L, L).unbind(1)  # (n, heads, dh, L, L) each
            bias = self.config.position_scale * self.position_bias[k][..., None]  # (heads, K, 1, 1)
            att = _window_attention(q, key, v, bias, w)
            h = h + self.attn_out[k](att.reshape(n, -1, L, L))
            h = h + self.mlp[k](_rms_norm(h, self.gains[2 * k + 1]))
        f = self.out(_rms_norm(h, self.gains[-1]))[:, 0]            # (n, L, L)
        return c_in * (f - c_in * x)
