"""The DSM training ablation (beyond the paper): which recipe ingredients bring DSM to the locality floor.

The paper states the DSM budget (1500 steps, batch 8, sigma in [0.005, 1], peak learning rate 5e-4) and
nothing else. ``ABLATION`` trains Fig. 2's models under named recipes (``RECIPES``: ingredients added to
the original recipe, then removed from fdlf's one at a time; an ingredient is a ``TrainConfig`` field,
the CNN width or a ``LocalCNNConfig`` option) on ``simple_local`` (R_eff 4) and ``medium_range`` (R_eff
4, 8, 14) at L=32, and evaluates them like Fig. 2. Each run is a ``SweepRun`` whose configs carry the
recipe; ``recipe`` names it in the rows.
"""
from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import ClassVar

from .. import stats
from .fdlf2d import FIG2, MODEL_OPTIONS, SweepBudget, SweepRun, sweep_run

# name -> what the run changes from the original recipe (fdlf's first DSM recipe: sigma^2 weight, width 32,
# default initialisation): ``SweepBudget`` fields (``recipe``: TrainConfig fields that differ from
# training.RECIPE_DEFAULTS; ``width``; ``model_options``: LocalCNNConfig fields). "paper Eq. 3" is the loss
# as the paper writes it, |s + eps / sigma|^2 with no sigma^2 weight. The last rows remove one ingredient
# at a time from fdlf's recipe (fdlf2d.PAPER_MODEL).
_EQ3_ANTI = (("weight_power", 0.0), ("antithetic", True))
_W64 = {"width": 64, "model_options": MODEL_OPTIONS}
RECIPES: dict[str, dict] = {
    "original (sigma^2 weight)": {},
    "+ antithetic": {"recipe": (("antithetic", True),)},
    "+ paper Eq. 3 weight": {"recipe": (("weight_power", 0.0),)},
    "+ cosine lr, 5 % warm-up": {"recipe": (("schedule", "cosine"), ("warmup", 0.05))},
    "+ EMA 0.999": {"recipe": (("ema", 0.999),)},
    "Eq. 3 + antithetic": {"recipe": _EQ3_ANTI},
    "Eq. 3 + antithetic + cosine": {"recipe": _EQ3_ANTI + (("schedule", "cosine"), ("warmup", 0.05))},
    "Eq. 3 + antithetic + EMA 0.995": {"recipe": _EQ3_ANTI + (("ema", 0.995),)},
    "Eq. 3 + antithetic + zero-init + linear path": {"recipe": _EQ3_ANTI, "model_options": MODEL_OPTIONS},
    "Eq. 3 + antithetic + width 64": {"recipe": _EQ3_ANTI, "width": 64},
    "fdlf: Eq. 3 + antithetic + width 64 + zero-init + linear path": {"recipe": _EQ3_ANTI, **_W64},
    "fdlf - antithetic": {"recipe": (("weight_power", 0.0),), **_W64},
    "fdlf - Eq. 3 weight": {"recipe": (("antithetic", True),), **_W64},
    "fdlf - linear path": {"recipe": _EQ3_ANTI, "width": 64, "model_options": (("zero_init", True),)},
}
SUMMARY_SCHEMA = {"recipe": str, "family": str, "blocks": int, "R_eff": int, "L": int, "n_seeds": int,
                  "score_rmse_mean": float, "score_rmse_sem": float, "train_wall_s_mean": float}


@dataclass(frozen=True)
class AblationRun(SweepRun):
    """A Fig. 2 run under a named recipe; the name labels the rows (the ids come from the configs)."""

    recipe: str = dataclasses.field(kw_only=True)  # after SweepRun's defaulted fields

    LABELS: ClassVar[tuple[str, ...]] = ("experiment", "profile", "recipe")

    @property
    def label(self) -> str:
        return f"{self.recipe}: {super().label}"

    def describe(self) -> dict:
        return {"recipe": self.recipe, **super().describe()}

    def evaluate(self, teacher, result) -> list[dict]:
        return [{"recipe": self.recipe, **row} for row in super().evaluate(teacher, result)]


@dataclass(frozen=True)
class AblationExperiment:
    """``recipes`` x ``configs`` (family, blocks) x seeds, trained at ``train_L`` like Fig. 2."""

    name: str
    title: str
    notebook: str
    configs: tuple[tuple[str, int], ...]
    recipes: Mapping[str, dict]      # name -> SweepBudget fields that differ from the base budget
    train_L: int
    eval_sizes: tuple[int, ...]
    profiles: Mapping[str, SweepBudget]

    summary_schema = SUMMARY_SCHEMA

    @property
    def families(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(fam for fam, _ in self.configs))

    def expand(self, profile: str, families: Iterable[str] | None = None) -> list[AblationRun]:
        """recipe x config x seed, in that order (``families``: a subset of the configs' families)."""
        budget, keep = self.profiles[profile], set(self.families if families is None else families)
        specs = []
        for recipe, fields in self.recipes.items():
            recipe_budget = dataclasses.replace(budget, **fields)
            for fam, blocks in self.configs:
                if fam not in keep:
                    continue
                for seed in budget.seeds:
                    run = sweep_run(fam, blocks, self.train_L, recipe_budget, seed, self.eval_sizes,
                                    experiment=self.name, profile=profile)
                    specs.append(AblationRun(**dataclasses.asdict(run), recipe=recipe))
        return specs

    @staticmethod
    def summarize(rows: Iterable[dict]) -> list[dict]:
        """One dict per (recipe, family, blocks, L): score RMSE mean and s.e.m. over seeds, mean training time."""
        groups: dict[tuple, list[dict]] = defaultdict(list)
        for r in rows:
            groups[(r["recipe"], r["family"], r["blocks"], r["R_eff"], r["L"])].append(r)
        order = {name: k for k, name in enumerate(RECIPES)}
        out = []
        for (recipe, family, blocks, R_eff, L), rs in sorted(groups.items(), key=lambda kv: (order.get(kv[0][0], 99),
                                                                                          kv[0][1:])):
            rmse = [float(r["score_rmse"]) for r in rs]
            out.append({"recipe": recipe, "family": family, "blocks": blocks, "R_eff": R_eff, "L": L,
                        "n_seeds": len(rs), "score_rmse_mean": stats.mean(rmse), "score_rmse_sem": stats.sem(rmse),
                        "train_wall_s_mean": stats.mean([float(r["train_wall_s"]) for r in rs])})
        return out


ABLATION = AblationExperiment(
    name="ablation", title="DSM recipe ablation: Fig. 2's models at L=32 under one recipe change at a time",
    notebook="06_dsm_ablation.ipynb",
    configs=(("simple_local", 1), ("medium_range", 1), ("medium_range", 3), ("medium_range", 6)),
    recipes=RECIPES, train_L=FIG2.train_L, eval_sizes=FIG2.eval_sizes,
    # the base budget is the original recipe (Fig. 2's budget at width 32, no recipe or model options)
    profiles={"paper": dataclasses.replace(FIG2.profiles["paper"], eval_n=8, width=32, recipe=(), model_options=()),
              "quick": SweepBudget(steps=10, batch_size=2, eval_n=1, response_n=1, seeds=(0,))})
