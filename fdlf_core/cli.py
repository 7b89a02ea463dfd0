"""``fdlf`` command line. Exit codes: 0 success, 2 bad input or a failed run (one line on stderr, no traceback)."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from . import diagnostics, lattice, teachers
from .models import LocalCNN
from .training import save_checkpoint, train_dsm


def _demo(args: argparse.Namespace) -> int:
    teacher = teachers.make(args.family, seed=args.teacher_seed)
    model = LocalCNN(blocks=args.blocks, width=args.width, seed=args.seed)
    for L in args.eval_sizes:  # validate everything before spending a minute on training
        lattice.check_L(L, "--eval-sizes")
    if args.save and Path(args.save).is_dir():
        raise ValueError(f"--save must be a file path, not a directory: {args.save}")
    print(f"fdlf demo: DSM on {args.family} (teacher r={teacher.locality_radius}) at L={args.L}, "
          f"LocalCNN B={args.blocks} width={args.width} (R_eff={model.receptive_radius}), "
          f"{args.steps} steps x batch {args.batch_size}, seed {args.seed}")
    untrained = diagnostics.score_rmse(model, teacher, args.L, n=args.eval_n, seed=args.seed)
    result = train_dsm(teacher, model, args.L, args.steps, args.batch_size, lr=args.lr, seed=args.seed)
    trained = diagnostics.score_rmse(model, teacher, args.L, n=args.eval_n, seed=args.seed)
    print(f"trained in {result.wall_s:.1f} s; score RMSE at L={args.L}: {untrained:.3f} untrained -> {trained:.3f}")
    if args.save:
        print(f"checkpoint: {save_checkpoint(args.save, result)}")
    print(f"\n{'L':>4}  {'score RMSE (Eq.16)':>18}  {'near resp. err':>14}  {'far resp. err':>13}  {'eval s':>6}")
    for L in args.eval_sizes:
        start = time.perf_counter()
        rmse = diagnostics.score_rmse(model, teacher, L, n=args.eval_n, seed=args.seed)
        resp = diagnostics.response_errors(model, teacher, L, n=args.eval_n, seed=args.seed)
        print(f"{L:>4}  {rmse:>18.3f}  {resp['near']:>14.3f}  {resp['far']:>13.3f}  {time.perf_counter() - start:>6.1f}")
    print("\nA local teacher inside the receptive field keeps the RMSE flat in L; try --family complex_long.")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fdlf", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="train a LocalCNN on one FDLF teacher and evaluate it at larger L")
    demo.add_argument("--family", default="simple_local", choices=sorted(teachers.FAMILIES))
    demo.add_argument("--L", type=int, default=16, help="training lattice size (even, >= 4)")
    demo.add_argument("--eval-sizes", type=int, nargs="+", default=[16, 32, 64], help="evaluation sizes")
    demo.add_argument("--steps", type=int, default=1500, help="DSM steps (paper: 1500)")
    demo.add_argument("--batch-size", type=int, default=16, help="teacher samples per step (paper: 16)")
    demo.add_argument("--lr", type=float, default=5e-4)
    demo.add_argument("--blocks", type=int, default=1, help="residual blocks B, R_eff = 2B + 2")
    demo.add_argument("--width", type=int, default=32)
    demo.add_argument("--seed", type=int, default=0, help="model init, training and evaluation seed")
    demo.add_argument("--teacher-seed", type=int, default=0)
    demo.add_argument("--eval-n", type=int, default=8, help="evaluation samples per size (paper: 8)")
    demo.add_argument("--save", default=None, help="write the trained checkpoint here (atomic)")
    demo.set_defaults(func=_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, TypeError, OSError, FloatingPointError) as exc:
        print(f"fdlf {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
