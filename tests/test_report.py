"""report: results/README.md is generated from the result files (the committed paper results, damaged files)."""
import shutil

from fdlf_core import experiments as ex
from fdlf_core import paper, report


def test_results_readme_of_the_committed_paper_results():
    text = report.results_readme(ex.RESULTS_DIR)
    for name in ("fig1", "fig2", "fig4"):
        exp = ex.get_experiment(name)
        assert f"## {exp.title} — `paper` profile" in text and f"[`{name}/paper/`]({name}/paper/)" in text
    summary = ex.load_results(ex.RESULTS_DIR, "fig2", "paper").summary
    for row in paper.compare("fig2", summary):  # every reported number with ours beside it, as the files give it
        assert f"| {row['metric']} | {row['family']} | {row['R_eff']} | {row['L']} | {row['paper']:.3f} ± " in text
        assert f"{row['ours']:.3f} ± {row['ours_sem']:.3f} | 3 |" in text
    checked = ex.check_claims(ex.RESULTS_DIR, "fig2", "paper")  # with the floor, as the report checks them
    assert len(checked) == 5 and f"checked ({sum(c.passed for c in checked)} of {len(checked)} hold)" in text
    assert "max_R \\|RMSE(R) / RMSE(4) - 1\\|" in text  # bars inside a cell are escaped


def test_no_results_and_damaged_results(tmp_path):
    assert "No results yet" in report.results_readme(tmp_path)
    shutil.copytree(ex.RESULTS_DIR / "fig4" / "paper", tmp_path / "fig4" / "paper")  # not a local quick run
    (tmp_path / "fig4" / "paper" / "runs.jsonl").write_text("{not json\n")
    text = report.results_readme(tmp_path)
    assert "Results unreadable:" in text and "runs.jsonl line 1 is not JSON" in text
    assert text.count("\n## ") == 1  # no section for the experiments without results here
    path = report.write_results_readme(tmp_path)
    assert path == tmp_path / "README.md" and path.read_text() == text
