"""Denoising score matching (paper Eq. 3) on fresh samples of any data source, and checkpoints.

A data source is anything that satisfies ``DataSource``: ``sample(n, L, generator)`` and a ``config``
dataclass registered with ``registry.data_config`` (an FDLF ``Teacher``, an Ising pool, the 3D hard-valid
teacher, a user's own). A sample is either an ``(n, L, L)`` field, or a ``ConditionedSample``: a
continuous ``field`` that exists only where ``mask`` is true, plus discrete inputs the model is conditioned
on (``condition()``, passed to the model as keywords) and never given a score for (the hard-valid
teacher's ports and labels). Noise and loss then live on the masked coordinates only. Training never
imports a particular source; checkpoints name the config's class and ``load_checkpoint`` resolves it
through ``registry``.

Training draws ``sigma`` log-uniformly on ``[sigma_min, sigma_max]``. The per-sample loss is
``lambda(sigma) mean_i (s_theta(x0 + sigma eps, sigma)_i + eps_i / sigma)^2`` with ``lambda = sigma^p``
(a per-site mean, so its scale does not depend on ``L``): ``p = 2`` is the usual sigma^2 weighting,
``p = 0`` the paper's Eq. 3 as written. The rest of the recipe is ``TrainConfig``'s (antithetic noise
pairs, learning-rate schedule, an EMA of the weights); its defaults are the recipe fdlf started with, and
a recipe field at its default is left out of run ids (``id_fields``), so runs made before it existed
keep their ids. All randomness (data samples, sigma, eps) comes from one ``torch.Generator`` seeded
with ``TrainConfig.seed``; the model's initialisation comes from its own config seed. Same seeds, same
numbers on CPU.
"""
from __future__ import annotations

import copy
import dataclasses
import inspect
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

import torch
from torch import nn

from . import lattice, registry
from .devices import model_device
from .progress import bar as progress_bar
from .atomic import atomic_write, read_tagged
from .models import LocalCNN, check_sigma, model_dtype, sigma_range
from .provenance import provenance, without_defaults

CHECKPOINT_FORMAT = "fdlf.checkpoint/1"


@runtime_checkable
class ConditionedSample(Protocol):
    """A batch of clean samples with a discrete part: ``field`` ``(n, ..., L, ..)`` the continuous
    coordinates that DSM noises, ``mask`` (bool, broadcastable to ``field``) where they exist, and
    ``condition()``, the discrete inputs as model keywords (``model(x, sigma, **condition())``)."""

    @property
    def field(self) -> torch.Tensor: ...

    @property
    def mask(self) -> torch.Tensor: ...

    def condition(self) -> dict[str, torch.Tensor]: ...


@runtime_checkable
class DataSource(Protocol):
    """What DSM trains on: ``sample(n, L, generator)`` -> ``(n, L, L)`` float64 clean fields or a
    ``ConditionedSample``, and the ``config`` dataclass (registered with ``registry.data_config``) that
    rebuilds the source."""

    config: object

    def sample(self, n: int, L: int, generator: torch.Generator | None = None) -> torch.Tensor | ConditionedSample: ...


