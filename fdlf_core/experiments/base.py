"""The shapes every experiment shares: a profile's ``Budget``, a ``RunSpec`` and the ``Experiment`` protocol.

A run spec is one independent training run and its evaluations: a frozen dataclass whose fields are
JSON-ready and hashed into ``run_id`` (everything that determines its numbers) and ``train_id`` (what
determines the trained model, keying the checkpoint cache). ``runner.execute_run`` trains or loads the
model a spec describes and lets the spec evaluate it; an experiment expands a profile into specs and
summarises their rows. Experiments extend these classes; the runner knows nothing else about them.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Protocol

from ..models import LocalCNN, id_fields as model_id_fields
from ..provenance import config_hash
from ..training import DataSource, TrainConfig, TrainResult, id_fields

EVAL_SEED_OFFSET = 10_000  # evaluation draws from seed + offset: disjoint from the training stream


@dataclass(frozen=True, kw_only=True)
class Budget:
    """How much work one profile spends on each run; experiments extend it with their own fields."""

    steps: int                  # DSM steps
    batch_size: int             # training samples per step
    seeds: tuple[int, ...]      # training seeds; each is one independent run per configuration
    lr: float = 5e-4
    sigma_min: float = 0.005
    sigma_max: float = 1.0
    width: int = 32             # CNN channels (the paper does not give it)
    recipe: tuple[tuple[str, object], ...] = ()  # TrainConfig recipe fields that differ from RECIPE_DEFAULTS
    # model config fields the experiment does not set itself (LocalCNN: zero_init, linear_path;
    # LocalAttention: zero_init, position_scale)
    model_options: tuple[tuple[str, object], ...] = ()

    def train_config(self, L: int, seed: int) -> TrainConfig:
        """The DSM settings of one run of this budget at training size ``L``."""
        return TrainConfig(L, self.steps, self.batch_size, self.lr, self.sigma_min, self.sigma_max, seed,
                           **dict(self.recipe))


@dataclass(frozen=True)
class RunSpec:
    """One independent training run; subclasses add their evaluation settings and the three methods.

    ``teacher``: the data source's config (a dict), ``model``: the ``LocalCNNConfig`` dict, ``train``: the
    ``TrainConfig`` dict. ``experiment`` and ``profile`` label the run but do not enter its ids.
    """

    experiment: str
    profile: str
    family: str
    seed: int
    teacher: dict
    model: dict
    train: dict

    LABELS: ClassVar[tuple[str, ...]] = ("experiment", "profile")
    # fields added after results were committed: at their (dataclass) default they stay out of ``run_id``,
    # so the rows of every run that does not use them keep their ids
    LATER_FIELDS: ClassVar[tuple[str, ...]] = ()
    # how the model is fitted: "dsm" (denoising score matching, ``training.train_dsm``) or "exact_score"
    # (the locality floor, ``training.fit_exact_score``); see ``runner.train_or_load``
    FIT: ClassVar[str] = "dsm"
    LATTICE_DIM: ClassVar[int] = 2  # the lattice's dimension (``cost``)

    def _teacher_key(self) -> dict:
        # the data config as ids hash it; a spec whose config gained fields strips them at their old values
        return self.teacher

    def _fit_key(self) -> dict:
        # a non-DSM fit enters the ids, so it never shares a checkpoint or a row with the DSM run of the
        # same configs; DSM runs keep the ids they had before there were other kinds
        return {} if self.FIT == "dsm" else {"fit": self.FIT}

    @property
    def run_id(self) -> str:
        """Hash of what determines the numbers (not the labels): keys result rows."""
        later = {f.name: f.default for f in dataclasses.fields(self) if f.name in self.LATER_FIELDS}
        content = {k: v for k, v in dataclasses.asdict(self).items()
                   if k not in self.LABELS and not (k in later and v == later[k])}
        return config_hash({**content, "teacher": self._teacher_key(), "model": model_id_fields(self.model),
                            "train": id_fields(self.train), **self._fit_key()})

    @property
    def train_id(self) -> str:
        """Hash of what determines the trained model only: keys the checkpoint cache, so changing an
        evaluation setting re-evaluates without retraining."""
        return config_hash({"teacher": self._teacher_key(), "model": model_id_fields(self.model),
                            "train": id_fields(self.train),
                            **self._fit_key()})

    def build_model(self) -> LocalCNN:
        """The untrained model of this run (its config carries its initialisation seed)."""
        return LocalCNN.from_config(self.model)

    @property
    def cost(self) -> float:
        """The training work, up to a constant: parameters x sites x samples seen (a convolutional or
        sliding-window model applies each parameter once per site and sample; an antithetic recipe sees each
        sample twice). Only its order is used: within a seed a pool takes the largest runs first, so its
        workers finish together (``runner``)."""
        params = sum(p.numel() for p in self.build_model().parameters())
        samples = self.train["steps"] * self.train["batch_size"] * (2 if self.train.get("antithetic") else 1)
        return float(params) * self.train["L"] ** self.LATTICE_DIM * samples

    def train_config(self) -> TrainConfig:
        return TrainConfig(**self.train)

    # --- what each experiment's spec provides
    @property
    def label(self) -> str:
        """A short human description for logs."""
        raise NotImplementedError

    def describe(self) -> dict:
        """The run's manifest entry (the settings a reader scans for)."""
        raise NotImplementedError

    def data_source(self, cache_dir: Path, progress: bool) -> DataSource:
        """The data source trained on (and evaluated against); may cache data under ``cache_dir``."""
        raise NotImplementedError

    def evaluate(self, data: DataSource, result: TrainResult) -> list[dict]:
        """Rows of measurements of the trained model; each needs an ``"L"`` key (its evaluation size)."""
        raise NotImplementedError


class BlocksRun:
    """What a run spec of a residual-block model (``model["blocks"]``) adds to ``RunSpec``: ``blocks``,
    ``R_eff`` (from its ``MODEL_CONFIG`` class), the log label and the manifest entry. Listed before
    ``RunSpec`` among the bases."""

    MODEL_CONFIG: ClassVar[type]

    @property
    def blocks(self) -> int:
        return self.model["blocks"]

    @property
    def R_eff(self) -> int:
        return self.MODEL_CONFIG(**self.model).receptive_radius

    @property
    def label(self) -> str:
        return f"{self.family}, B={self.blocks}, seed {self.seed}"

    def describe(self) -> dict:
        return {"family": self.family, "blocks": self.blocks, "R_eff": self.R_eff, "seed": self.seed}


class Experiment(Protocol):
    """What ``experiments.run_experiment`` and the runner need of an experiment.

    ``summary_schema`` maps each ``summary.csv`` column to its type (``str``, ``int`` or ``float``), in order.
    ``notebook``: the figure notebook under ``notebooks/`` that ``fdlf reproduce`` executes.
    """

    name: str
    title: str
    notebook: str
    families: tuple[str, ...]
    profiles: Mapping[str, Budget]
    summary_schema: Mapping[str, type]

    def expand(self, profile: str, families: Iterable[str] | None = None) -> list[RunSpec]: ...

    def summarize(self, rows: Iterable[dict]) -> list[dict]: ...
