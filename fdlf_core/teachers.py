"""Finite-Depth Local Flow (FDLF) teachers with exact density, score and score response.

A teacher is the push-forward ``c = S_R(T_flow(T_pre(z)))``, ``z ~ N(0, I)`` on the periodic ``L x L``
lattice with ``d_c = 1`` (paper Eq. 14-15, Appendix B.2), optionally followed by the exact global mean
stress of the long-range family. ``T_pre`` and ``T_flow`` are stacks of checkerboard affine couplings;
``S_R`` is a stack of additive smoothers. One "depth" unit of any stack is a pair of layers, updating
parity 0 from parity 1 and then parity 1 from parity 0, so every site is touched once per unit.
(The paper does not say how ``T_pre`` and ``T_flow`` differ; here they are built alike, from independent
parameter draws, and kept apart so their depths follow Table 2 and can be dialled separately.)

The four families and their Table 2 construction, plus the literal reading of the long-range stress:

====================  ==============  ======  =====  =====  =====  =========  =============================
code key              smoother depth  cutoff  power  pre    flow   nonlinear  mean stress
====================  ==============  ======  =====  =====  =====  =========  =============================
simple_local          0               --      --     1      1      --         no
complex_local         1               1       -1     1      1      yes        no
medium_range          3               5       -0.75  2      2      yes        no
complex_long          6               8       0      2      2      yes        0.005 L^1.5, L^-1, contracting
complex_long_printed  6               8       0      2      2      yes        0.005 L^1.5, L^-2 (as printed)
====================  ==============  ======  =====  =====  =====  =========  =============================

``complex_long`` departs from the printed formula (normalisation L^-1, the map read data -> latent, smoother
strength 0.4) because the printed one cannot make a local model degrade with L; ``docs/calibration.md`` and
``results/calibration/long_range.md`` show how it was chosen.

The same rule is used at every ``L``; all random parameters come from ``seed`` alone, each coupling
layer from its own stream ``(seed, stack, index)``, so changing one depth leaves the other layers as
they were. Teachers are equivariant under lattice shifts with ``dy + dx`` even (the checkerboard breaks
odd shifts). All computation is float64.
"""
from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from . import lattice, registry
from .flows import AdditiveSmoother, AffineCoupling, Composite, MeanStress
from .provenance import without_defaults


