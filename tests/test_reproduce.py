"""`fdlf reproduce --profile quick` end to end (papermill runs every figure notebook), then the paper's
qualitative claims asserted on the quick results. This is the CI's check that the figures regenerate."""
import json
import subprocess
import sys

import pytest

from fdlf_core import cli, experiments, paper


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    out = tmp_path_factory.mktemp("results")
    proc = subprocess.run([sys.executable, "-m", "fdlf_core.cli", "reproduce", "--profile", "quick", "--jobs", "2",
                           "--out", str(out)], capture_output=True, text=True, timeout=1500)
    return out, proc


# what each notebook writes besides runs.jsonl, summary.csv, manifest.json and itself
ARTIFACTS = {"fig1": ("comparison.csv", "fig1a_score_rmse.html", "fig1b_response_error.html"),
             "floor": ("floor_rmse_vs_radius.html",),
             "fig2": ("comparison.csv", "fig2_receptive_field.html", "table3.html"),
             "ablation": ("ablation_table.html",),
             "fig3": ("fig3_hard_valid.html", "fig3_sample.html", "fig3_response_hv_long.html"),
             "fig4": ("fig4_boundary_response.html", "fig4_response_profile.html", "fig4_correlation_length.html"),
             "table5": ("comparison.csv", "table5_generation_mae.html", "table5_correlation_error.html",
                        "table5_observable_errors.html",
                        "table5_samples_complex_long.html")}


@pytest.mark.parametrize("name", sorted(experiments.EXPERIMENTS))
def test_papermill_reads_every_parameter_of_the_figure_notebooks(name):
    # papermill reads the parameters cell line by line; a line it cannot parse (a ":" in a comment reads as a
    # type annotation) still runs but is reported as "unknown parameter" with a warning on every reproduce
    import nbformat
    from papermill.translators import PythonTranslator
    nb = nbformat.read(cli.NOTEBOOK_DIR / experiments.EXPERIMENTS[name].notebook, as_version=4)
    cell, = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert [p.name for p in PythonTranslator.inspect(cell)] == ["profile", "jobs", "executor", "scheduler", "device",
                                                                "out_dir", "interactive"]


# the experiments with a quick profile: what `fdlf reproduce --profile quick` runs (the attention sweeps have
# the paper profile only)
QUICK = {name: exp for name, exp in experiments.EXPERIMENTS.items() if "quick" in exp.profiles}


def test_reproduce_quick_succeeds_and_writes_every_artifact(quick):
    out, proc = quick
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert set(ARTIFACTS) == set(QUICK) and set(experiments.EXPERIMENTS) - set(QUICK) == {"fig1_attention",
                                                                                        "fig2_attention", "sweep"}
    assert (out / "plotly.min.js").is_file() and (out / "README.md").is_file()  # shared by / about every figure
    for fig, exp in QUICK.items():
        d, nb = out / fig / "quick", exp.notebook
        assert not (d / "plotly.min.js").exists()
        for name in ("runs.jsonl", "summary.csv", "manifest.json", nb, *ARTIFACTS[fig]):
            assert (d / name).is_file(), f"{fig}: missing {name}"
        executed = json.loads((d / nb).read_text())
        assert executed["metadata"]["papermill"]["parameters"]["profile"] == "quick"
        assert not any(o.get("output_type") == "error" for c in executed["cells"] for o in c.get("outputs", []))
        manifest = json.loads((d / "manifest.json").read_text())
        assert all(r["status"] == "done" for r in manifest["runs"].values())
    table = proc.stdout[proc.stdout.rindex("figure "):].splitlines()
    assert [line.split()[:2] for line in table[1:]] == [[fig, "ok"] for fig in QUICK]
    readme = (out / "README.md").read_text()
    assert all(f"`{exp.name}/quick/`" in readme for exp in QUICK.values())


# Claims we do not reproduce (docs/results.md, "Where we differ"). Strict: the day one of them starts to
# hold, this test fails and the docs must be updated.
# Table 5's long_larger fails on the paper profile too: our complex_long's local correlations are weak
# (0.025), so the absolute MAE cannot set it apart (results/studies/table5_correlations/).
KNOWN_DISCREPANCIES = {("fig4", "worst_at_intermediate_sigma"), ("table5", "long_larger")}
# Claims the quick budget cannot show. 100 exact-score steps of a width-16 model leave the radius-8 fit of
# medium_range near the radius-4 one (0.340 vs 0.373); 200 DSM steps of it at batch 4 leave medium_range at
# -8 % from R_eff 4 to 8 and 14 (the paper profile's 1500 steps at width 64 and batch 8 separate them; issue
# 14's study: 0.303 -> 0.210).
# Fig. 3's quick model (width 16, 150 steps) stays near the Gaussian baseline (RMSE ~0.93 for every teacher),
# so the long teacher's missing far response cannot show against it; the paper profile trains 3000 steps.
# Table 5's quick model (width 32, 200 steps) misses every teacher's local correlations (complex_local 4.7x its
# teacher-vs-teacher floor at L=40), so only-the-long-range-one cannot show; the paper profile trains 1500 steps.
NEEDS_PAPER_BUDGET = {("floor", "medium_radius_matters"), ("fig2", "medium_improves"), ("fig2", "medium_improves_14"),
                      ("fig3", "long_poorer"), ("fig3", "long_degrades"), ("table5", "long_correlations_missed")}
CLAIMS = [("fig1", k) for k in ("simple_local_flat", "complex_local_flat", "long_worse", "long_degrades",
                                "long_far_high")] + \
         [("fig2", k) for k in ("simple_local_flat", "medium_improves", "medium_improves_14", "long_far_near_one",
                                "dsm_near_floor")] + \
         [("floor", k) for k in ("monotone", "medium_radius_matters")] + \
         [("fig3", k) for k in ("hv_local_stable", "hv_medium_stable", "long_poorer", "long_degrades",
                                "inset_ordered")] + \
         [("fig4", k) for k in ("exact_grows", "learned_underestimates", "worst_at_intermediate_sigma")] + \
         [("table5", k) for k in ("simple_local_stable", "complex_local_stable", "long_larger", "long_correlations_missed",
                                  "sde_below_ode")]


@pytest.mark.parametrize("fig,key", [
    pytest.param(f, k, marks=pytest.mark.xfail(strict=True, reason="known discrepancy with the paper"))
    if (f, k) in KNOWN_DISCREPANCIES else
    pytest.param(f, k, marks=pytest.mark.xfail(strict=True, reason="needs the paper budget"))
    if (f, k) in NEEDS_PAPER_BUDGET else (f, k) for f, k in CLAIMS])
def test_paper_claim_on_the_quick_profile(quick, fig, key):
    out, _ = quick
    checked = {c.key: c for c in experiments.check_claims(out, fig, "quick")}  # Fig. 2: with the quick floor
    assert set(checked) == {k for f, k in CLAIMS if f == fig}
    assert checked[key].passed, paper.format_claims([checked[key]])
