"""The hard-valid mixed discrete-continuous 3D teacher (paper Section 4.2, Appendix B.1): ports ``b``, type
labels ``a`` and continuous coordinates ``c`` on the open cubic lattice, with exact ``log p(b, a, c)``, the
exact clean score ``d log p(c | b, a) / d c`` on occupied sites and its Jacobian rows.

Families differ only in the range dials of the continuous smoother (as in 2D, ``teachers.FAMILIES``); every
other setting is the paper's (Table 2, "Figure 3" rows). Every random table comes from ``seed``; no depth,
cutoff or radius depends on ``L``.
"""
from __future__ import annotations

import dataclasses

import torch

from .. import lattice, registry
from ..diagnostics import FAR_BAND, NEAR_BAND
from . import continuous, labels, ports


@registry.data_config
@dataclasses.dataclass(frozen=True)
class HardValidConfig:
    """Everything that defines a hard-valid teacher."""

    family: str
    seed: int = 0
    K: int = 4                   # occupied type labels 1..K
    type_depth: int = 2          # layers of the blockwise-permutation type flow
    d_c: int = 2                 # continuous coordinates per occupied site
    embed: int = 16              # embedding width of motifs and labels in the coupling conditioner
    hidden: int = 64             # conditioner hidden channels
    flow_depth: int = 4          # conditional affine couplings (alternating parity)
    scale_clip: float = 1.5
    smoother_depth: int = 0      # smoother pairs over occupied sites (the range dial)
    cutoff: int = 1
    power: float = -1.0
    strength: float = 0.5
    nonlinear: bool = True


FAMILIES: dict[str, HardValidConfig] = {
    "hv_local": HardValidConfig("hv_local", smoother_depth=0),
    "hv_medium": HardValidConfig("hv_medium", smoother_depth=1, cutoff=3, power=-1.0, strength=0.6),
    # strength 10: the smoother's weights are normalised over its whole ball (the same rule at every L), so at
    # the 2D families' strengths (< 1) the far sites hold ~0.5 % of a Jacobian row's squared mass and a radius-4
    # model loses nothing measurable in RMSE; at 10 the Jacobian rows' squared mass beyond distance 4 is
    # 0 / 19 / 47 % at L = 8 / 12 / 24 (probe at the centre), so the score itself reaches past R_eff = 4
    "hv_long": HardValidConfig("hv_long", smoother_depth=2, cutoff=6, power=-0.5, strength=10.0),
}


@dataclasses.dataclass(frozen=True)
class State:
    """A mixed configuration: ports ``b`` and labels ``a`` ``(n, L, L, L)`` int64, ``c (n, d_c, L, L, L)``.

    A ``training.ConditionedSample``: DSM noises ``field`` (= ``c``) on the occupied sites (``mask``) and
    conditions the model on ``b`` and ``a``.
    """

    b: torch.Tensor
    a: torch.Tensor
    c: torch.Tensor

    @property
    def L(self) -> int:
        return self.b.shape[-1]

    def occupied(self) -> torch.Tensor:
        return ports.occupied(self.b)

    @property
    def field(self) -> torch.Tensor:
        return self.c

    @property
    def mask(self) -> torch.Tensor:
        """``(n, 1, L, L, L)`` bool: where ``c`` exists."""
        return self.occupied()[:, None]

    def condition(self) -> dict[str, torch.Tensor]:
        return {"b": self.b, "a": self.a}

    def __getitem__(self, index) -> "State":
        """The configurations ``index`` (an int keeps the batch dimension)."""
        index = slice(index, index + 1 or None) if isinstance(index, int) else index
        return State(self.b[index], self.a[index], self.c[index])


def make(family: str, seed: int = 0, **overrides) -> "HardValidTeacher":
    """The teacher of ``family`` (``FAMILIES``) with ``seed`` and any field overridden."""
    if family not in FAMILIES:
        raise ValueError(f"family must be one of {list(FAMILIES)}; got {family!r}")
    unknown = sorted(set(overrides) - {f.name for f in dataclasses.fields(HardValidConfig)})
    if unknown:
        raise ValueError(f"unknown HardValidConfig field(s) {unknown}")
    return HardValidTeacher(dataclasses.replace(FAMILIES[family], seed=seed, **overrides))


