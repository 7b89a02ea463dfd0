"""The DSM training loop, lever by lever (issue 19, item 3): the loop before and after the changes kept,
and each candidate speed-up measured on the paper profile's model configurations, in one run.

For each configuration (Fig. 1, Fig. 2 at R_eff 4 / 8 / 14, Fig. 4; fdlf's recipe: antithetic pairs,
zero-init, linear path) it prints the median seconds of one whole ``train_dsm`` step (batch draw, loss,
backward, Adam) with:

- ``old``: the loop as it was, with autograd's own backward of the circular pad;
- ``new``: the loop as it is (``flows.circular_pad``, bit-identical numbers);

and, each against the same hand-written step without it, timed back to back: channels-last weights (the
circular pad hands the convolutions NCHW activations); ``torch.compile`` (inductor) of the model's score,
with the seconds its first step takes (the compile); the antithetic pair as one batch of 2n instead of two
forward passes; bfloat16 autocast of the forward (``TrainConfig.autocast="bf16"``, which changes the
numbers); and the share of the step that drawing the teacher batch takes. The
achieved GFLOP/s count every convolution's multiply-adds x 2, forward + backward (3x the forward), both
passes of the antithetic pair, against two ceilings measured in the same run: a 2048^3 fp32 matmul and a
single 64 -> 64 3x3 convolution forward at L = 32, batch 8 (oneDNN). The last line weighs the old / new
ratio by the paper profile's runs (steps x configuration) of Fig. 1, Fig. 2 and Fig. 4.

    python benchmarks/bench_loop.py [--threads 1] [--quick]

One thread is what each worker of ``fdlf reproduce --jobs 2`` gets on a 2-core machine.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from bench_core import conv_train_flops, matmul_gflops, median_s, print_header
from fdlf_core import flows, models, teachers
from fdlf_core.experiments.fdlf2d import FIG1, FIG2
from fdlf_core.experiments.ising_critical import FIG4
from fdlf_core.models import LocalCNN
from fdlf_core.training import TrainConfig, _draw_batch, _dsm_residual, train_dsm

# (label, L, batch, blocks, out_kernel, width, the configuration's training steps in the paper profile:
# runs x steps per run; 3 seeds, Fig. 2 per family, Fig. 4 per beta): the paper profile's LocalCNNs
CONFIGS = [("Fig. 1 R4 (L16 b16 w64)", 16, 16, 1, 3, 64, 9 * FIG1.profiles["paper"].steps),
           ("Fig. 2 R4 (L32 b8 w64)", 32, 8, 1, 3, 64, 9 * FIG2.profiles["paper"].steps),
           ("Fig. 2 R8 (L32 b8 w64)", 32, 8, 3, 3, 64, 9 * FIG2.profiles["paper"].steps),
           ("Fig. 2 R14 (L32 b8 w64)", 32, 8, 6, 3, 64, 9 * FIG2.profiles["paper"].steps),
           ("Fig. 4 R5 (L32 b16 w32)", 32, 16, 2, 1, 32, 18 * FIG4.profiles["paper"].steps)]
RECIPE = dict(weight_power=0.0, antithetic=True)
MODEL = dict(zero_init=True, linear_path=True)


def conv_gflops(min_run_time: float) -> float:
    x, w = torch.randn(8, 64, 34, 34), torch.randn(64, 64, 3, 3)
    return 2 * 64 * 64 * 9 * 32 * 32 * 8 / median_s(lambda: F.conv2d(x, w), min_run_time) / 1e9


def autograd_pad(x: torch.Tensor, p: int) -> torch.Tensor:
    """The pad before: torch's circular pad, whose backward autograd builds from its slices."""
    return F.pad(x, (p, p, p, p), mode="circular") if p else x


def whole_step_s(teacher, L, batch, blocks, out_kernel, width, min_run_time, steps=4) -> float:
    cfg = TrainConfig(L, steps, batch, **RECIPE)
    model = LocalCNN(blocks, width, out_kernel=out_kernel, **MODEL)
    return median_s(lambda: train_dsm(teacher, model, cfg, progress=False), min_run_time) / steps


def old_step_s(shape) -> float:
    """``whole_step_s`` with the pad before (both modules that call it patched for the measurement)."""
    kept = flows.circular_pad
    flows.circular_pad = models.circular_pad = autograd_pad
    try:
        return whole_step_s(*shape)
    finally:
        flows.circular_pad = models.circular_pad = kept