@dataclass(frozen=True)
class TrainConfig:
    """DSM training settings (paper Appendix C, Table 2 defaults); validated on construction."""

    L: int                    # training lattice size
    steps: int                # optimiser steps, one fresh batch each
    batch_size: int           # data samples per step
    lr: float = 5e-4          # Adam learning rate
    sigma_min: float = 0.005  # smallest training noise (also the diagnostics' evaluation noise)
    sigma_max: float = 1.0    # largest training noise
    seed: int = 0             # data, noise and sigma draws
    # the DSM recipe beyond the paper's stated settings (defaults: fdlf's original recipe; RECIPE_DEFAULTS)
    weight_power: float = 2.0   # loss weight lambda(sigma) = sigma^p on |s + eps / sigma|^2 (0: paper Eq. 3)
    antithetic: bool = False    # each (x0, sigma, eps) is used twice, as x0 + sigma eps and x0 - sigma eps
    schedule: str = "constant"  # learning rate: "constant", or "cosine" (linear warm-up, then cosine to 0)
    warmup: float = 0.0         # fraction of the steps the "cosine" schedule warms up (linearly) for
    ema: float = 0.0            # decay of an EMA of the weights, which the trained model gets (0: no EMA)
    # "bf16": the model's forward (and so its backward) under torch.autocast to bfloat16 on the model's
    # device, weights, optimiser and loss in float32; it changes the numbers at bfloat16's ~3 digits, so
    # it is part of the run ids (docs/benchmarks.md measures its speed and its effect on a trained model)
    autocast: str = "none"

    def __post_init__(self):
        lattice.check_L(self.L)
        lattice.check_int(self.steps, "steps", 1)
        lattice.check_int(self.batch_size, "batch_size", 1)
        lattice.check_positive(self.lr, "lr")
        _check_sigma_range(self.sigma_min, self.sigma_max)
        lattice.check_int(self.seed, "seed", 0)
        if not 0 <= lattice.check_finite(self.weight_power, "weight_power") <= 2:
            raise ValueError(f"weight_power must be a number in [0, 2]; got {self.weight_power!r}")
        if not isinstance(self.antithetic, bool):
            raise TypeError(f"antithetic must be a bool; got {type(self.antithetic).__name__}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}; got {self.schedule!r}")
        if not 0 <= lattice.check_finite(self.warmup, "warmup") < 1:
            raise ValueError(f"warmup must be a fraction of the steps in [0, 1); got {self.warmup!r}")
        if self.schedule == "cosine" and round(self.warmup * self.steps) >= self.steps:
            raise ValueError(f"warmup must leave the cosine at least one of the {self.steps} steps; got "
                             f"warmup={self.warmup} ({round(self.warmup * self.steps)} warm-up steps)")
        if not 0 <= lattice.check_finite(self.ema, "ema") < 1:
            raise ValueError(f"ema must be a decay in [0, 1) (0: no EMA); got {self.ema!r}")
        if self.autocast not in AUTOCAST:
            raise ValueError(f"autocast must be one of {tuple(AUTOCAST)}; got {self.autocast!r}")


SCHEDULES = ("constant", "cosine")
AUTOCAST = {"none": None, "bf16": torch.bfloat16}  # name -> the dtype the forward runs in (None: the model's)
RECIPE_DEFAULTS = {"weight_power": 2.0, "antithetic": False, "schedule": "constant", "warmup": 0.0, "ema": 0.0,
                   "autocast": "none"}


def id_fields(train: dict) -> dict:
    """A ``TrainConfig`` dict as run ids hash it: recipe fields at their ``RECIPE_DEFAULTS`` left out, so a
    run of the original recipe has the id it had before those fields existed."""
    return without_defaults(train, RECIPE_DEFAULTS)


@dataclass
class TrainResult:
    """A trained model with what made it. ``losses``: one float (batch-mean DSM loss) per step."""

    model: nn.Module
    losses: list[float]
    config: TrainConfig
    data_config: object       # the config of the data source trained on
    wall_s: float
    meta: dict = field(default_factory=dict)


def check_data_source(data) -> DataSource:
    """``data`` if it is a ``DataSource`` with a registered config, else ``TypeError`` saying what is missing."""
    if not isinstance(data, DataSource) or not dataclasses.is_dataclass(getattr(data, "config", None)):
        raise TypeError(f"data must be a data source with sample(n, L, generator) and a dataclass config "
                        f"(e.g. fdlf_core.teachers.Teacher); got {type(data).__name__}")
    registry.name_of(data.config)
    return data


def _check_train_config(cfg) -> TrainConfig:
    if not isinstance(cfg, TrainConfig):
        raise TypeError(f"cfg must be a fdlf_core.training.TrainConfig; got {type(cfg).__name__}")
    return cfg


