"""Explorer buttons as a student uses them: work in the background with a live progress row and a Cancel, the
other controls usable meanwhile, a measured time estimate on the button, torch threads set for interactive use;
and the figure pieces that show numerical noise as noise and wrap the R_eff square on the torus."""
import time

import pytest
import torch

from fdlf_core import diagnostics, gaussian, lattice, posterior, progress
from fdlf_widgets import ExtrapolationExplorer, GaussianExplorer, ResponseExplorer, base, response, views


def _wait_for(condition, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_a_watcher_sees_every_step_and_can_stop_the_loop():
    from fdlf_core import ising

    seen = []
    with progress.watching(lambda desc, done, total: seen.append((done, total))):
        ising.wolff_sample(8, 0.4, 5, progress=False)
    assert seen == [(k, 5) for k in range(6)]  # before each step, and once at the end

    def stop_at_two(desc, done, total):
        if done == 2:
            raise progress.Cancelled()
    with pytest.raises(progress.Cancelled), progress.watching(stop_at_two):
        ising.wolff_sample(8, 0.4, 5, progress=False)
    ising.wolff_sample(8, 0.4, 3, progress=False)  # outside the block: no watcher


def test_a_button_run_leaves_the_controls_working_and_cancel_stops_it(monkeypatch):
    monkeypatch.setattr(response, "MALA", posterior.MALAConfig(n_chains=4, n_steps=200_000, burn_in=16))
    ex = ResponseExplorer(family="simple_local", L=16, sigma=0.5, R_eff=4)
    widgets_before = list(ex.widget.children)
    ex.mala.button.click()
    _wait_for(lambda: ex.progress_bar.value > 0)
    assert ex.busy and ex.mala.button.disabled and ex.progress_row.layout.display == "flex"
    assert "MALA at sigma=0.5, probe (8, 8): MALA L=16" in ex.progress_text.value and "left" in ex.progress_text.value
    busy = [a for a in ex.figures["heatmap"].layout.annotations if a.name == base.BUSY_NOTE]
    assert len(busy) == 1 and "computing MALA at sigma=0.5" in busy[0].text
    start = time.perf_counter()
    ex.set(R_eff=7)  # a slider move while it runs: drawn at once, the note stays
    assert time.perf_counter() - start < 1.0
    assert ex.params()["R_eff"] == 7 and ex.figures["tail"].layout.shapes[0].x0 == 7
    assert any(a.name == base.BUSY_NOTE for a in ex.figures["heatmap"].layout.annotations)
    ex.mala.button.click()  # a second click while it runs starts nothing
    assert "still running" in ex.status.value
    ex.cancel_button.click()
    ex.wait(timeout=30)
    assert not ex.busy and ex._smoothed == {} and "(cancelled: MALA at sigma=0.5, probe (8, 8)" in ex.status.value
    assert ex.progress_row.layout.display == "none" and not ex.mala.button.disabled
    assert not any(a.name == base.BUSY_NOTE for a in ex.figures["heatmap"].layout.annotations)
    # the progress row is hidden, never closed: a closed widget shows "Error displaying widget" on the page
    assert list(ex.widget.children) == widgets_before
    assert all(wid.comm is not None for wid in (ex.progress_bar, ex.progress_text, ex.cancel_button))

    monkeypatch.setattr(response, "MALA", posterior.MALAConfig(n_chains=4, n_steps=64, burn_in=16))
    ex.mala.button.click()
    ex.wait(timeout=60)
    assert len(ex._smoothed) == 1 and "smoothed at sigma=0.5" in ex.status.value
    assert len(ex.figures["tail"].data[3].y) > 0  # the result landed in the figures
    assert ex.mala.button.description == "compute smoothed response (MALA) (cached)"


def test_the_button_shows_a_time_measured_before_the_first_click_and_after_each_run(monkeypatch):
    monkeypatch.setattr(response, "MALA", posterior.MALAConfig(n_chains=4, n_steps=300, burn_in=20))
    monkeypatch.setattr(base, "_RATES", {})  # as in a new kernel
    ex = ResponseExplorer(family="simple_local", L=16, sigma=0.0)
    other = ResponseExplorer(family="medium_range", L=16, sigma=0.0)
    other.widget
    assert ex.mala.rate is None and "about" not in ex.mala.button.description  # headless: nothing timed
    ex.widget  # on a page: the first steps of a run are timed in the background (at sigma=0.5: 0 has none)
    _wait_for(lambda: ex.mala.rate is not None)
    assert "(about " in ex.mala.button.description
    _wait_for(lambda: "(about " in other.mala.button.description)  # timed once for both
    units = 4 * 320 * 16 ** 2
    assert ex.mala.work(ex.params()) == units
    ex.set(sigma=0.5, L=32)  # four times the sites: four times the estimate
    assert ex.mala.work(ex.params()) == 4 * units
    ex.set(L=16)
    start = time.perf_counter()
    ex.compute_smoothed()
    elapsed = time.perf_counter() - start
    # after a run, the rate is that run's: its estimate for the same work is its own duration
    assert ex.mala.rate * units == pytest.approx(elapsed, rel=0.25)
    assert ex.mala.button.description.endswith("(cached)")


def test_interactive_torch_threads(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setenv("FDLF_TORCH_THREADS", "3")
    assert base.interactive_threads() == 3
    monkeypatch.delenv("FDLF_TORCH_THREADS")
    monkeypatch.setattr(base.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False)
    assert base.interactive_threads() == 3  # a core left to the page and the rest of the machine
    monkeypatch.setattr(base.os, "sched_getaffinity", lambda pid: {0}, raising=False)
    assert base.interactive_threads() == 1


def test_numerical_noise_is_masked_and_sigma_zero_is_the_clean_stencil():
    ex = GaussianExplorer(kappa=0.3, sigma=0.2, L=128, R_eff=4)
    heat = ex.figures["heatmap"]
    row = torch.roll(gaussian.score_response(0.3, 0.2, 128), (64, 64), (0, 1))
    mag = row.abs()
    mag[64, 64] = 0
    codes = torch.tensor([[0 if v is None else v for v in r] for r in heat.data[1].z])
    noise = (mag > 0) & (mag < views.NOISE_FLOOR * mag.max())
    assert noise.sum() > 1000 and torch.equal(codes == 2, noise)  # rounding noise: masked, not coloured
    shown = torch.tensor([[v is not None for v in r] for r in heat.data[0].z])
    assert torch.equal(shown, (mag >= views.NOISE_FLOOR * mag.max()))
    assert heat.data[3].visible is True  # its legend entry says why
    tail = ex.figures["tail"]
    assert min(tail.data[0].y) >= views.NOISE_FLOOR and list(tail.data[2].y) == [views.NOISE_FLOOR] * 2
    curve = diagnostics.tail_curve(row, (64, 64))
    assert curve[-1] < views.NOISE_FLOOR  # the part of the curve left out is indeed below the floor

    ex.set(sigma=0.0, L=32)  # the clean score: the nearest-neighbour stencil, nothing beyond R = 1
    heat = ex.figures["heatmap"]
    shown = [(i, j) for i, r in enumerate(heat.data[0].z) for j, v in enumerate(r) if v is not None]
    assert sorted(shown) == [(15, 16), (16, 15), (16, 17), (17, 16)]
    assert heat.data[0].zmax == 0.0 and heat.data[0].zmin == -2.0  # one clear colour, not a +-0.4 range
    assert list(ex.figures["tail"].data[0].x) == [0] and list(ex.figures["tail"].data[1].x) == list(range(1, 17))
    assert "clean score -Qx" in heat.layout.title.text


def test_unresolved_mala_cells_are_masked(monkeypatch):
    monkeypatch.setattr(response, "MALA", posterior.MALAConfig(n_chains=4, n_steps=64, burn_in=16))
    ex = ResponseExplorer(family="simple_local", L=16, sigma=0.5)
    ex.compute_smoothed()
    est = next(iter(ex._smoothed.values()))[0]
    codes = torch.tensor([[0 if v is None else v for v in r] for r in ex.figures["heatmap"].data[1].z])
    unresolved = (est.stderr > est.value.abs()) & (est.value != 0)
    unresolved[8, 8] = False
    assert unresolved.any() and torch.equal(codes == 3, unresolved)


@pytest.mark.parametrize("L, R, probe", [(16, 3, (1, 14)), (16, 8, (8, 8)), (8, 5, (4, 4)), (32, 4, (0, 0)),
                                         (12, 5, (6, 0))])
def test_the_receptive_square_wraps_on_the_torus(L, R, probe):
    shapes = views.receptive_square(probe, R, L)
    inside = torch.zeros(L, L, dtype=torch.bool)
    for s in shapes:
        assert -0.5 <= s["x0"] < s["x1"] <= L - 0.5 and -0.5 <= s["y0"] < s["y1"] <= L - 0.5
        for i in range(L):
            for j in range(L):
                inside[i, j] |= s["y0"] < i < s["y1"] and s["x0"] < j < s["x1"]
    assert torch.equal(inside, lattice.distance_map(L, probe) <= R)


def test_layouts_hold_at_every_setting(tmp_path):
    ex = ExtrapolationExplorer(family="medium_range", R_eff=4, profile="paper")
    for name, fig in ex.figures.items():
        assert fig.layout.legend.orientation == "h" and fig.layout.legend.y < 0, name  # below: no squeeze
        assert fig.layout.showlegend is True and fig.layout.yaxis.type == "log", name
    (near_lo, near_hi), far_lo = diagnostics.NEAR_BAND, diagnostics.FAR_BAND[0]
    bands = {tuple(t.x) for t in ex.figures["response"].data if t.name.startswith("fig")}
    assert (near_lo, near_hi) in bands and (far_lo, 32) in bands  # each band error drawn across its band
    empty = ExtrapolationExplorer(results=tmp_path, checkpoints=tmp_path, profile="quick")
    for fig in empty.figures.values():  # the empty state says what to do, inside the plot
        assert "fdlf reproduce --profile quick" in fig.layout.annotations[0].text
    heat = GaussianExplorer(L=16, R_eff=16).figures["heatmap"]
    assert tuple(heat.layout.xaxis.range) == (-0.5, 15.5) and tuple(heat.layout.yaxis.range) == (15.5, -0.5)


def test_a_family_change_updates_once_with_the_family_dials(monkeypatch):
    from fdlf_core import teachers

    ex = ResponseExplorer(family="simple_local", L=16)
    calls = []
    real = ex.update
    monkeypatch.setattr(ex, "update", lambda **p: calls.append(p) or real(**p))
    ex.controls["family"].value = "complex_long"  # what the dropdown does
    assert len(calls) == 1 and all(calls[0][d] == getattr(teachers.FAMILIES["complex_long"], d) for d in response.DIALS)


def test_kappa_is_exactly_the_value_asked_for():
    ex = GaussianExplorer(kappa=0.3)
    assert ex.params()["kappa"] == 0.3 and "kappa=0.3," in ex.settings_line()
    ex.set(kappa=0.29)  # snaps to the nearest round value
    assert ex.params()["kappa"] == 0.3
    ex.set(kappa=1e-9)
    assert ex.params()["kappa"] == 0.01


def _slow_action(ex, computed, gate=None, fail=False):
    """A button on ``ex`` whose run has 3 loop steps, then waits for ``gate``; it stores into ``computed``."""
    def compute():
        if fail:
            raise ValueError("simulated failure")
        for _ in progress.bar(3, "test steps", show=False):
            pass
        if gate is not None:
            gate.wait(timeout=30)
        return 42

    return ex.add_action("slow", lambda p: base.Job("the slow run", compute, computed.append),
                         lambda p: 100.0, targets=("tail",))


def test_a_cancel_after_the_last_step_keeps_nothing():
    import threading

    ex, computed, gate = GaussianExplorer(), [], threading.Event()
    action = _slow_action(ex, computed, gate)
    action.button.click()
    _wait_for(lambda: ex.progress_bar.value == 1.0)  # every loop step done, the run still going
    ex.cancel()
    gate.set()
    ex.wait(timeout=30)
    assert computed == [] and "(cancelled: the slow run" in ex.status.value and not ex.busy


def test_a_failure_while_a_run_starts_leaves_the_explorer_usable(monkeypatch):
    ex, computed = GaussianExplorer(), []
    action = _slow_action(ex, computed)

    def no_thread(*args, **kwargs):
        raise RuntimeError("can't start new thread")
    monkeypatch.setattr(base, "_start_background", no_thread)
    with pytest.raises(RuntimeError, match="can't start new thread"):
        ex.run(action, background=True)  # what a click does
    assert not ex.busy and not action.button.disabled and ex.progress_row.layout.display == "none"
    monkeypatch.undo()
    ex.run(action)  # and the next run works
    assert computed == [42]


def test_a_button_whose_result_is_cached_does_not_run_again(monkeypatch):
    monkeypatch.setattr(response, "MALA", posterior.MALAConfig(n_chains=4, n_steps=64, burn_in=16))
    ex = ResponseExplorer(family="simple_local", L=16, sigma=0.5)
    calls = []
    real = posterior.smoothed_response
    monkeypatch.setattr(posterior, "smoothed_response", lambda *a, **k: calls.append(1) or real(*a, **k))
    ex.compute_smoothed()
    assert ex.mala.button.description.endswith("(cached)")
    ex.mala.button.click()
    ex.wait(timeout=30)
    assert len(calls) == 1 and "already computed for these settings" in ex.status.value


def test_a_failed_timing_run_is_not_retried(monkeypatch):
    monkeypatch.setattr(base, "_RATES", {})
    monkeypatch.setattr(base, "_UNTIMED", set())
    ex, computed = GaussianExplorer(), []
    action = _slow_action(ex, computed, fail=True)
    ex.widget
    _wait_for(lambda: action.key in base._UNTIMED)
    for sigma in (0.5, 1.5, 2.5):
        ex.set(sigma=sigma)
    assert action.key not in base._CALIBRATING and action.rate is None
    assert action.button.description == "slow"  # no estimate, and no "(timing...)" for ever


def test_the_tail_ends_at_half_the_lattice_without_a_false_zero():
    ex = GaussianExplorer(kappa=0.3, sigma=1.0, L=16)
    tail = ex.figures["tail"]
    assert list(tail.data[1].x) == [] and tail.layout.yaxis.range[0] > -12  # the axis fits the curve
