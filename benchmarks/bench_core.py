"""Core benchmark: teacher sample/score/response and DSM training-step time, against matmul peak.

Prints one table of medians (``torch.utils.benchmark.Timer.blocked_autorange``) and the ratios of
achieved training GFLOP/s to this machine's fp32 matmul GFLOP/s, all measured in this one run.

    python benchmarks/bench_core.py [--threads N] [--sizes 16 32 64 128] [--quick]
"""
from __future__ import annotations

import argparse

import torch
from torch.utils.benchmark import Timer

from fdlf_core import teachers
from fdlf_core.models import LocalCNN
from fdlf_core.provenance import provenance
from fdlf_core.training import dsm_loss, sample_sigma


def median_s(fn, min_run_time: float) -> float:
    fn()  # warm-up (allocations, kernel selection)
    return Timer(stmt="fn()", globals={"fn": fn}).blocked_autorange(min_run_time=min_run_time).median


def matmul_gflops(min_run_time: float, n: int = 2048) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    return 2 * n ** 3 / median_s(lambda: a @ b, min_run_time) / 1e9


def conv_train_flops(model: LocalCNN, L: int, batch: int) -> float:
    """FLOPs of one training step: conv multiply-adds x 2, forward + backward (~3x forward)."""
    fwd = 0
    for m in model.modules():
        if isinstance(m, torch.nn.Conv2d):
            fwd += 2 * m.in_channels * m.out_channels * m.kernel_size[0] * m.kernel_size[1] * L * L * batch
    return 3 * fwd


def train_step_fn(model: LocalCNN, teacher, L: int, batch: int, with_teacher: bool):
    gen = torch.Generator().manual_seed(0)
    opt = torch.optim.Adam(model.parameters(), lr=5e-4)
    fixed = teacher.sample(batch, L, generator=gen).float()

    def step():
        x0 = teacher.sample(batch, L, generator=gen).float() if with_teacher else fixed
        sigma = sample_sigma(batch, 0.005, 1.0, gen)
        eps = torch.randn(x0.shape, generator=gen)
        loss = dsm_loss(model, x0, sigma, eps).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--sizes", type=int, nargs="+", default=[16, 32, 64, 128])
    parser.add_argument("--quick", action="store_true", help="shorter timing windows")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    t_min = 0.2 if args.quick else 1.0
    info = provenance()
    print(f"# fdlf core benchmark  torch {info['versions']['torch']}  threads {args.threads}  "
          f"cpu {info['machine']['cpu']}  rev {info['git_revision'][:12]}")
    peak = matmul_gflops(t_min)
    print(f"fp32 matmul 2048^3: {peak:.1f} GFLOP/s (the peak the ratios below refer to)\n")

    print(f"{'teacher':<14} {'L':>4} {'sample x8 ms':>13} {'score x8 ms':>12} {'response x1 ms':>15}")
    for family in teachers.FAMILIES:
        t = teachers.make(family)
        for L in args.sizes:
            gen = torch.Generator().manual_seed(0)
            x8, x1 = t.sample(8, L, gen), t.sample(1, L, gen)
            ms = [1e3 * median_s(f, t_min) for f in (lambda: t.sample(8, L, gen), lambda: t.score(x8),
                                                     lambda: t.response(x1, (L // 2, L // 2)))]
            print(f"{family:<14} {L:>4} {ms[0]:>13.2f} {ms[1]:>12.2f} {ms[2]:>15.2f}")

    print(f"\n{'training step':<34} {'ms':>8} {'GFLOP/s':>8} {'/ matmul':>9}")
    teacher = teachers.make("simple_local")
    for L, blocks, width, batch in [(16, 1, 32, 16), (32, 6, 64, 8)]:
        for with_teacher in (False, True):
            model = LocalCNN(blocks, width)
            s = median_s(train_step_fn(model, teacher, L, batch, with_teacher), t_min)
            gflops = conv_train_flops(model, L, batch) / s / 1e9
            label = f"L={L} B={blocks} w={width} b={batch}" + (" +teacher" if with_teacher else "")
            print(f"{label:<34} {1e3 * s:>8.2f} {gflops:>8.1f} {gflops / peak:>9.2f}")


if __name__ == "__main__":
    main()