def _check_model(model, cfg: TrainConfig) -> nn.Module:
    """``model`` if it is a module whose dtype takes ``cfg``'s noise range (else the first step's NaN
    would be blamed on the learning rate)."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module with forward(x, sigma); got {type(model).__name__}")
    try:
        inspect.signature(model.forward).bind_partial(None, None)  # conditioned models take more (_check_call)
    except TypeError:
        raise TypeError(f"model must be a score model with forward(x, sigma); {type(model).__name__}.forward takes "
                        f"{inspect.signature(model.forward)}") from None
    if cfg.autocast != "none" and model_dtype(model) != torch.float32:
        # autocast recasts float32 only: a float64 model would train in float64 under a bf16 run id
        raise ValueError(f"cfg.autocast={cfg.autocast!r} needs a float32 model; got one computing in "
                         f"{model_dtype(model)} (use autocast='none')")
    lo, hi = sigma_range(model_dtype(model))
    if not lo <= cfg.sigma_min < cfg.sigma_max <= hi:
        raise ValueError(f"sigma_min and sigma_max must be in [{lo:.3g}, {hi:.3g}] for a model computing in "
                         f"{model_dtype(model)}; got sigma_min={cfg.sigma_min}, sigma_max={cfg.sigma_max}")
    return model


def _check_call(model: nn.Module, condition: dict) -> None:
    """``TypeError`` unless ``model.forward(x, sigma, **condition)`` binds: a conditioned source needs a
    model that takes its discrete inputs, and an unconditioned one a model that needs none."""
    signature = inspect.signature(model.forward)
    try:
        signature.bind(None, None, **condition)
    except TypeError:
        wants = f"forward(x, sigma, {', '.join(condition)})" if condition else "forward(x, sigma)"
        raise TypeError(f"model must have {wants} for this data source; {type(model).__name__}.forward takes "
                        f"{signature}") from None


def _check_sigma_range(sigma_min, sigma_max) -> None:
    if lattice.check_positive(sigma_min, "sigma_min") >= lattice.check_positive(sigma_max, "sigma_max"):
        raise ValueError(f"sigma_min must be < sigma_max; got sigma_min={sigma_min}, sigma_max={sigma_max}")


def sample_sigma(n: int, sigma_min: float, sigma_max: float, generator: torch.Generator) -> torch.Tensor:
    """``n`` noise levels, log-uniform on ``[sigma_min, sigma_max]``: ``(n,)`` float64."""
    n = lattice.check_int(n, "n", 1)
    _check_sigma_range(sigma_min, sigma_max)
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator; got {type(generator).__name__}")
    u = torch.rand(n, generator=generator, dtype=torch.float64)
    return torch.exp(math.log(sigma_min) + u * (math.log(sigma_max) - math.log(sigma_min)))


def dsm_loss(model: nn.Module, x0: torch.Tensor, sigma: torch.Tensor, eps: torch.Tensor,
             weight_power: float = 2.0, antithetic: bool = False) -> torch.Tensor:
    """Per-sample DSM loss (Eq. 3, weighted by ``sigma^weight_power``): ``x0, eps (n, L, L)``, ``sigma``
    float or ``(n,)`` -> ``(n,)``. ``antithetic``: the mean of the losses at ``eps`` and ``-eps`` (the same
    expectation; at small sigma the O(1 / sigma) noise terms of the two cancel in the gradient)."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module with forward(x, sigma); got {type(model).__name__}")
    x0 = lattice.check_field(x0, "x0")
    eps = lattice.check_field(eps, "eps", L=x0.shape[-1])
    if eps.shape != x0.shape:
        raise ValueError(f"eps must have the shape of x0, {tuple(x0.shape)}; got {tuple(eps.shape)}")
    probe = TrainConfig(4, 1, 1, weight_power=weight_power, antithetic=antithetic)  # validates the two
    return _dsm_residual(model, x0, check_sigma(sigma, x0.shape[0]), eps, probe.weight_power, probe.antithetic)


