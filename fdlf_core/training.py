"""Denoising score matching (paper Eq. 3) on fresh teacher samples, and checkpoints.

Training draws ``sigma`` log-uniformly on ``[sigma_min, sigma_max]`` and uses the usual ``sigma^2``
weighting, so the per-sample loss is ``mean_i (sigma s_theta(x0 + sigma eps, sigma)_i + eps_i)^2``
(a per-site mean, so its scale does not depend on ``L``). All randomness (teacher samples, sigma, eps)
comes from one ``torch.Generator`` seeded with ``seed``; the model's initialisation comes from its own
config seed. Same seeds, same numbers on CPU.
"""
from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn
from tqdm.auto import tqdm

from . import lattice
from .atomic import atomic_write
from .models import LocalCNN, LocalCNNConfig, check_sigma, model_dtype
from .provenance import provenance
from .teachers import Teacher, TeacherConfig

CHECKPOINT_FORMAT = "fdlf.checkpoint/1"


@dataclass(frozen=True)
class TrainConfig:
    """DSM training settings (paper Appendix C, Table 2 defaults)."""

    L: int                    # training lattice size
    steps: int                # optimiser steps, one fresh batch each
    batch_size: int           # teacher samples per step
    lr: float = 5e-4          # Adam learning rate
    sigma_min: float = 0.005  # smallest training noise (also the diagnostics' evaluation noise)
    sigma_max: float = 1.0    # largest training noise
    seed: int = 0             # data, noise and sigma draws


@dataclass
class TrainResult:
    """A trained model with what made it. ``losses``: one float (batch-mean DSM loss) per step."""

    model: nn.Module
    losses: list[float]
    config: TrainConfig
    teacher_config: TeacherConfig
    wall_s: float
    meta: dict = field(default_factory=dict)


def _check_train_config(cfg: TrainConfig) -> TrainConfig:
    lattice.check_L(cfg.L)
    lattice.check_int(cfg.steps, "steps", 1)
    lattice.check_int(cfg.batch_size, "batch_size", 1)
    lattice.check_positive(cfg.lr, "lr")
    _check_sigma_range(cfg.sigma_min, cfg.sigma_max)
    lattice.check_int(cfg.seed, "seed", 0)
    return cfg


def _check_sigma_range(sigma_min, sigma_max) -> None:
    if lattice.check_positive(sigma_min, "sigma_min") >= lattice.check_positive(sigma_max, "sigma_max"):
        raise ValueError(f"sigma_min must be < sigma_max; got sigma_min={sigma_min}, sigma_max={sigma_max}")


def sample_sigma(n: int, sigma_min: float, sigma_max: float, generator: torch.Generator) -> torch.Tensor:
    """``n`` noise levels, log-uniform on ``[sigma_min, sigma_max]``: ``(n,)`` float64."""
    n = lattice.check_int(n, "n", 1)
    _check_sigma_range(sigma_min, sigma_max)
    u = torch.rand(n, generator=generator, dtype=torch.float64)
    return torch.exp(math.log(sigma_min) + u * (math.log(sigma_max) - math.log(sigma_min)))