def lever_step(teacher, L, batch, blocks, out_kernel, width, variant):
    """A hand-written DSM step (fixed batch, fdlf's loss, Adam) with one lever applied: ``"reference"``
    (none), ``"channels_last"`` (the model's weights; the circular pad hands the convolutions NCHW
    activations, so they reorder), ``"compile"`` (``torch.compile`` of the model's score), ``"one_batch"``
    (the antithetic pair as one batch of 2n) or ``"bf16"`` (the loss's forward under bfloat16 autocast)."""
    cfg = TrainConfig(L, 4, batch, **RECIPE)
    model = LocalCNN(blocks, width, out_kernel=out_kernel, **MODEL)
    b = _draw_batch(teacher, cfg, torch.Generator().manual_seed(0), torch.float32)
    sigma = b.sigma.float()
    score = model.score
    if variant == "channels_last":
        model = model.to(memory_format=torch.channels_last)
    elif variant == "compile":
        score = torch.compile(model.score, dynamic=False)
    opt = torch.optim.Adam(model.parameters(), lr=5e-4)

    def loss():
        if variant != "one_batch":
            return _dsm_residual(score, b.x0, sigma, b.eps, RECIPE["weight_power"], RECIPE["antithetic"]).mean()
        n, sig = b.x0.shape[0], sigma[:, None, None]
        s = score(torch.cat([b.x0 + sig * b.eps, b.x0 - sig * b.eps]), torch.cat([sigma, sigma]))
        r = torch.cat([sig * s[:n] + b.eps, sig * s[n:] - b.eps])
        return ((r ** 2).mean(dim=(1, 2)) / torch.cat([sig, sig]).flatten() ** 2).mean()

    def step():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=variant == "bf16"):
            value = loss()
        opt.zero_grad(set_to_none=True)
        value.backward()
        opt.step()
    return step


def lever_speedup(shape, variant, min_run_time, rounds=3) -> tuple[float, float]:
    """(median over ``rounds`` of reference s / lever s, each pair timed back to back; seconds of the
    lever's first step, which for ``compile`` is the compile)."""
    reference, lever = (lever_step(*shape, v) for v in ("reference", variant))
    start = time.perf_counter()
    lever()
    first = time.perf_counter() - start
    ratios = [median_s(reference, min_run_time) / median_s(lever, min_run_time) for _ in range(rounds)]
    return statistics.median(ratios), first


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="shorter timing windows")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    t_min = 0.3 if args.quick else 1.5
    print_header("training-loop benchmark", args.threads)
    peak, conv_peak = matmul_gflops(t_min), conv_gflops(t_min)
    print(f"ceilings: fp32 matmul 2048^3 {peak:.1f} GFLOP/s; one 64->64 3x3 conv (L32 b8) {conv_peak:.1f} GFLOP/s")
    teacher = teachers.make("medium_range")
    print(f"\n{'configuration':<26} {'old ms':>7} {'new ms':>7} {'old/new':>7} {'GFLOP/s':>8} {'/matmul':>7} "
          f"{'/conv':>6} {'ch-last':>7} {'compile':>7} {'(1st s)':>7} {'1 batch':>7} {'bf16':>5} {'draw':>5}")
    weighted = {"old": 0.0, "new": 0.0}
    for label, L, batch, blocks, out_kernel, width, paper_steps in CONFIGS:
        shape = (teacher, L, batch, blocks, out_kernel, width, t_min)
        pairs = [(whole_step_s(*shape), old_step_s(shape)) for _ in range(3)]  # back to back
        new, old = (statistics.median(p[i] for p in pairs) for i in (0, 1))
        old_over_new = statistics.median(o / n for n, o in pairs)
        model = LocalCNN(blocks, width, out_kernel=out_kernel, **MODEL)
        gflops = conv_train_flops(model, L, batch, RECIPE["antithetic"]) / new / 1e9
        lever_shape = shape[:-1]
        cl, _ = lever_speedup(lever_shape, "channels_last", t_min)
        compiled, first = lever_speedup(lever_shape, "compile", t_min)
        one, _ = lever_speedup(lever_shape, "one_batch", t_min)
        bf16, _ = lever_speedup(lever_shape, "bf16", t_min)
        gen = torch.Generator().manual_seed(0)
        draw = median_s(lambda: teacher.sample(batch, L, generator=gen), t_min)
        weighted["old"] += paper_steps * old
        weighted["new"] += paper_steps * new
        print(f"{label:<26} {1e3 * old:>7.1f} {1e3 * new:>7.1f} {old_over_new:>7.2f} {gflops:>8.1f} "
              f"{gflops / peak:>7.2f} {gflops / conv_peak:>6.2f} {cl:>7.2f} {compiled:>7.2f} "
              f"{first:>7.1f} {one:>7.2f} {bf16:>5.2f} {draw / new:>5.0%}")
    print("ch-last, compile, 1 batch, bf16: speed-up of that lever over the same hand-written step without it, timed "
          "back to back, median of 3 pairs (> 1 is faster); draw: the teacher batch's share of the step")
    print(f"paper-profile training of Fig. 1 + Fig. 2 + Fig. 4, weighted by steps: old / new = "
          f"{weighted['old'] / weighted['new']:.2f} ({weighted['old'] / 3600:.2f} h -> {weighted['new'] / 3600:.2f} h "
          f"of one core at these step times)")


if __name__ == "__main__":
    main()