class HardValidTeacher:
    """Exact sampler, log-density, clean continuous score and score-Jacobian rows of one hard-valid teacher."""

    def __init__(self, config: HardValidConfig):
        if not isinstance(config, HardValidConfig):
            raise TypeError(f"config must be a HardValidConfig; got {type(config).__name__}")
        self.config = config
        seed = lattice.check_int(config.seed, "seed", 0)
        gen = torch.Generator().manual_seed(seed)
        self.port_logits = torch.randn(ports.n_patterns(), generator=gen, dtype=torch.float64)
        # independent streams for the channels, all from the one seed
        self.types = labels.make_type_channel(config.K, config.type_depth, seed=seed * 3 + 1)
        self.continuous = continuous.make_continuous_channel(
            K=config.K, d_c=config.d_c, embed=config.embed, hidden=config.hidden, flow_depth=config.flow_depth,
            scale_clip=config.scale_clip, smoother_depth=config.smoother_depth, cutoff=config.cutoff,
            power=config.power, strength=config.strength, nonlinear=config.nonlinear, seed=seed * 3 + 2)
        self.locality_radius = self.continuous.radius

    def __repr__(self) -> str:
        return f"HardValidTeacher({self.config})"

    def sample(self, n: int, L: int, generator: torch.Generator | None = None) -> State:
        """``n`` exact samples on the ``L^3`` box (``L`` even, >= 2)."""
        n = lattice.check_int(n, "n", 1)
        L = ports.check_L3(L)
        channels = self.config.hidden + labels.N_MOTIFS + self.config.K + self.config.d_c  # conditioner in/out
        lattice.check_memory(n * L ** 3 * channels, 8 * 4,
                             f"{n} hard-valid sample(s) of L={L}", "sites x conditioner channels")
        b = ports.sample_ports(self.port_logits, n, L, generator=generator)
        a = labels.sample_labels(self.types, b, generator=generator)
        with torch.no_grad():
            c = self.continuous.sample(b, a, generator=generator)
        return State(b, a, c)

    def check_state(self, state: State) -> State:
        """``state`` with ports checked (``ValueError`` if not hard-valid), labels against the ports, and
        ``c`` of shape ``(n, d_c, L, L, L)``, finite and zero on empty sites."""
        if not isinstance(state, State):
            raise TypeError(f"state must be a hardvalid.State; got {type(state).__name__}")
        b = ports.check_ports(state.b, "state.b")
        a = labels.check_labels(state.a, b, self.config.K, "state.a")
        c = state.c
        if not isinstance(c, torch.Tensor) or c.shape != (b.shape[0], self.config.d_c, *b.shape[1:]):
            raise ValueError(f"state.c must have shape (n, d_c={self.config.d_c}, L, L, L) = "
                             f"{(b.shape[0], self.config.d_c, *b.shape[1:])}; got {getattr(c, 'shape', None)}")
        c = c.to(torch.float64)
        if not torch.isfinite(c).all():
            raise ValueError("state.c must be finite")
        if (c * (~ports.occupied(b))[:, None]).abs().max() > 0:
            raise ValueError("state.c must be 0 on empty sites (b == 0)")
        return State(b, a, c)

    def log_prob(self, state: State) -> torch.Tensor:
        """Exact ``log p(b, a, c) = log P(b) + log P(a | b) + log p(c | b, a)``, ``(n,)`` float64."""
        s = self.check_state(state)
        return (ports.log_prob_ports(self.port_logits, s.b) + labels.log_prob_labels(self.types, s.a, s.b)
                + self.continuous.log_prob(s.c, s.b, s.a))

    def score(self, state: State) -> torch.Tensor:
        """The exact clean score ``d log p(c | b, a) / d c`` (Eq. 19), zero on empty sites."""
        s = self.check_state(state)
        return self.continuous.score(s.c, s.b, s.a)

    def response(self, state: State, site: tuple[int, int, int], channel: int = 0) -> torch.Tensor:
        """Jacobian row ``d s(c)[channel, site] / d c``, ``(n, d_c, L, L, L)``, for an occupied ``site`` of
        every configuration in ``state``. ``ValueError`` if the site is empty in any of them."""
        s = self.check_state(state)
        site = _check_site3(site, s.L)
        channel = lattice.check_int(channel, "channel", 0, self.config.d_c - 1)
        if not s.occupied()[(slice(None), *site)].all():
            raise ValueError(f"site {site} is empty in some configuration: the score exists only on occupied "
                             f"sites (b != 0)")
        with torch.enable_grad():
            x = s.c.clone().requires_grad_(True)
            (grad,) = torch.autograd.grad(self.continuous.log_prob(x, s.b, s.a).sum(), x, create_graph=True)
            (row,) = torch.autograd.grad(grad[(slice(None), channel, *site)].sum(), x)
        return row * s.occupied()[:, None]


