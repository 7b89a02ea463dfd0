"""plots: the figures are built from a summary (what is drawn is the summary's numbers) and saved offline."""
import plotly.graph_objects as go

from fdlf_core import paper, plots


def test_plots_build_figures_and_save_offline_html(tmp_path, summary2d):
    summary = summary2d({(f, R, L): (0.3, 0.9) for f in ("simple_local", "medium_range", "complex_long")
                        for R in (4, 8) for L in (32, 64)})
    fig2 = plots.receptive_field_sweep(summary, L=64)
    names = [t.name for t in fig2.data]
    assert "medium_range far" in names and "complex_long (paper)" in names and "simple_local far" not in names
    ours = next(t for t in fig2.data if t.name == "medium_range")
    assert list(ours.x) == [4, 8] and list(ours.y) == [0.3, 0.3]
    f1 = plots.size_sweep_rmse([r for r in summary if r["R_eff"] == 4])
    assert isinstance(f1, go.Figure) and {t.name for t in f1.data} >= {"simple_local", "complex_long (paper)"}
    table = plots.comparison_table(paper.compare("fig2", summary))
    assert isinstance(table.data[0], go.Table)
    paths = plots.save_html({"a": f1, "b": fig2}, tmp_path)
    assert [p.name for p in paths] == ["a.html", "b.html"] and (tmp_path / "plotly.min.js").stat().st_size > 1e6
    html = paths[0].read_text()
    assert 'src="plotly.min.js"' in html and "cdn.plot.ly" not in html


def test_pages_in_subdirectories_share_one_plotly_js(tmp_path):
    fig = go.Figure(go.Scatter(x=[1, 2], y=[3, 4]))
    for name in ("fig1", "fig2"):
        (page,) = plots.save_html({"p": fig}, tmp_path / name / "paper", js_dir=tmp_path)
        assert 'src="../../plotly.min.js"' in page.read_text()
        assert not (tmp_path / name / "paper" / "plotly.min.js").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fig1", "fig2", "plotly.min.js"]


def test_size_sweep_response_draws_near_and_far(summary2d):
    summary = summary2d({("complex_long", 4, L): (0.3, far) for L, far in ((16, 0.8), (32, 0.9))})
    fig = plots.size_sweep_response(summary)
    far = next(t for t in fig.data if t.name == "complex_long far")
    assert list(far.x) == [16, 32] and list(far.y) == [0.8, 0.9] and fig.layout.yaxis.type == "log"


def test_floor_is_drawn_dotted_beside_the_dsm_runs(summary2d):
    dsm = summary2d({(f, R, 64): (0.3, 0.9) for f in ("simple_local", "medium_range") for R in (4, 8)})
    floor = summary2d({(f, R, L): (0.1 * R, 0.9) for f in ("medium_range",) for R in (2, 4, 8) for L in (32, 64)})
    fig = plots.receptive_field_sweep(dsm, L=64, floor=floor)
    dotted = [t for t in fig.data if t.line.dash == "dot"]
    assert [t.name for t in dotted] == ["medium_range: best radius-R fit"]
    assert list(dotted[0].x) == [2, 4, 8] and list(dotted[0].y) == [0.2, 0.4, 0.8]  # L=64 rows only
    assert list(fig.layout.xaxis.tickvals) == [2, 4, 8]
    assert not any(t.line.dash == "dot" for t in plots.receptive_field_sweep(dsm, L=64).data)
    alone = plots.locality_floor(floor, L=32)
    assert [(t.name, list(t.x), list(t.y)) for t in alone.data] == [("medium_range", [2, 4, 8], [0.2, 0.4, 0.8])]


def test_ablation_table_puts_each_recipe_beside_the_floor(summary2d):
    rows = [{"recipe": rec, "family": "medium_range", "blocks": 1, "R_eff": 4, "L": L, "n_seeds": 3,
             "score_rmse_mean": v, "score_rmse_sem": 0.01, "train_wall_s_mean": w}
            for rec, v, w in (("original", 0.40, 30.0), ("new", 0.33, 60.0)) for L in (32, 64)]
    floor = summary2d({("medium_range", 4, 64): (0.30, 0.5), ("medium_range", 8, 64): (0.2, 0.5)})
    table = plots.ablation_table(rows, floor=floor, L=64).data[0]
    cols = dict(zip(table.header.values, table.cells.values))
    assert list(cols["recipe"]) == ["original", "new", "locality floor"]
    assert list(cols["medium_range R_eff=4"]) == ["0.400 ± 0.010 (1.33x)", "0.330 ± 0.010 (1.10x)", "0.300"]
    assert list(cols["train s / run"]) == ["30", "60", ""]
    alone = dict(zip(*(lambda t: (t.header.values, t.cells.values))(plots.ablation_table(rows).data[0])))
    assert list(alone["recipe"]) == ["original", "new"] and "(" not in alone["medium_range R_eff=4"][0]


def test_the_fig3_figures_draw_the_summary_and_the_sample():
    import math

    import torch

    from fdlf_core.experiments.hardvalid3d import SUMMARY_SCHEMA
    from fdlf_core.hardvalid import teacher

    rows = []
    for f, ratio in (("hv_local", 0.03), ("hv_long", 11.8)):
        for L in (8, 16):
            row = {k: math.nan for k in SUMMARY_SCHEMA}
            row.update(family=f, train_L=8, L=L, n_seeds=1, score_rmse_mean=0.5 + L / 100, score_rmse_within_se=0.01,
                       near_of_total_mean=0.3, far_of_total_mean=0.9 if L == 16 else math.nan, far_of_total_within_se=0.02,
                       near_of_total_within_se=0.01, far_to_near_mean=ratio, far_to_near_within_se=0.1)
            rows.append(row)
    fig = plots.hard_valid_sweep(rows)
    rmse = next(t for t in fig.data if t.name == "hv_long")
    assert list(rmse.x) == [8, 16] and list(rmse.y) == [0.58, 0.66] and list(rmse.error_y.array) == [0.01, 0.01]
    far = next(t for t in fig.data if t.name == "hv_long far")
    assert list(far.x) == [16] and list(far.error_y.array) == [0.02]  # NaN (not measured) is left out
    bars = [t for t in fig.data if isinstance(t, go.Bar)]
    assert [b.y[0] for b in bars] == [0.03, 11.8] and "trained at L=8" in fig.layout.xaxis.title.text
    t = teacher.make("hv_local", embed=4, hidden=8)
    s = t.sample(1, 6, generator=torch.Generator().manual_seed(0))
    sample = plots.hard_valid_sample(s.b[0], s.a[0], s.c[0])
    segments = sum(sum(v is None for v in trace.x) for trace in sample.data if trace.mode == "lines")
    assert segments == int(sum(bin(int(v)).count("1") for v in s.b[0].flatten())) // 2  # one per matched port pair
    probe = teacher.central_probe(s)
    heat = plots.hard_valid_response_slice(teacher.response_magnitude(t, s, probe), probe, R=2)
    assert heat.layout.shapes[0].x0 == probe[0] - 2.5 and len(heat.data[0].z) == 6