def _dsm_residual(score_fn, x0: torch.Tensor, sigma: torch.Tensor, eps: torch.Tensor, weight_power: float = 2.0,
                  antithetic: bool = False, mask: torch.Tensor | None = None) -> torch.Tensor:
    """The unchecked body of ``dsm_loss``; ``score_fn(x, sigma)`` is the model. ``x0, eps (n, ...)``;
    with a ``mask``, ``eps`` must be 0 off it and the mean runs over the masked coordinates only."""
    dims = tuple(range(1, x0.dim()))
    sig = sigma.to(x0.dtype).reshape(-1, *(1,) * len(dims))
    # (sigma s + eps)^2 is the sigma^2-weighted residual; sigma^(p - 2) turns it into weight sigma^p
    scale = sigma.to(x0.dtype) ** (weight_power - 2)
    if mask is None:
        mean = lambda r: r.mean(dim=dims)
    else:
        # a per-coordinate mean over where the field exists, so a sample's weight does not depend on how
        # many sites it occupies; the residual is zeroed off the mask whatever the model outputs there
        mask = mask.to(x0.dtype).expand_as(x0)
        count = mask.sum(dim=dims).clamp(min=1)
        mean = lambda r: (r * mask).sum(dim=dims) / count
    loss = mean((sig * score_fn(x0 + sig * eps, sigma) + eps) ** 2)
    if antithetic:
        loss = (loss + mean((sig * score_fn(x0 - sig * eps, sigma) - eps) ** 2)) / 2
    return loss * scale


def _autocast(cfg: TrainConfig, device: torch.device):
    """The context ``cfg.autocast`` asks the model's forward to run in (a disabled one for "none")."""
    dtype = AUTOCAST[cfg.autocast]
    return torch.autocast(device.type, dtype=dtype, enabled=dtype is not None)


def _lr_factor(cfg: TrainConfig):
    """The learning-rate multiplier of ``cfg.schedule`` at optimiser step ``k`` (for ``LambdaLR``)."""
    if cfg.schedule == "constant":
        return lambda k: 1.0
    warm = round(cfg.warmup * cfg.steps)
    span = cfg.steps - warm
    return lambda k: (k + 1) / warm if k < warm else 0.5 * (1 + math.cos(math.pi * (k - warm) / span))


def _fit_schedule(cfg: TrainConfig, fit: str) -> TrainConfig:
    # the exact-score fit always decays on a cosine without warm-up, whatever the DSM recipe says
    if fit not in ("dsm", "exact_score"):
        raise ValueError(f"fit must be 'dsm' or 'exact_score'; got {fit!r}")
    return cfg if fit == "dsm" else dataclasses.replace(cfg, schedule="cosine", warmup=0.0)


def learning_rates(cfg: TrainConfig, fit: str = "dsm") -> list[float]:
    """The learning rate of each of ``cfg.steps`` optimiser steps: ``fit`` "dsm" (``train_dsm``, following
    ``cfg.schedule``) or "exact_score" (``fit_exact_score``, always a cosine from ``cfg.lr`` to 0)."""
    factor = _lr_factor(_fit_schedule(_check_train_config(cfg), fit))
    return [cfg.lr * factor(k) for k in range(cfg.steps)]


class _EMA:
    """``e_k = d e_(k-1) + (1 - d) theta_k`` over a list of tensors, ``e_0 = theta_0`` (the initial weights)."""

    def __init__(self, params: list[torch.Tensor], decay: float):
        self.decay = decay
        self.shadow = [p.detach().clone() for p in params]

    def update(self, params: list[torch.Tensor]) -> None:
        with torch.no_grad():
            for e, p in zip(self.shadow, params):
                e.lerp_(p.detach(), 1 - self.decay)

    def copy_to(self, params: list[torch.Tensor]) -> None:
        with torch.no_grad():
            for e, p in zip(self.shadow, params):
                p.copy_(e)


