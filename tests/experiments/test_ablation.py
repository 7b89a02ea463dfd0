"""experiments.ablation: recipes x configs x seeds, ids from the configs, rows and summary keyed by recipe."""
import dataclasses

import pytest

from fdlf_core import experiments as ex
from fdlf_core import runner
from fdlf_core.experiments.ablation import ABLATION, RECIPES, AblationRun
from fdlf_core.experiments.fdlf2d import FIG2, SweepBudget, sweep_run
from fdlf_core.training import RECIPE_DEFAULTS, TrainConfig


def test_the_ablation_is_fig2s_models_under_each_recipe():
    assert ex.EXPERIMENTS["ablation"] is ABLATION and ABLATION.recipes is RECIPES
    assert ABLATION.configs == (("simple_local", 1), ("medium_range", 1), ("medium_range", 3), ("medium_range", 6))
    assert (ABLATION.train_L, ABLATION.eval_sizes) == (FIG2.train_L, FIG2.eval_sizes)
    paper = ABLATION.profiles["paper"]
    assert (paper.steps, paper.batch_size, paper.lr, paper.sigma_min, paper.sigma_max, paper.seeds) == \
        (1500, 8, 5e-4, 0.005, 1.0, (0, 1, 2))
    assert RECIPES["original (sigma^2 weight)"] == {}  # the recipe the first rows change by one step
    assert (paper.width, paper.recipe, paper.model_options) == (32, (), ())
    for fields in RECIPES.values():
        budget = dataclasses.replace(paper, **fields)  # every recipe is a valid budget and config
        assert set(dict(budget.recipe)) <= set(RECIPE_DEFAULTS) and set(fields) <= {"recipe", "width", "model_options"}
        budget.train_config(32, 0)
    fdlf = [s for s in ex.expand("ablation", "paper")
            if s.recipe.startswith("fdlf: ") and (s.family, s.blocks, s.seed) == ("medium_range", 3, 0)][0]
    fig2 = [s for s in ex.expand("fig2", "paper") if (s.family, s.blocks, s.seed) == ("medium_range", 3, 0)][0]
    assert (fdlf.model, fdlf.train) == (fig2.model, fig2.train)  # fdlf's row is Fig. 2's model and recipe
    specs = ex.expand("ablation", "paper")
    assert len(specs) == len(RECIPES) * 4 * 3 and all(isinstance(s, AblationRun) for s in specs)
    assert len({s.run_id for s in specs}) == len(specs) and len({s.train_id for s in specs}) == len(specs)
    first = [s for s in specs if s.recipe == "Eq. 3 + antithetic"][0]
    assert (first.train["weight_power"], first.train["antithetic"], first.family, first.blocks) == \
        (0.0, True, "simple_local", 1)
    assert [s.family for s in ex.expand("ablation", "paper", families=["simple_local"])] == ["simple_local"] * \
        (len(RECIPES) * 3)


def test_the_original_recipe_has_the_id_of_the_same_run_before_recipes_existed():
    # the original recipe's run is the Fig. 2 run as it was first defined: same configs, same cache key
    old_fig2 = SweepBudget(steps=1500, batch_size=8, eval_n=4, response_n=4, seeds=(0, 1, 2))
    original = [s for s in ex.expand("ablation", "paper") if s.recipe == "original (sigma^2 weight)"][0]
    old = sweep_run("simple_local", 1, 32, old_fig2, 0, FIG2.eval_sizes)
    assert (original.train, original.model, original.train_id) == (old.train, old.model, old.train_id)
    assert old_fig2.train_config(32, 0) == TrainConfig(**original.train)


def test_runs_and_summary_carry_the_recipe(tmp_path, monkeypatch):
    tiny = dataclasses.replace(ABLATION, configs=(("simple_local", 1),), train_L=8, eval_sizes=(8,),
                               recipes={k: RECIPES[k] for k in ("original (sigma^2 weight)", "Eq. 3 + antithetic")},
                               profiles={"quick": SweepBudget(steps=2, batch_size=2, eval_n=1, response_n=1, seeds=(0, 1),
                                                              width=4), "paper": ABLATION.profiles["paper"]})
    monkeypatch.setitem(ex.EXPERIMENTS, "ablation", tiny)
    result = ex.run_experiment("ablation", "quick", out=tmp_path, progress=False)
    assert {r["recipe"] for r in result.rows} == set(tiny.recipes) and len(result.rows) == 4
    assert [(r["recipe"], r["n_seeds"]) for r in result.summary] == [(k, 2) for k in tiny.recipes]
    assert ex.read_summary(tmp_path / "ablation" / "quick" / "summary.csv", "ablation")[0]["recipe"] == \
        "original (sigma^2 weight)"
    manifest = (tmp_path / "ablation" / "quick" / "manifest.json").read_text()
    assert '"recipe": "Eq. 3 + antithetic"' in manifest
    with pytest.raises(TypeError):
        AblationRun(*dataclasses.astuple(ex.expand("fig2", "quick")[0]))  # a recipe name is required
    assert runner.read_runs(tmp_path / "ablation" / "quick" / "runs.jsonl")[0]["train"]["weight_power"] in (0.0, 2.0)