def distance_map3(L: int, site: tuple[int, int, int]) -> torch.Tensor:
    """Chebyshev distance of every site of the open ``L^3`` box to ``site``, ``(L, L, L)`` int64."""
    i = torch.arange(L)
    x, y, z = ((i - v).abs() for v in site)
    return torch.maximum(torch.maximum(x[:, None, None], y[None, :, None]), z[None, None, :])


def central_probe(state: State) -> tuple[int, int, int]:
    """The occupied site nearest the centre (L1 distance) of the first configuration of ``state``; ``ValueError``
    if it has none."""
    sites = state.occupied()[0].nonzero().tolist()
    if not sites:
        raise ValueError(f"the configuration at L={state.L} has no occupied site; use a larger L or another sample")
    return tuple(min(sites, key=lambda q: sum(abs(v - state.L // 2) for v in q)))


def response_magnitude(teacher: HardValidTeacher, state: State, site: tuple[int, int, int]) -> torch.Tensor:
    """``sum_channel |d s[channel, site] / d c|`` of the first configuration of ``state``: how strongly the
    score at ``site`` responds to each coordinate, ``(d_c, L, L, L)``."""
    one = state[0]
    return sum(teacher.response(one, site, ch)[0].abs() for ch in range(teacher.config.d_c))


def far_to_near(teacher: HardValidTeacher, L: int, n: int = 4, seed: int = 0) -> torch.Tensor:
    """The teacher's own far-to-near response ratio (Fig. 3's inset), exact: for ``n`` samples at size ``L``,
    the occupied site nearest the centre as probe (``central_probe``), ``sum |d s_probe / d c_j|`` over ``j``
    in the far band (distance >= ``diagnostics.FAR_BAND[0]``) divided by the same over the near band
    (``diagnostics.NEAR_BAND``), summed over both coordinate channels. Returns ``(n,)``."""
    state = teacher.sample(n, L, generator=torch.Generator().manual_seed(lattice.check_int(seed, "seed", 0)))
    ratios = []
    for k in range(n):
        one = state[k]
        probe = central_probe(one)
        row = response_magnitude(teacher, one, probe).sum(0)
        dist = distance_map3(L, probe)
        near = row[(dist >= NEAR_BAND[0]) & (dist <= NEAR_BAND[1])].sum()
        if near == 0:
            raise ValueError(f"sample {k} at L={L} has no near-band response at its probe {probe} (an isolated "
                             f"site): the ratio is undefined; use another seed or a larger L")
        ratios.append(row[dist >= FAR_BAND[0]].sum() / near)
    return torch.stack(ratios)


def _check_site3(site, L: int) -> tuple[int, int, int]:
    if not isinstance(site, (tuple, list)) or len(site) != 3:
        raise ValueError(f"site must be a (x, y, z) tuple; got {site!r}")
    return tuple(lattice.check_int(v, f"site[{k}]", 0, L - 1) for k, v in enumerate(site))
