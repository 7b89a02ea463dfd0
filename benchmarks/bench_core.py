"""Core benchmark: teacher sample/score/response (2D, and the 3D hard-valid teacher), DSM training steps against matmul peak, the cost per step
of each DSM recipe of the ablation against the original one, stacked-seed
training against one model at a time, the achieved GFLOP/s of finished reproduction runs, Ising
Wolff and Swendsen-Wang throughput (near beta_c) and exact-method timings, reverse-diffusion sampler
throughput (Table 5's model), and the sliding-attention model's training GFLOP/s against the CNN of the
same radius.

Prints tables of medians (``torch.utils.benchmark.Timer.blocked_autorange``) and ratios, all measured in
this one run (the reproduction section reads the training wall times the runs recorded in
``<results>/<fig>/<profile>/runs.jsonl`` and relates them to the matmul peak measured now at the thread
count of the runs' workers: ``fdlf reproduce --jobs N`` gives each worker cores / N threads).

    python benchmarks/bench_core.py [--threads N] [--sizes 16 32 64 128] [--quick] [--results results]
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
from pathlib import Path

import torch
from torch.utils.benchmark import Timer

from fdlf_core import ising, teachers
from fdlf_core.experiments.hardvalid3d import FIG3
from fdlf_core.hardvalid import teacher as hardvalid
from fdlf_core.hardvalid.model import LocalCNN3D
from fdlf_core import sampling
from fdlf_core.experiments.generation import TABLE5
from fdlf_core.models import LocalAttention, LocalAttentionConfig, LocalCNN, LocalCNNConfig
from fdlf_core.provenance import provenance
from fdlf_core.experiments.ablation import RECIPES
from fdlf_core.training import TrainConfig, dsm_loss, sample_sigma, train_dsm, train_dsm_stacked


def print_header(title: str, threads: int) -> None:
    """The first line of a benchmark's output: what ran, on which torch, threads, CPU and revision."""
    info = provenance()
    print(f"# fdlf {title}  torch {info['versions']['torch']}  threads {threads}  cpu {info['machine']['cpu']}  "
          f"rev {info['git_revision'][:12]}")


def median_s(fn, min_run_time: float) -> float:
    fn()  # warm-up (allocations, kernel selection)
    return Timer(stmt="fn()", globals={"fn": fn}).blocked_autorange(min_run_time=min_run_time).median


def matmul_gflops(min_run_time: float, n: int = 2048) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    return 2 * n ** 3 / median_s(lambda: a @ b, min_run_time) / 1e9


def conv_train_flops(model: LocalCNN, L: int, batch: int, antithetic: bool = False) -> float:
    """FLOPs of one training step: every convolution's multiply-adds x 2 (the linear path's too), forward +
    backward (~3x forward), x 2 with antithetic pairs (two forward passes per step)."""
    fwd = sum(2 * m.in_channels * m.out_channels * m.kernel_size[0] * m.kernel_size[1]
              for m in model.modules() if isinstance(m, torch.nn.Conv2d))
    if model.linear is not None:
        fwd += 2 * model.linear.numel()
    return 3 * fwd * L * L * batch * (2 if antithetic else 1)


def attention_train_flops(model: LocalAttention, L: int, batch: int, antithetic: bool = False) -> float:
    """FLOPs of one training step of a ``LocalAttention``: per layer and site the q/k/v, output and MLP
    projections (2 x 8 width^2) and the window's logits and weighted sum (2 x 2 K width), x 3 for forward
    + backward, x 2 with antithetic pairs; the embedding and output projections are negligible."""
    d, K = model.config.width, (2 * model.config.window + 1) ** 2
    per_site = model.config.layers * 2 * (3 * d * d + d * d + 4 * d * d + 2 * K * d)
    return 3 * per_site * L * L * batch * (2 if antithetic else 1)


# the 2D models of the reproduction rows, told apart by their config's fields: (model class, config class,
# training-FLOP count, the config field of its depth)
TRAIN_FLOPS = ((LocalCNN, LocalCNNConfig, conv_train_flops, "blocks"),
               (LocalAttention, LocalAttentionConfig, attention_train_flops, "layers"))


def train_step_fn(model, teacher, L: int, batch: int, with_teacher: bool):
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


def stacked_vs_sequential(L: int, blocks: int, width: int, batch: int, n_models: int, steps: int,
                          min_run_time: float) -> tuple[float, float]:
    """Seconds per training step of ``n_models`` models: one at a time (``train_dsm``) and stacked."""
    teacher = teachers.make("simple_local")
    seeds = list(range(n_models))
    alone = [LocalCNN(blocks, width, seed=s) for s in seeds]
    together = [LocalCNN(blocks, width, seed=s) for s in seeds]
    cfg = TrainConfig(L, steps, batch)
    one_by_one = median_s(lambda: [train_dsm(teacher, m, dataclasses.replace(cfg, seed=s), progress=False)
                                   for m, s in zip(alone, seeds)], min_run_time)
    stacked = median_s(lambda: train_dsm_stacked(teacher, together, cfg, seeds=seeds, progress=False), min_run_time)
    return one_by_one / steps, stacked / steps