def dsm_loss(model: nn.Module, x0: torch.Tensor, sigma: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """Per-sample sigma^2-weighted DSM loss (Eq. 3): ``x0, eps (n, L, L)``, ``sigma`` float or ``(n,)`` -> ``(n,)``."""
    x0 = lattice.check_field(x0, "x0")
    eps = lattice.check_field(eps, "eps", L=x0.shape[-1])
    if eps.shape != x0.shape:
        raise ValueError(f"eps must have the shape of x0, {tuple(x0.shape)}; got {tuple(eps.shape)}")
    sigma = check_sigma(sigma, x0.shape[0])
    sig = sigma.to(x0.dtype)[:, None, None]
    score = model(x0 + sig * eps, sigma)
    return ((sig * score + eps) ** 2).mean(dim=(1, 2))


def train_dsm(teacher: Teacher, model: nn.Module, L: int, steps: int, batch_size: int, lr: float = 5e-4,
              sigma_min: float = 0.005, sigma_max: float = 1.0, seed: int = 0,
              progress: bool = True) -> TrainResult:
    """Train ``model`` (any ``nn.Module`` with ``forward(x, sigma)``) in place by DSM on ``teacher`` at ``L``.

    Each step draws ``batch_size`` fresh teacher samples; Adam with learning rate ``lr``. Returns the
    model, the per-step losses and the configs; a tqdm bar shows progress when ``progress``.
    """
    if not isinstance(teacher, Teacher):
        raise TypeError(f"teacher must be a fdlf_core.teachers.Teacher; got {type(teacher).__name__}")
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module with forward(x, sigma); got {type(model).__name__}")
    cfg = _check_train_config(TrainConfig(L, steps, batch_size, lr, sigma_min, sigma_max, seed))
    gen = torch.Generator().manual_seed(seed)
    dtype = model_dtype(model)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    model.train()
    start = time.perf_counter()
    bar = tqdm(range(steps), desc=f"DSM L={L}", disable=not progress, leave=False)
    for _ in bar:
        x0 = teacher.sample(batch_size, L, generator=gen).to(dtype)
        sigma = sample_sigma(batch_size, sigma_min, sigma_max, gen)
        eps = torch.randn(x0.shape, generator=gen, dtype=torch.float64).to(dtype)
        loss = dsm_loss(model, x0, sigma, eps).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
        if not math.isfinite(losses[-1]):
            raise FloatingPointError(f"DSM loss became {losses[-1]} at step {len(losses)}; lower lr (now {lr})")
        bar.set_postfix(loss=f"{losses[-1]:.4f}", refresh=False)
    model.eval()
    return TrainResult(model, losses, cfg, teacher.config, time.perf_counter() - start)


def save_checkpoint(path: str | Path, result: TrainResult) -> Path:
    """Write ``result`` atomically: weights, model/train/teacher configs, losses and provenance.

    Only tensors and JSON-like values are stored, so ``load_checkpoint`` can use ``weights_only=True``.
    """
    model = result.model
    if not isinstance(model, LocalCNN):
        raise TypeError(f"save_checkpoint stores LocalCNN models; got {type(model).__name__}")
    payload = {
        "format": CHECKPOINT_FORMAT,
        "model_class": "LocalCNN",
        "model_config": dataclasses.asdict(model.config),
        "state_dict": model.state_dict(),
        "train_config": dataclasses.asdict(result.config),
        "teacher_config": dataclasses.asdict(result.teacher_config),
        "losses": [float(v) for v in result.losses],
        "wall_s": float(result.wall_s),
        "provenance": provenance(),
    }
    return atomic_write(path, lambda f: torch.save(payload, f))


def load_checkpoint(path: str | Path) -> TrainResult:
    """Load a checkpoint written by ``save_checkpoint`` (``weights_only=True``; foreign files rejected)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a truncated, foreign or unsafe pickle: say which file, not torch internals
        raise ValueError(f"{path} is not a readable fdlf checkpoint ({type(exc).__name__}: {exc})") from None
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not an fdlf checkpoint (expected format {CHECKPOINT_FORMAT!r})")
    try:
        model = LocalCNN.from_config(LocalCNNConfig(**payload["model_config"]))
        model.load_state_dict(payload["state_dict"])
        result = TrainResult(model, payload["losses"], TrainConfig(**payload["train_config"]),
                             TeacherConfig(**payload["teacher_config"]), payload["wall_s"],
                             meta={"provenance": payload["provenance"], "path": str(path)})
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:  # right format tag, damaged content
        raise ValueError(f"{path} is a damaged fdlf checkpoint ({type(exc).__name__}: {exc})") from None
    model.eval()
    return result