@registry.data_config
@dataclass(frozen=True)
class TeacherConfig:
    """Everything that defines a teacher; round-trips through JSON (``to_json`` / ``from_json``)."""

    family: str                     # code key of the family the defaults came from
    seed: int = 0                   # the only source of the coupling parameters
    pre_depth: int = 1              # coupling pairs in T_pre
    flow_depth: int = 1             # coupling pairs in T_flow
    smoother_depth: int = 0         # smoother pairs in S_R (0: no smoother)
    cutoff: int = 1                 # smoother range, periodic Chebyshev distance
    power: float = 0.0              # smoother weight w(d) proportional to d**power
    nonlinear: bool = False         # smoother applies tanh to the conditioning sites
    smoother_strength: float = 0.5  # total absolute smoother weight per site (calibrated per family, docs/calibration.md)
    gamma_scale: float = 0.0        # mean stress gamma(L) = gamma_scale * L**1.5 (0: off)
    stress_norm_power: float = 2.0  # the mean stress map is x_i + gamma(L) L^-p sum_j x_j (printed: p = 2)
    stress_contract: bool = False   # the map read as data -> latent (mean mode contracted); False: latent -> data
    coupling_strength: float = 0.1   # std of the conditioner output (log-scale and shift); calibrated, docs/calibration.md
    scale_clip: float = 1.5         # bound on the coupling log-scale, s = clip * tanh(raw / clip)
    hidden: int = 8                 # conditioner hidden channels

    # Fields added after run ids existed, with the values every earlier teacher had: ``id_fields`` leaves
    # them out at these values, so the runs of an unchanged teacher keep their ids and checkpoints.
    LATER_DEFAULTS: ClassVar[dict] = {"stress_norm_power": 2.0, "stress_contract": False}

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "TeacherConfig":
        data = json.loads(text)
        unknown = sorted(set(data) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise ValueError(f"unknown TeacherConfig field(s) {unknown}")
        return cls(**data)


FAMILIES: dict[str, TeacherConfig] = {
    "simple_local": TeacherConfig("simple_local", pre_depth=1, flow_depth=1, smoother_depth=0),
    "complex_local": TeacherConfig("complex_local", pre_depth=1, flow_depth=1, smoother_depth=1, cutoff=1,
                                   power=-1.0, nonlinear=True),
    "medium_range": TeacherConfig("medium_range", pre_depth=2, flow_depth=2, smoother_depth=3, cutoff=5,
                                  power=-0.75, nonlinear=True, smoother_strength=0.6),
    # the long-range stress family as calibrated (docs/calibration.md, results/calibration/long_range.md):
    # the printed mean stress map read as data -> latent with normalisation L^-1, and a weaker smoother
    "complex_long": TeacherConfig("complex_long", pre_depth=2, flow_depth=2, smoother_depth=6, cutoff=8,
                                  power=0.0, nonlinear=True, smoother_strength=0.4, gamma_scale=0.005,
                                  stress_norm_power=1.0, stress_contract=True),
    # the literal reading of Table 2's mean stress (x_i <- x_i + gamma(L) L^-2 sum_j x_j, latent -> data),
    # kept beside it: it does not degrade with L (a rank-one map cannot move a relative RMSE)
    "complex_long_printed": TeacherConfig("complex_long_printed", pre_depth=2, flow_depth=2, smoother_depth=6,
                                          cutoff=8, power=0.0, nonlinear=True, smoother_strength=0.75,
                                          gamma_scale=0.005),
}

MAX_CUTOFF = 64       # smoother reach; beyond it the stencil set-up dominates every call
MAX_ABS_POWER = 10.0  # |power| beyond this over/underflows the weights at the cutoff
MAX_SCALE_CLIP = 20.0  # e^20 per coupling layer: far past the paper's 1.5, short of float64 overflow in a stack
_OVERRIDABLE = tuple(f.name for f in dataclasses.fields(TeacherConfig) if f.name not in ("family", "seed"))
_STACK_IDS = {"pre": 0, "flow": 1}


def _check_config(cfg: TeacherConfig) -> TeacherConfig:
    if cfg.family not in FAMILIES:
        raise ValueError(f"family must be one of {sorted(FAMILIES)}; got {cfg.family!r}")
    lattice.check_int(cfg.seed, "seed", 0)
    for name in ("pre_depth", "flow_depth", "smoother_depth"):
        lattice.check_int(getattr(cfg, name), name, 0, lattice.MAX_DEPTH)
    lattice.check_int(cfg.cutoff, "cutoff", 1, MAX_CUTOFF)
    lattice.check_int(cfg.hidden, "hidden", 1, lattice.MAX_WIDTH)
    if abs(lattice.check_finite(cfg.power, "power")) > MAX_ABS_POWER:
        raise ValueError(f"power must lie in [-{MAX_ABS_POWER}, {MAX_ABS_POWER}]; got {cfg.power}")
    if not isinstance(cfg.nonlinear, bool):
        raise TypeError(f"nonlinear must be a bool; got {cfg.nonlinear!r}")
    if not isinstance(cfg.stress_contract, bool):
        raise TypeError(f"stress_contract must be a bool; got {cfg.stress_contract!r}")
    if not 0 <= lattice.check_finite(cfg.stress_norm_power, "stress_norm_power") <= 2:
        raise ValueError(f"stress_norm_power must be a number in [0, 2]; got {cfg.stress_norm_power}")
    for name in ("smoother_strength", "gamma_scale", "coupling_strength"):
        if lattice.check_finite(getattr(cfg, name), name) < 0:
            raise ValueError(f"{name} must be a finite number >= 0; got {getattr(cfg, name)}")
    if not 0 < lattice.check_positive(cfg.scale_clip, "scale_clip") <= MAX_SCALE_CLIP:
        raise ValueError(f"scale_clip must be in (0, {MAX_SCALE_CLIP}] (each coupling may scale a site by up to "
                         f"e^scale_clip); got {cfg.scale_clip}")
    return cfg


def id_fields(config: dict) -> dict:
    """A ``TeacherConfig`` dict as run ids hash it: the ``LATER_DEFAULTS`` fields at those values left out."""
    return without_defaults(config, TeacherConfig.LATER_DEFAULTS)


def _coupling(cfg: TeacherConfig, stack: str, index: int, parity: int) -> AffineCoupling:
    """One coupling layer with parameters from its own random stream ``(seed, stack, index)``."""
    state = np.random.SeedSequence([cfg.seed, _STACK_IDS[stack], index]).generate_state(1, dtype=np.uint64)
    gen = torch.Generator().manual_seed(int(state[0]) & (2 ** 63 - 1))
    h = cfg.hidden
    # Each active site sees 4 passive neighbours through the 3x3 stencil: unit-variance pre-activations.
    w1 = torch.randn(h, 1, 3, 3, generator=gen, dtype=torch.float64) / 2.0
    b1 = torch.zeros(h, dtype=torch.float64)  # odd conditioner: no built-in mean shift
    w2 = torch.randn(2, h, 1, 1, generator=gen, dtype=torch.float64) * cfg.coupling_strength / math.sqrt(h)
    b2 = torch.zeros(2, dtype=torch.float64)
    return AffineCoupling(parity, w1, b1, w2, b2, cfg.scale_clip)


def build_flow(cfg: TeacherConfig) -> Composite:
    """The composed map ``z -> c`` of a (checked) config: T_pre, T_flow, S_R, then the mean stress."""
    layers = []
    for stack, depth in (("pre", cfg.pre_depth), ("flow", cfg.flow_depth)):
        for k in range(2 * depth):
            layers.append(_coupling(cfg, stack, k, parity=k % 2))
    for k in range(2 * cfg.smoother_depth):
        layers.append(AdditiveSmoother(k % 2, cfg.cutoff, cfg.power, cfg.smoother_strength, cfg.nonlinear))
    if cfg.gamma_scale > 0:
        layers.append(MeanStress(cfg.gamma_scale, norm_power=cfg.stress_norm_power, contract=cfg.stress_contract))
    return Composite(layers)


class Teacher:
    """An FDLF teacher: exact sampler, log-density, clean score and score-Jacobian rows.

    Attributes:
        config: the ``TeacherConfig`` it was built from.
        flow: the composed invertible map ``z -> x`` (``forward``, ``inverse``, log-dets; see ``flows``).
        locality_radius: int ``r``, the summed radius of the finite-range layers. The clean score at a site
            depends only on sites within ``2 r`` (paper Prop. 1), except through the global mean mode
            when ``has_global_mode``.
        has_global_mode: whether the mean stress couples all sites.
    """

    def __init__(self, config: TeacherConfig):
        self.config = _check_config(config)
        self.flow = build_flow(self.config)
        self.locality_radius = self.flow.radius
        self.has_global_mode = self.flow.is_global

    def __repr__(self) -> str:
        return f"Teacher({self.config})"

    def sample(self, n: int, L: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` exact samples ``(n, L, L)`` float64 (``generator=None`` draws from torch's global RNG)."""
        n = lattice.check_int(n, "n", 1)
        L = lattice.check_L(L)
        if generator is not None and not isinstance(generator, torch.Generator):
            raise TypeError(f"generator must be a torch.Generator or None; got {type(generator).__name__}")
        self.check_size(n, L, "sample")
        z = torch.randn(n, L, L, generator=generator, dtype=torch.float64)
        with torch.no_grad():
            x = self.flow.forward(z)[0]
        if not bool(torch.isfinite(x).all()):  # extreme overrides (strengths, clip, depth) compound past float64
            raise ValueError(f"the {self.config.family} teacher's flow overflowed float64 on these samples: its "
                             f"strengths, scale_clip or depths are too large for L={L}")
        return x

    def check_size(self, n: int, L: int, kind: str = "score") -> None:
        """``ValueError`` (``lattice.check_memory``) if ``kind`` ("sample", "score" or "response") of ``n``
        fields of size ``L`` would not fit this machine's memory; nothing is allocated."""
        # peak working memory per site, in units of 16 (hidden + 4) bytes: sampling frees each layer's
        # activations (measured 125 B/site on complex_long); a score keeps every layer's for autograd
        # (measured ~700 on simple_local to ~2800 on complex_long); a response row differentiates that graph
        # again (measured 2.5-7 kB/site)
        layers = len(self.flow.layers)
        units = {"sample": 1, "score": layers + 2, "response": 3 * (layers + 2)}[kind]
        lattice.check_memory(n * L * L, 16 * (self.config.hidden + 4) * units,
                             f"{n} field(s) of L={L} for the {self.config.family} teacher's {kind}")

    def _field(self, x, kind: str) -> torch.Tensor:
        """``x`` checked (a finite ``(n, L, L)`` field whose squares fit float64, of a size whose ``kind``
        fits memory), as float64."""
        x = lattice.check_magnitude(lattice.check_field(x).to(torch.float64), torch.float64)
        self.check_size(x.shape[0], x.shape[-1], kind)
        return x

    def _log_prob(self, x: torch.Tensor) -> torch.Tensor:
        z, logdet = self.flow.inverse(x)
        n_sites = x.shape[-1] * x.shape[-2]
        return -0.5 * (z ** 2).sum(dim=(1, 2)) - 0.5 * n_sites * math.log(2 * math.pi) + logdet

    def _score(self, x: torch.Tensor, create_graph: bool = False) -> torch.Tensor:
        with torch.enable_grad():
            if not x.requires_grad:
                x = x.detach().requires_grad_(True)
            return torch.autograd.grad(self._log_prob(x).sum(), x, create_graph=create_graph)[0]

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """Exact ``log p_L(x)`` (Eq. 15): ``x (n, L, L)`` -> ``(n,)`` float64, nats."""
        x = self._field(x, "sample")
        with torch.no_grad():
            return self._log_prob(x)

    def score(self, x: torch.Tensor) -> torch.Tensor:
        """Exact clean score ``grad_x log p_L(x)``: ``x (n, L, L)`` -> ``(n, L, L)`` float64."""
        x = self._field(x, "score")
        return self._score(x).detach()

    def response(self, x: torch.Tensor, site: tuple[int, int]) -> torch.Tensor:
        """One row of the clean-score Jacobian: ``d score(x)[site] / d x``, ``(n, L, L)`` float64.

        Computed exactly by double backward. The clean-score Jacobian is the Hessian of ``log p``, so
        the row is also the column ``d score(x) / d x[site]``.
        """
        x = self._field(x, "response")
        r, c = lattice.check_site(site, x.shape[-1])
        with torch.enable_grad():
            x = x.detach().requires_grad_(True)
            s = self._score(x, create_graph=True)
            return torch.autograd.grad(s[:, r, c].sum(), x)[0].detach()


def make(family: str, seed: int = 0, **overrides) -> Teacher:
    """Build the teacher of ``family`` (a key of ``FAMILIES``) with parameters from ``seed``.

    ``overrides`` replace any ``TeacherConfig`` field but ``family`` and ``seed`` (depths, cutoff, power,
    nonlinear, gamma_scale, strengths, ...), so a teacher's range can be dialled continuously.

    >>> make("simple_local").locality_radius
    4
    """
    if not isinstance(family, str) or family not in FAMILIES:
        raise ValueError(f"family must be one of {sorted(FAMILIES)}; got {family!r}")
    unknown = sorted(set(overrides) - set(_OVERRIDABLE))
    if unknown:
        raise ValueError(f"unknown teacher override(s) {unknown}; allowed: {list(_OVERRIDABLE)}")
    return Teacher(dataclasses.replace(FAMILIES[family], seed=seed, **overrides))
