"""The training loop on a GPU (issue 19, item 2): the paper profile's LocalCNN steps in float32 and under
bfloat16 autocast on CUDA, and one whole Fig. 2 paper run on the GPU beside the CPU's committed result.

For each configuration of ``bench_loop.CONFIGS`` it prints the median seconds of one whole ``train_dsm``
step on the device (the teacher batch is drawn on the CPU in float64 and moved over, as every run does),
fp32 and bf16 autocast, their ratio, the achieved GFLOP/s against the device's fp32 and bf16 matmul rates
measured in the same run, and the share of the fp32 step that drawing the teacher batch takes. Then it
trains Fig. 2's medium_range R_eff 8 seed-0 run (1500 steps) on the device, in fp32 and in bf16, and prints
its score RMSE at L=64 beside the committed CPU row of ``results/fig2/paper/runs.jsonl``: the same data and
initialisation, so fp32 differs from the CPU by float rounding carried through 1500 Adam steps.

    python benchmarks/bench_device.py [--device cuda] [--quick]
"""
from __future__ import annotations

import argparse
import dataclasses
import statistics
import time
from pathlib import Path

import torch

from bench_core import conv_train_flops, print_header
from bench_loop import CONFIGS, MODEL, RECIPE
from fdlf_core import devices, runner, teachers
from fdlf_core import experiments as ex
from fdlf_core.models import LocalCNN
from fdlf_core.training import TrainConfig, train_dsm

COMMITTED = Path(__file__).resolve().parent.parent / "results" / "fig2" / "paper" / "runs.jsonl"


def matmul_tflops(device: torch.device, dtype: torch.dtype, n: int = 8192, reps: int = 10) -> float:
    a, b = (torch.randn(n, n, device=device, dtype=dtype) for _ in range(2))
    for _ in range(3):
        a @ b
    torch.cuda.synchronize(device)
    start = time.perf_counter()
    for _ in range(reps):
        a @ b
    torch.cuda.synchronize(device)
    return 2 * n ** 3 * reps / (time.perf_counter() - start) / 1e12


def step_s(teacher, device, L, batch, blocks, out_kernel, width, autocast, steps, rounds=5) -> float:
    """Median over ``rounds`` of the seconds per step of a ``steps``-step ``train_dsm`` (its per-step loss
    read back to the CPU synchronises the device), after one warm-up run."""
    cfg = TrainConfig(L, steps, batch, autocast=autocast, **RECIPE)
    model = LocalCNN(blocks, width, out_kernel=out_kernel, **MODEL).to(device)
    train_dsm(teacher, model, dataclasses.replace(cfg, steps=3), progress=False)
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        train_dsm(teacher, model, cfg, progress=False)
        times.append((time.perf_counter() - start) / steps)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--quick", action="store_true", help="fewer steps per timing")
    args = parser.parse_args()
    device = devices.resolve_device(args.device)
    if device.type != "cuda":
        raise SystemExit(f"--device must be a CUDA device for this benchmark; got {args.device!r}")
    print_header(f"device benchmark on {torch.cuda.get_device_name(device)}", torch.get_num_threads())
    fp32, bf16 = matmul_tflops(device, torch.float32), matmul_tflops(device, torch.bfloat16)
    print(f"ceilings: 8192^3 matmul fp32 {fp32:.1f} TFLOP/s (TF32 off: {not torch.backends.cuda.matmul.allow_tf32}), "
          f"bf16 {bf16:.1f} TFLOP/s")
    steps = 10 if args.quick else 40
    teacher = teachers.make("medium_range")
    print(f"\n{'configuration':<26} {'fp32 ms':>7} {'bf16 ms':>7} {'fp32/bf16':>9} {'fp32 TFLOP/s':>12} "
          f"{'/fp32 mm':>8} {'bf16 TFLOP/s':>12} {'/bf16 mm':>8} {'draw':>5}")
    for label, L, batch, blocks, out_kernel, width, _ in CONFIGS:
        shape = (teacher, device, L, batch, blocks, out_kernel, width)
        t32, t16 = step_s(*shape, "none", steps), step_s(*shape, "bf16", steps)
        flops = conv_train_flops(LocalCNN(blocks, width, out_kernel=out_kernel, **MODEL), L, batch, RECIPE["antithetic"])
        gen = torch.Generator().manual_seed(0)
        start = time.perf_counter()
        for _ in range(steps):
            teacher.sample(batch, L, generator=gen)
        draw = (time.perf_counter() - start) / steps
        print(f"{label:<26} {1e3 * t32:>7.2f} {1e3 * t16:>7.2f} {t32 / t16:>9.2f} {flops / t32 / 1e12:>12.3f} "
              f"{flops / t32 / 1e12 / fp32:>8.4f} {flops / t16 / 1e12:>12.3f} {flops / t16 / 1e12 / bf16:>8.4f} "
              f"{draw / t32:>5.0%}")
    print("draw: drawing the teacher batch (CPU, float64) as a share of the fp32 step")

    spec = next(s for s in ex.expand("fig2", "paper") if (s.family, s.blocks, s.seed) == ("medium_range", 3, 0))
    cpu = next((r for r in runner.read_runs(COMMITTED) if r["run_id"] == spec.run_id and r["L"] == 64), None)
    print(f"\nFig. 2 paper run {spec.label} (run {spec.run_id}), score RMSE at L=64:")
    if cpu is not None:
        print(f"  cpu (committed, {cpu.get('torch_threads', '?')} thread(s)): {cpu['score_rmse']:.4f}, trained in "
              f"{cpu['train_wall_s']:.0f} s")
    for autocast in ("none", "bf16"):
        run = dataclasses.replace(spec, train={**spec.train, "autocast": autocast})
        out = runner.execute_run(run, None, device=str(device))
        row = next(r for r in out["rows"] if r["L"] == 64)
        versus = f" ({row['score_rmse'] / cpu['score_rmse'] - 1:+.2%} vs cpu)" if cpu is not None else ""
        print(f"  {row['device']} {autocast if autocast != 'none' else 'fp32'}: {row['score_rmse']:.4f}{versus}, "
              f"trained in {row['train_wall_s']:.1f} s")


if __name__ == "__main__":
    main()
