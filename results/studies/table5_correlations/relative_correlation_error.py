"""Table 5's separating measurement: why the absolute local-observable MAE does not set complex_long apart.

Reads the committed paper-profile rows (results/table5/paper/runs.jsonl: each row stores every observable of
the generated and the reference set) and prints, per family, sampler and size, (1) the mean over seeds of
the reference's nearest- and next-nearest-neighbour correlations (their scale), and (2) the relative
correlation error sum_k |c_gen,k - c_ref,k| / sum_k |c_ref,k| over the six correlation offsets.

    .venv/bin/python results/studies/table5_correlations/relative_correlation_error.py
"""
import statistics

from fdlf_core import experiments, observables

CORR = [k for k in observables.OBSERVABLES if k.startswith("corr")]
result = experiments.load_results(experiments.RESULTS_DIR, "table5", "paper")
print(f"{'sampler':<7} {'family':<13} {'mean |c_ref|, L=40':>19}  relative correlation error at L = 6, 8, 16, 24, 32, 40")
for sampler in ("sde", "ode"):
    for family in ("simple_local", "complex_local", "complex_long"):
        rel, scale = [], None
        for L in (6, 8, 16, 24, 32, 40):
            rows = [r for r in result.rows if (r["family"], r["L"], r["sampler"]) == (family, L, sampler)]
            rel.append(statistics.mean(sum(abs(r["generated"][k] - r["reference"][k]) for k in CORR)
                                       / sum(abs(r["reference"][k]) for k in CORR) for r in rows))
            if L == 40:
                scale = statistics.mean(sum(abs(r["reference"][k]) for k in CORR) / len(CORR) for r in rows)
        print(f"{sampler:<7} {family:<13} {scale:>19.3f}  " + "  ".join(f"{v:.2f}" for v in rel))
