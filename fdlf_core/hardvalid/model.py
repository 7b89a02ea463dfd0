"""The 3D local score model of Fig. 3: ``s_theta(c, sigma; b, a)``, the score of the continuous channel given
the discrete one (ports and labels are conditioned on, never given a Euclidean score).

The 2D ``models.LocalCNN`` in three dimensions, with open boundaries: 3x3x3 input projection, ``blocks``
residual blocks of two 3x3x3 convs (SiLU, the noise embedding as a per-block channel bias), 3x3x3 output
projection, all zero-padded, so ``receptive_radius = 2 B + 2`` (Chebyshev) exactly. Inputs per site: the
scaled coordinates ``c_in c`` (``d_c`` channels), learned embeddings of its port motif and label, and its
occupancy. Output: ``c_in (F - c_in c)`` (the smoothed score of ``N(0, sigma_data^2)`` plus a learned
residual, as in 2D) on occupied sites, exactly 0 on empty ones.

Shapes: ``c (n, d_c, L, L, L)``; ``b``, ``a`` ``(n, L, L, L)`` int64; returns ``(n, d_c, L, L, L)`` float32.
"""
from __future__ import annotations

import dataclasses

import torch
from torch import nn

from .. import lattice, registry
from ..models import check_in_dtype, check_sigma
from .labels import N_MOTIFS, motifs
from .ports import occupied


@dataclasses.dataclass(frozen=True)
class LocalCNN3DConfig:
    """Architecture of a ``LocalCNN3D``."""

    blocks: int = 1          # residual blocks, each two 3x3x3 convs (+2 to the radius)
    width: int = 32          # channels of every hidden layer
    K: int = 4               # labels 1..K (0: empty)
    d_c: int = 2             # continuous coordinates per site
    embed: int = 8           # embedding width of motifs and labels
    sigma_data: float = 1.0  # preconditioning scale
    seed: int = 0            # parameter initialisation
    zero_init: bool = False  # residual branches and output projection start at 0 (the Gaussian baseline), as in 2D

    def __post_init__(self):
        lattice.check_int(self.blocks, "blocks", 0, lattice.MAX_BLOCKS)
        lattice.check_int(self.width, "width", 1, lattice.MAX_WIDTH)
        lattice.check_int(self.K, "K", 2, 64)
        lattice.check_int(self.d_c, "d_c", 1, 64)
        lattice.check_int(self.embed, "embed", 1, lattice.MAX_WIDTH)
        lattice.check_positive(self.sigma_data, "sigma_data")
        lattice.check_int(self.seed, "seed", 0)
        if not isinstance(self.zero_init, bool):
            raise TypeError(f"zero_init must be a bool; got {self.zero_init!r}")

    @property
    def receptive_radius(self) -> int:
        return 2 * self.blocks + 2


@registry.model
class LocalCNN3D(nn.Module):
    """Noise-conditioned local 3D CNN score model of the continuous channel given ``(b, a)``; see the module."""

    def __init__(self, config: LocalCNN3DConfig = LocalCNN3DConfig()):
        super().__init__()
        if not isinstance(config, LocalCNN3DConfig):
            raise TypeError(f"config must be a LocalCNN3DConfig; got {type(config).__name__}")
        self.config = cfg = config
        with torch.random.fork_rng(devices=[]):  # seeded init without touching the caller's RNG
            torch.manual_seed(cfg.seed)
            self.motif_embed = nn.Embedding(N_MOTIFS + 1, cfg.embed)
            self.label_embed = nn.Embedding(cfg.K + 1, cfg.embed)
            self.conv_in = nn.Conv3d(cfg.d_c + 2 * cfg.embed + 1, cfg.width, 3, padding=1)
            self.noise_embed = nn.Sequential(nn.Linear(1, cfg.width), nn.SiLU(), nn.Linear(cfg.width, cfg.width))
            self.block_bias = nn.ModuleList(nn.Linear(cfg.width, cfg.width) for _ in range(cfg.blocks))
            self.block_convs = nn.ModuleList(
                nn.ModuleList([nn.Conv3d(cfg.width, cfg.width, 3, padding=1),
                               nn.Conv3d(cfg.width, cfg.width, 3, padding=1)]) for _ in range(cfg.blocks))
            self.conv_out = nn.Conv3d(cfg.width, cfg.d_c, 3, padding=1)
        if cfg.zero_init:
            for conv in [self.conv_out] + [pair[1] for pair in self.block_convs]:
                nn.init.zeros_(conv.weight)
                nn.init.zeros_(conv.bias)
        self.act = nn.SiLU()

    @classmethod
    def from_config(cls, config: LocalCNN3DConfig | dict) -> "LocalCNN3D":
        """The model of ``config`` (a ``LocalCNN3DConfig`` or its dict, as checkpoints store it)."""
        return cls(config if isinstance(config, LocalCNN3DConfig) else LocalCNN3DConfig(**config))

    @property
    def receptive_radius(self) -> int:
        return self.config.receptive_radius

    def forward(self, c: torch.Tensor, sigma, b: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        if not isinstance(c, torch.Tensor) or c.dim() != 5 or c.shape[1] != self.config.d_c \
                or b.shape != (c.shape[0], *c.shape[2:]) or a.shape != b.shape:
            raise ValueError(f"c must be (n, d_c={self.config.d_c}, L, L, L) with b and a (n, L, L, L); got c "
                             f"{tuple(getattr(c, 'shape', ()))}, b {tuple(b.shape)}, a {tuple(a.shape)}")
        if int(a.max()) > self.config.K or int(a.min()) < 0:
            raise ValueError(f"a must hold labels in 0..{self.config.K}")
        dtype, device = self.conv_in.weight.dtype, self.conv_in.weight.device
        sig = check_sigma(sigma, c.shape[0])
        check_in_dtype(sig, c, dtype)
        # the model's device for the pass, the caller's for the answer (a no-op when they are the same)
        return self.score(c.to(device, dtype), sig.to(device, dtype), b.to(device), a.to(device)).to(c.device)

    def score(self, c: torch.Tensor, sig: torch.Tensor, b: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """``forward`` without input checks."""
        occ = occupied(b)[:, None].to(c.dtype)                                  # (n, 1, L, L, L)
        sig = sig[:, None, None, None, None]
        c_in = torch.rsqrt(sig ** 2 + self.config.sigma_data ** 2)
        emb = torch.cat([self.motif_embed(motifs(b) + 1), self.label_embed(a)], -1).permute(0, 4, 1, 2, 3)
        h = self.conv_in(torch.cat([c_in * c, emb * occ, occ], 1))             # (n, width, L, L, L)
        noise = self.noise_embed(torch.log(sig).reshape(-1, 1) / 4)            # (n, width)
        for (conv1, conv2), bias in zip(self.block_convs, self.block_bias):
            r = conv1(self.act(h)) + bias(noise)[:, :, None, None, None]
            h = h + conv2(self.act(r))
        f = self.conv_out(self.act(h))
        return c_in * (f - c_in * c) * occ
