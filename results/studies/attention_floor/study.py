"""Is the sliding-attention model's flat medium_range curve in Fig. 2 its training or its architecture?
(issue 18, item 3)

With the attention model, Fig. 2's medium_range RMSE barely falls from R_eff 4 to 14 (seed 0: 0.375 / 0.372 /
0.348), where the CNN's falls 43 %. Two causes would look alike: DSM at Fig. 2's budget does not get the
deeper attention models there, or the model (width 32, 4 heads, window 2) cannot use its larger radius.
Fitting the exact clean score separates them, as the locality floor does for the CNN: the same models
(`LocalAttention`, window 2, 2 / 4 / 7 layers, width 32, 4 heads), the same data (train L=32, score RMSE at
L=64 on 8 fresh samples, evaluation seed 10000), regressed onto the teacher's exact score at
- `dsm-budget`: Fig. 2's DSM budget (1500 steps, batch 8, peak learning rate 5e-4, cosine decay), and
- `floor`: the CNN floor's budget (3000 steps, peak learning rate 1e-3).
If the fit falls with R_eff like the CNN's floor (0.25 / 0.11 / 0.05), the architecture can use its radius
and DSM's budget is what holds it back; if it stays flat, the model cannot. Those two profiles use the model
as it was then (position bias unscaled, `position_scale=1`); `floor-scaled` refits at the floor budget with
the position bias scaled by 10, the default since this study found Adam left the attention nearly uniform;
`dsm-budget-scaled` refits the scaled model at DSM's budget, to separate DSM's objective from its budget.

    python results/studies/attention_floor/study.py [--jobs 1] [--profiles dsm-budget floor floor-scaled dsm-budget-scaled]
    python results/studies/attention_floor/study.py --weights

Results go to results/studies/attention_floor/runs/<profile>/ through the reproduction's runner
(resumable, with the configuration, seed, package versions and git revision in every row and manifest).
"""
import argparse
import dataclasses
from pathlib import Path

import torch

from fdlf_core import runner, training
from fdlf_core.experiments.fdlf2d import FIG2_ATTENTION, FLOOR

HERE = Path(__file__).resolve().parent
DSM = dataclasses.replace(FIG2_ATTENTION.profiles["paper"], seeds=(0,), eval_n=FLOOR.profiles["paper"].eval_n)
FLOOR_BUDGET = dataclasses.replace(DSM, steps=FLOOR.profiles["paper"].steps, lr=FLOOR.profiles["paper"].lr)
UNSCALED = (("position_scale", 1.0),)  # the model as it was before position_scale (LATER_DEFAULTS)
PROFILES = {"dsm-budget": dataclasses.replace(DSM, model_options=UNSCALED),
            "floor": dataclasses.replace(FLOOR_BUDGET, model_options=UNSCALED),
            "floor-scaled": FLOOR_BUDGET,  # LocalAttention's default position_scale (10)
            "dsm-budget-scaled": DSM}
FAMILIES = ("medium_range",)


def attention_weights() -> None:
    """How far each trained model's position bias moved, and how peaked that leaves its attention: per
    checkpoint of this study (exact-score fits, cosine learning rate) and of Fig. 2 with attention (DSM,
    constant), the largest spread (max - min over the window) of a head's bias in logits, against about the
    most Adam lets it travel (2 x position_scale x the summed learning rates: a step moves a parameter by
    at most about its learning rate), and the largest weight and lowest entropy of any head's position-only
    attention (uniform over the 5 x 5 window: 0.04 and ln 25 = 3.22)."""
    print("| checkpoints | layers | position_scale | steps | seed | bias spread (max head) | Adam's travel | "
          "largest weight | lowest entropy |")
    print("|---|---|---|---|---|---|---|---|---|")
    fig2 = HERE.parents[1] / "fig2_attention" / "paper" / "checkpoints"
    for directory, fit in [*((HERE / "runs" / p / "checkpoints", "exact_score") for p in PROFILES), (fig2, "dsm")]:
        results = [training.load_checkpoint(path) for path in sorted(directory.glob("*.pt"))]
        for result in sorted((r for r in results if r.data_config.family in FAMILIES),
                             key=lambda r: (r.model.config.position_scale, r.model.config.layers, r.config.seed)):
            model, cfg = result.model, result.config
            travel = 2 * model.config.position_scale * sum(training.learning_rates(cfg, fit))
            bias = model.config.position_scale * model.position_bias.detach()[..., 0]  # (layers, heads, K)
            weights = torch.softmax(bias, -1)
            entropy = -(weights * weights.log()).sum(-1)
            spread = (bias.max(-1).values - bias.min(-1).values).max()
            print(f"| {directory.relative_to(HERE.parents[1])} | {model.config.layers} | "
                  f"{model.config.position_scale:g} | {cfg.steps} | {cfg.seed} | {spread:.2f} | {travel:.2f} | "
                  f"{weights.max():.3f} | {entropy.min():.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--profiles", nargs="+", choices=sorted(PROFILES), default=list(PROFILES))
    parser.add_argument("--weights", action="store_true",
                        help="print the trained models' position-bias spread and attention peakedness instead")
    args = parser.parse_args()
    if args.weights:
        attention_weights()
        return
    exp = dataclasses.replace(FIG2_ATTENTION, name="attention_floor", fit="exact_score", families=FAMILIES,
                              profiles=PROFILES)
    for profile in args.profiles:
        specs = exp.expand(profile, FAMILIES)
        runner.run_specs(exp, profile, specs, {s.run_id for s in specs}, HERE / "runs" / profile, jobs=args.jobs,
                         progress=False, log=print)


if __name__ == "__main__":
    main()