@dataclass(frozen=True)
class _Batch:
    """One step's data: clean ``x0``, noise levels ``sigma (n,)``, noise ``eps`` (0 off ``mask``), and
    the model's extra inputs ``condition`` (empty for an unconditioned source)."""

    x0: torch.Tensor
    sigma: torch.Tensor
    eps: torch.Tensor
    mask: torch.Tensor | None
    condition: dict


def _split_sample(sample, n: int, L: int) -> tuple[torch.Tensor, torch.Tensor | None, dict]:
    """``(field, mask, condition)`` of what a data source's ``sample(n, L)`` returned, checked."""
    call = f"data.sample({n}, {L})"
    if isinstance(sample, ConditionedSample):
        field, mask, condition = sample.field, sample.mask, sample.condition()
        if not isinstance(field, torch.Tensor) or field.shape[0] != n or field.shape[-1] != L:
            raise ValueError(f"{call}.field must be a tensor of {n} samples of size {L}; got "
                             f"{tuple(field.shape) if isinstance(field, torch.Tensor) else type(field).__name__}")
        # the mask must have the field's dimensions, each equal or 1 (and n samples): a mask missing a
        # dimension would broadcast against the wrong one, e.g. samples against channels when n == d_c
        if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool or mask.dim() != field.dim() \
                or mask.shape[0] != n or any(m not in (1, f) for m, f in zip(mask.shape[1:], field.shape[1:])):
            raise ValueError(f"{call}.mask must be a bool tensor with field's dimensions {tuple(field.shape)}, "
                             f"each equal or 1; got {tuple(mask.shape) if isinstance(mask, torch.Tensor) else mask!r}")
        if not isinstance(condition, dict):
            raise TypeError(f"{call}.condition() must return a dict of model keyword inputs; got "
                            f"{type(condition).__name__}")
        return field, mask, condition
    if not isinstance(sample, torch.Tensor) or tuple(sample.shape) != (n, L, L):
        raise ValueError(f"{call} must return a ({n}, {L}, {L}) tensor or a ConditionedSample; got "
                         f"{tuple(sample.shape) if isinstance(sample, torch.Tensor) else type(sample).__name__}")
    return sample, None, {}


def _draw_batch(data: DataSource, cfg: TrainConfig, gen: torch.Generator, dtype: torch.dtype,
                device: torch.device = torch.device("cpu")) -> _Batch:
    """One step's data, in this order from ``gen``: clean samples, noise levels, noise ``eps``; drawn on the
    CPU (the same numbers on any machine), then moved to ``device``."""
    sample = data.sample(cfg.batch_size, cfg.L, generator=gen)
    x0, mask, condition = _split_sample(sample, cfg.batch_size, cfg.L)
    x0 = x0.to(device, dtype)
    sigma = sample_sigma(cfg.batch_size, cfg.sigma_min, cfg.sigma_max, gen).to(device)
    eps = torch.randn(x0.shape, generator=gen, dtype=torch.float64).to(device, dtype)
    if mask is not None:
        mask = mask.to(device)
        eps = eps * mask
    return _Batch(x0, sigma, eps, mask, {k: v.to(device) for k, v in condition.items()})