def reproduction_throughput(results: Path, profile: str, min_run_time: float) -> None:
    """Achieved training GFLOP/s of the runs recorded under ``results``, against the matmul peak at the
    thread count each run's worker had. A row's ``train_wall_s`` is the time recorded when its model was
    trained (also when a later session re-evaluated the cached checkpoint)."""
    peaks: dict[int, float] = {}
    print(f"\n{'reproduction (' + profile + ')':<34} {'runs':>4} {'thr':>3} {'train s':>8} {'GFLOP/s':>8} "
          f"{'/ matmul':>9}")
    for runs_path in sorted(results.glob(f"*/{profile}/runs.jsonl")):
        manifest = json.loads((runs_path.parent / "manifest.json").read_text())
        threads = manifest.get("worker_threads") or max(1, manifest["provenance"]["machine"]["cores"]
                                                         // manifest["jobs"])
        if threads not in peaks:
            torch.set_num_threads(threads)
            peaks[threads] = matmul_gflops(min_run_time)
        groups: dict[tuple, list[tuple[float, float]]] = {}
        seen = set()
        for line in runs_path.read_text().splitlines():
            row = json.loads(line)
            trained = json.dumps([row["teacher"], row["model"], row["train"]], sort_keys=True)
            if manifest["runs"].get(row["run_id"], {}).get("status") != "done" or trained in seen:
                continue  # current runs only; one entry per trained model, not per eval size
            seen.add(trained)
            m, t = row["model"], row["train"]
            kinds = [k for k in TRAIN_FLOPS if set(m) <= {f.name for f in dataclasses.fields(k[1])}]
            if not kinds:  # the 3D model: its cost is in the hardvalid section
                continue
            model_class, _, flops_of, depth_field = kinds[0]
            flops = flops_of(model_class.from_config(m), t["L"], t["batch_size"], bool(t.get("antithetic")))
            key = (runs_path.parent.parent.name, t["L"], depth_field, m[depth_field], m["width"], t["batch_size"])
            groups.setdefault(key, []).append((flops * t["steps"], row["train_wall_s"]))
        for (fig, L, depth_field, depth, width, batch), runs in sorted(groups.items()):
            wall = statistics.median(w for _, w in runs)
            gflops = statistics.median(f / w for f, w in runs) / 1e9
            label = f"{fig} L={L} {depth_field}={depth} w={width} b={batch}"
            print(f"{label:<34} {len(runs):>4} {threads:>3} {wall:>8.1f} {gflops:>8.1f} "
                  f"{gflops / peaks[threads]:>9.2f}")
    print("matmul peak at those thread counts: " + ", ".join(f"{t} thr {g:.1f} GFLOP/s" for t, g in peaks.items()))


SECTIONS = ("teachers", "hardvalid", "steps", "recipes", "stacked", "reproduction", "ising", "sampling", "attention")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--sizes", type=int, nargs="+", default=[16, 32, 64, 128])
    parser.add_argument("--quick", action="store_true", help="shorter timing windows")
    parser.add_argument("--only", nargs="+", choices=SECTIONS, default=list(SECTIONS), help="sections to run")
    parser.add_argument("--stack", type=int, default=3, help="models trained together (paper: 3 seeds)")
    parser.add_argument("--results", type=Path, default=Path("results"), help="reproduction results root")
    parser.add_argument("--profile", default="paper", help="reproduction profile to read")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    t_min = 0.2 if args.quick else 1.0
    print_header("core benchmark", args.threads)
    peak = matmul_gflops(t_min)
    print(f"fp32 matmul 2048^3: {peak:.1f} GFLOP/s (the peak the ratios below refer to)")

    if "teachers" in args.only:
        print(f"\n{'teacher':<14} {'L':>4} {'sample x8 ms':>13} {'score x8 ms':>12} {'response x1 ms':>15}")
        for family in teachers.FAMILIES:
            t = teachers.make(family)
            for L in args.sizes:
                gen = torch.Generator().manual_seed(0)
                x8, x1 = t.sample(8, L, gen), t.sample(1, L, gen)
                ms = [1e3 * median_s(f, t_min) for f in (lambda: t.sample(8, L, gen), lambda: t.score(x8),
                                                         lambda: t.response(x1, (L // 2, L // 2)))]
                print(f"{family:<14} {L:>4} {ms[0]:>13.2f} {ms[1]:>12.2f} {ms[2]:>15.2f}")

    if "hardvalid" in args.only:
        # the 3D hard-valid teacher (issue 17) at the paper's conditioner size: sample, clean score of a
        # batch of 4, one Jacobian row (double backward), at Fig. 3's training size, a middle one and its
        # largest evaluation size
        print(f"\n{'hard-valid teacher':<14} {'L':>4} {'sample x4 ms':>13} {'score x4 ms':>12} {'response x1 ms':>15}")
        for family in hardvalid.FAMILIES:
            t = hardvalid.make(family)
            for L in (8, 16, 40):
                gen = torch.Generator().manual_seed(0)
                s4, s1 = t.sample(4, L, gen), t.sample(1, L, gen)
                site = hardvalid.central_probe(s1)
                ms = [1e3 * median_s(f, t_min) for f in (lambda: t.sample(4, L, gen), lambda: t.score(s4),
                                                         lambda: t.response(s1, site))]
                print(f"{family:<14} {L:>4} {ms[0]:>13.1f} {ms[1]:>12.1f} {ms[2]:>15.1f}")
        # one Fig. 3 paper-profile DSM step (fresh teacher batch, antithetic loss, backward, Adam), and the
        # share of it that drawing the batch takes
        budget = FIG3.profiles["paper"]
        t = hardvalid.make("hv_long")
        steps = 10
        cfg = budget.train_config(FIG3.train_L, 0)
        step_s = median_s(lambda: train_dsm(t, LocalCNN3D.from_config(FIG3.expand("paper")[0].model),
                                            dataclasses.replace(cfg, steps=steps), progress=False), t_min) / steps
        gen = torch.Generator().manual_seed(0)
        draw_s = median_s(lambda: t.sample(cfg.batch_size, cfg.L, gen), t_min)
        print(f"Fig. 3 DSM step (L={cfg.L}, batch {cfg.batch_size}, width {budget.width}): {1e3 * step_s:.1f} ms, "
              f"of which drawing the batch {1e3 * draw_s:.1f} ms ({draw_s / step_s:.0%})")

    if "steps" in args.only:
        print(f"\n{'training step':<34} {'ms':>8} {'GFLOP/s':>8} {'/ matmul':>9}")
        teacher = teachers.make("simple_local")
        for L, blocks, width, batch in [(16, 1, 32, 16), (32, 6, 64, 8)]:
            for with_teacher in (False, True):
                model = LocalCNN(blocks, width)
                s = median_s(train_step_fn(model, teacher, L, batch, with_teacher), t_min)
                gflops = conv_train_flops(model, L, batch) / s / 1e9
                label = f"L={L} B={blocks} w={width} b={batch}" + (" +teacher" if with_teacher else "")
                print(f"{label:<34} {1e3 * s:>8.2f} {gflops:>8.1f} {gflops / peak:>9.2f}")

    if "recipes" in args.only:
        # a whole train_dsm step (batch draw, loss, backward, Adam, schedule, EMA) per ablation recipe (its
        # TrainConfig fields, width and model options) at Fig. 2's paper settings; the ratio is to the
        # original recipe (width 32) measured in this same run
        print(f"\n{'recipe (Fig. 2 step, L=32 b=8)':<62} {'B':>2} {'ms/step':>8} {'/ original':>10}")
        teacher = teachers.make("medium_range")
        for blocks in (1, 6):
            base = None
            for name, fields in RECIPES.items():
                cfg = TrainConfig(32, 5, 8, **dict(fields.get("recipe", ())))
                model = dict(blocks=blocks, width=fields.get("width", 32), **dict(fields.get("model_options", ())))
                s = median_s(lambda: train_dsm(teacher, LocalCNN(**model), cfg, progress=False), t_min) / cfg.steps
                base = s if base is None else base
                print(f"{name[:62]:<62} {blocks:>2} {1e3 * s:>8.1f} {s / base:>10.2f}")

    if "stacked" in args.only:
        # 1 thread is what each worker of `fdlf reproduce --jobs <cores>` gets
        print(f"\n{'%d models, ms per step' % args.stack:<34} {'thr':>3} {'1 by 1':>8} {'stacked':>8} "
              f"{'speed-up':>9}")
        for threads in sorted({1, args.threads}):
            torch.set_num_threads(threads)
            for L, blocks, width, batch in [(16, 1, 32, 16), (32, 1, 32, 8), (32, 3, 32, 8), (32, 6, 32, 8)]:
                one_by_one, stacked = stacked_vs_sequential(L, blocks, width, batch, args.stack, 5, t_min)
                label = f"L={L} B={blocks} w={width} b={batch}"
                print(f"{label:<34} {threads:>3} {1e3 * one_by_one:>8.1f} {1e3 * stacked:>8.1f} "
                      f"{one_by_one / stacked:>9.2f}")
        torch.set_num_threads(args.threads)

    if "reproduction" in args.only and args.results.is_dir():
        reproduction_throughput(args.results, args.profile, t_min)
        torch.set_num_threads(args.threads)

    if "ising" in args.only:
        print(f"\n{'Wolff (50 samples, 1 sweep apart)':<34} {'flips/s':>9} {'spins/s':>10} {'mean cluster':>13}")
        wolff = {}
        for L, ratio in [(64, 0.9), (64, 0.99), (128, 0.99)]:
            walls, stats = [], {}
            for seed in range(3):  # median over three chains
                ising.wolff_sample(L, ratio * ising.BETA_C, 50, seed=seed, progress=False, stats=stats)
                walls.append((stats["wall_s"], stats["cluster_flips"], stats["spins_flipped"]))
            wall, flips, spins = sorted(walls)[1]
            print(f"{f'L={L} beta/beta_c={ratio}':<34} {flips / wall:>9.0f} {spins / wall:>10.3g} "
                  f"{spins / flips:>13.0f}")
            wolff[L, ratio] = spins / wall
        # Swendsen-Wang updates every spin each sweep; its rate beside Wolff's flipped spins, same run
        print(f"\n{'Swendsen-Wang (50 samples, 1 sweep)':<34} {'sweeps/s':>9} {'spins/s':>10} {'/ Wolff':>13}")
        for L, ratio in [(64, 0.9), (64, 0.99), (128, 0.99)]:
            walls = []
            for seed in range(3):
                stats = {}
                ising.swendsen_wang_sample(L, ratio * ising.BETA_C, 50, seed=seed, progress=False, stats=stats)
                walls.append((stats["wall_s"], stats["sweeps"], stats["spin_updates"]))
            wall, sweeps, spins = sorted(walls)[1]
            print(f"{f'L={L} beta/beta_c={ratio}':<34} {sweeps / wall:>9.0f} {spins / wall:>10.3g} "
                  f"{spins / wall / wolff[L, ratio]:>13.1f}")
        exact_ms = 1e3 * median_s(lambda: ising.transfer_matrix_exact(8, ising.BETA_C), t_min)
        toeplitz_ms = 1e3 * median_s(lambda: ising.infinite_correlation(0.99 * ising.BETA_C, 8), t_min)
        print(f"transfer matrix L=8: {exact_ms:.1f} ms; infinite-lattice correlations r <= 8 at 0.99 beta_c: "
              f"{toeplitz_ms:.1f} ms")

    if "sampling" in args.only:
        # Table 5's paper-profile model (weights do not change the cost) generating its sample count; a
        # site-step is one site of one sample through one sampler step (the ODE's Heun steps take 2 model
        # calls): what a generation at n samples, size L and N steps costs is n L^2 N / this rate
        spec = TABLE5.expand("paper")[0]
        model = spec.build_model()
        print(f"\n{'sampler (Table 5 model, w=%d)' % spec.model['width']:<34} {'n':>3} {'L':>3} {'ms/step':>8} "
              f"{'site-steps/s':>13}")
        for method in sampling.METHODS:
            for L in (16, 40):
                steps = 4
                s = median_s(lambda: sampling.generate(model, spec.n_samples, L, steps, spec.train["sigma_max"],
                                                       method=method, progress=False), t_min) / steps
                print(f"{method:<34} {spec.n_samples:>3} {L:>3} {1e3 * s:>8.1f} {spec.n_samples * L * L / s:>13.3g}")

    if "attention" in args.only:
        # a DSM step of the sliding-attention model at Fig. 2's settings (L=32, batch 8) against the LocalCNN
        # of the same radius (the width-32 CNN of the quick profile, and the paper's width 64), both measured
        # here; GFLOP/s against the matmul peak above
        teacher = teachers.make("medium_range")
        print(f"\n{'training step, L=32 b=8':<34} {'ms':>8} {'GFLOP/s':>8} {'/ matmul':>9} {'/ CNN w32':>10}")
        for R in (4, 8, 14):
            cnn = LocalCNN.from_radius(R, width=32)
            cnn_s = median_s(train_step_fn(cnn, teacher, 32, 8, False), t_min)
            att = LocalAttention(layers=R // 2, window=2, width=32, heads=4)
            att_s = median_s(train_step_fn(att, teacher, 32, 8, False), t_min)
            for label, s, flops in ((f"LocalCNN R={R} w=32", cnn_s, conv_train_flops(cnn, 32, 8)),
                                    (f"LocalAttention R={R} w=32 (x{R // 2})", att_s, attention_train_flops(att, 32, 8))):
                gflops = flops / s / 1e9
                print(f"{label:<34} {1e3 * s:>8.1f} {gflops:>8.1f} {gflops / peak:>9.2f} {s / cnn_s:>10.2f}")


if __name__ == "__main__":
    main()