def train_dsm(data: DataSource, model: nn.Module, cfg: TrainConfig, progress: bool = True) -> TrainResult:
    """Train ``model`` (any ``nn.Module`` with ``forward(x, sigma)``) in place by DSM on ``data`` at ``cfg.L``.

    Each step draws ``cfg.batch_size`` fresh samples; Adam with learning rate ``cfg.lr``; with
    ``cfg.autocast="bf16"`` the forward runs under bfloat16 autocast (a float32 model only). Returns the
    model, the per-step losses and the configs; a tqdm bar shows progress when ``progress``.
    """
    check_data_source(data)
    cfg = _check_train_config(cfg)
    _check_model(model, cfg)
    gen = torch.Generator().manual_seed(cfg.seed)
    dtype, device = model_dtype(model), model_device(model)
    params = list(model.parameters())
    opt = torch.optim.Adam(params, lr=cfg.lr)
    schedule = torch.optim.lr_scheduler.LambdaLR(opt, _lr_factor(cfg))
    ema = _EMA(params, cfg.ema) if cfg.ema else None
    losses = []
    model.train()
    start = time.perf_counter()
    bar = progress_bar(cfg.steps, f"DSM L={cfg.L}", progress)
    for step in bar:
        batch = _draw_batch(data, cfg, gen, dtype, device)
        if step == 0:
            _check_call(model, batch.condition)
        score_fn = lambda x, sig: model(x, sig, **batch.condition)
        with _autocast(cfg, device):
            loss = _dsm_residual(score_fn, batch.x0, batch.sigma, batch.eps, cfg.weight_power, cfg.antithetic,
                                 batch.mask).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        schedule.step()
        if ema:
            ema.update(params)
        losses.append(loss.item())
        if not math.isfinite(losses[-1]):
            raise FloatingPointError(f"DSM loss became {losses[-1]} at step {len(losses)}; lower lr (now {cfg.lr})")
        bar.set_postfix(loss=f"{losses[-1]:.4g}", refresh=False)
    if ema:
        ema.copy_to(params)
    model.eval()
    return TrainResult(model, losses, cfg, data.config, time.perf_counter() - start)


class _Scorer(nn.Module):
    """``model.score`` (no input checks) as a module, so ``torch.func`` can vmap it over stacked weights."""

    def __init__(self, model: LocalCNN):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor, sig: torch.Tensor) -> torch.Tensor:
        return self.model.score(x, sig)


def train_dsm_stacked(data: DataSource, models: Sequence[LocalCNN], cfg: TrainConfig, seeds: Sequence[int],
                      progress: bool = True) -> list[TrainResult]:
    """Train same-architecture ``LocalCNN`` s together, ``models[k]`` under ``cfg`` with seed ``seeds[k]``.

    The computation of ``train_dsm`` on each model in turn (the losses are independent and Adam is
    elementwise, so one optimiser over the stacked weights is ``k`` separate ones), done as one
    ``torch.func.vmap`` step over the stacked weights (grouped convolutions): fewer, larger kernels, which
    pays where one model's step is overhead-bound (small ``L``, few blocks; ``benchmarks/bench_core.py``
    measures it). Results agree with ``train_dsm`` to float rounding, not bit for bit. Trains in place;
    returns one ``TrainResult`` per model, each with ``wall_s`` = the shared wall time / ``len(models)``.
    """
    check_data_source(data)
    cfg = _check_train_config(cfg)
    if cfg.autocast != "none":
        raise ValueError(f"cfg.autocast must be 'none' for train_dsm_stacked (its vmapped step runs in the "
                         f"models' dtype); got {cfg.autocast!r}: train with train_dsm")
    if not isinstance(models, (list, tuple)) or not models or not all(isinstance(m, LocalCNN) for m in models):
        raise TypeError(f"models must be a non-empty list of LocalCNN; got {models!r:.80}")
    arch = {dataclasses.replace(m.config, seed=0) for m in models}
    if len(arch) != 1 or len({model_dtype(m) for m in models}) != 1:
        raise ValueError(f"models must share one architecture and dtype (they may differ in seed); got {arch}")
    if any(model_device(m).type != "cpu" for m in models):
        raise ValueError("models must be on the CPU for train_dsm_stacked (its stacked step runs there); train "
                         "a model on another device with train_dsm")
    _check_model(models[0], cfg)
    if not isinstance(seeds, (list, tuple)) or len(seeds) != len(models):
        raise ValueError(f"seeds must be a list with one seed per model ({len(models)}); got {seeds!r}")
    configs = [dataclasses.replace(cfg, seed=s) for s in seeds]
    gens = [torch.Generator().manual_seed(c.seed) for c in configs]
    dtype = model_dtype(models[0])
    stacked, _ = torch.func.stack_module_state(models)  # name -> (k, ...) leaf tensors
    params = {f"model.{name}": p for name, p in stacked.items()}
    scorer = _Scorer(copy.deepcopy(models[0]).to("meta"))

    def model_loss(p, x0, sigma, eps):
        return _dsm_residual(lambda x, sig: torch.func.functional_call(scorer, p, (x, sig)), x0, sigma, eps,
                             cfg.weight_power, cfg.antithetic).mean()

    losses_of = torch.func.vmap(model_loss)
    opt = torch.optim.Adam(params.values(), lr=cfg.lr)
    schedule = torch.optim.lr_scheduler.LambdaLR(opt, _lr_factor(cfg))
    ema = _EMA(list(params.values()), cfg.ema) if cfg.ema else None
    losses: list[list[float]] = [[] for _ in models]
    start = time.perf_counter()
    bar = progress_bar(cfg.steps, f"DSM L={cfg.L} x{len(models)} stacked", progress)
    for _ in bar:
        batches = [_draw_batch(data, c, g, dtype) for c, g in zip(configs, gens)]
        if batches[0].mask is not None:
            raise TypeError("train_dsm_stacked takes unconditioned (n, L, L) data sources; train a conditioned "
                            "source's models one at a time with train_dsm")
        x0, sigma, eps = (torch.stack([getattr(b, name) for b in batches]) for name in ("x0", "sigma", "eps"))
        per_model = losses_of(params, x0, sigma.to(dtype), eps)  # (k,)
        opt.zero_grad(set_to_none=True)
        per_model.sum().backward()  # model k's weights get model k's gradient only
        opt.step()
        schedule.step()
        if ema:
            ema.update(list(params.values()))
        for k, value in enumerate(per_model.tolist()):
            losses[k].append(value)
            if not math.isfinite(value):
                raise FloatingPointError(f"DSM loss of model {k} (seed {seeds[k]}) became {value} at step "
                                         f"{len(losses[k])}; lower lr (now {cfg.lr})")
        bar.set_postfix(loss=f"{sum(per_model.tolist()) / len(models):.4g}", refresh=False)
    wall_s = (time.perf_counter() - start) / len(models)
    if ema:
        ema.copy_to(list(params.values()))
    with torch.no_grad():
        for k, model in enumerate(models):
            for name, param in model.named_parameters():
                param.copy_(params[f"model.{name}"][k])
            model.eval()
    return [TrainResult(m, ls, c, data.config, wall_s, meta={"stacked_models": len(models)})
            for m, ls, c in zip(models, losses, configs)]


@runtime_checkable
class ExactScoreSource(DataSource, Protocol):
    """A data source that also knows its exact clean score ``score(sample)``, shaped like the sample's
    field (an FDLF teacher, the hard-valid teacher)."""

    def score(self, x): ...


def fit_exact_score(data: ExactScoreSource, model: nn.Module, cfg: TrainConfig, progress: bool = True) -> TrainResult:
    """The locality floor: fit ``model(x, cfg.sigma_min)`` to the exact clean score by regression.

    Not denoising score matching: it needs the exact score, which only a white-box teacher has, and it
    shows what a model of this architecture (this receptive radius) can reach at all, separating "the
    receptive field is too small" from "training did not get there". Each step draws ``cfg.batch_size``
    fresh samples at ``cfg.L`` (seeded by ``cfg.seed``) and takes an Adam step on the relative squared
    error ``sum (s_theta - s_0)^2 / sum s_0^2`` (the square of Eq. 16 on the batch), with the learning rate
    decaying from ``cfg.lr`` to 0 on a cosine over ``cfg.steps``. ``cfg.sigma_max`` and the DSM recipe
    fields (weighting, antithetic pairs, schedule, EMA) are not used; ``cfg.autocast`` is (the forward in
    bfloat16). Trains in place; the losses are the batch relative squared errors.
    """
    check_data_source(data)
    if not isinstance(data, ExactScoreSource):
        raise TypeError(f"data must have an exact score(x) (e.g. fdlf_core.teachers.Teacher); got {type(data).__name__}")
    cfg = _check_train_config(cfg)
    _check_model(model, cfg)
    gen = torch.Generator().manual_seed(cfg.seed)
    dtype, device = model_dtype(model), model_device(model)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    schedule = torch.optim.lr_scheduler.LambdaLR(opt, _lr_factor(_fit_schedule(cfg, "exact_score")))
    losses = []
    model.train()
    start = time.perf_counter()
    bar = progress_bar(cfg.steps, f"exact-score fit L={cfg.L}", progress)
    for step in bar:
        sample = data.sample(cfg.batch_size, cfg.L, generator=gen)
        x, mask, condition = _split_sample(sample, cfg.batch_size, cfg.L)
        if step == 0:
            _check_call(model, condition)
        target = data.score(sample).to(device, dtype)
        with _autocast(cfg, device):
            out = model(x.to(device, dtype), cfg.sigma_min, **{k: v.to(device) for k, v in condition.items()})
        if mask is not None:  # the score exists on the masked coordinates only (the target is 0 elsewhere)
            out = out * mask.to(device)
        loss = ((out - target) ** 2).sum() / (target ** 2).sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        schedule.step()
        losses.append(loss.item())
        if not math.isfinite(losses[-1]):
            raise FloatingPointError(f"exact-score fit loss became {losses[-1]} at step {len(losses)}; lower lr "
                                     f"(now {cfg.lr})")
        bar.set_postfix(loss=f"{losses[-1]:.4f}", refresh=False)
    model.eval()
    return TrainResult(model, losses, cfg, data.config, time.perf_counter() - start, meta={"kind": "exact_score_fit"})


def save_checkpoint(path: str | Path, result: TrainResult) -> Path:
    """Write ``result`` atomically: weights, model/train/data configs (with their registered class names),
    losses and provenance.

    Only tensors and JSON-like values are stored, so ``load_checkpoint`` can use ``weights_only=True``.
    """
    model_class = registry.name_of(result.model)
    data_class = registry.name_of(result.data_config)
    payload = {
        "format": CHECKPOINT_FORMAT,
        "model_class": model_class["name"],
        "model_module": model_class["module"],
        "model_config": dataclasses.asdict(result.model.config),
        "state_dict": {k: v.cpu() for k, v in result.model.state_dict().items()},  # loads on any machine
        "train_config": dataclasses.asdict(result.config),
        "teacher_config": dataclasses.asdict(result.data_config),  # key kept from before other data sources
        "teacher_class": data_class["name"],
        "teacher_module": data_class["module"],
        "losses": [float(v) for v in result.losses],
        "wall_s": float(result.wall_s),
        "provenance": provenance(),
    }
    return atomic_write(path, lambda f: torch.save(payload, f))


def load_checkpoint(path: str | Path) -> TrainResult:
    """Load a checkpoint written by ``save_checkpoint`` (``weights_only=True``; foreign files rejected).

    The model and data-config classes are found by name through ``registry``.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike naming a checkpoint file; got {type(path).__name__}")
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"path must be a checkpoint file, not a directory: {path}")
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    payload = read_tagged(path, CHECKPOINT_FORMAT, "checkpoint")
    try:
        model_cls = registry.resolve("model", payload["model_class"], payload.get("model_module"))
        data_cls = registry.resolve("data_config", payload.get("teacher_class", "TeacherConfig"),  # absent: before Ising
                                    payload.get("teacher_module"))
        model = model_cls.from_config(payload["model_config"])
        model.load_state_dict(payload["state_dict"])
        result = TrainResult(model, payload["losses"], TrainConfig(**payload["train_config"]),
                             data_cls(**payload["teacher_config"]), payload["wall_s"],
                             meta={"provenance": payload["provenance"], "path": str(path)})
    except (KeyError, TypeError, ValueError, RuntimeError, ImportError) as exc:  # right format tag, damaged content
        raise ValueError(f"{path} is a damaged fdlf checkpoint ({type(exc).__name__}: {exc})") from None
    model.eval()
    return result
