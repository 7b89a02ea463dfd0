"""diagnostics: Eq. 16 and Eq. 17 against exact limiting cases, Eq. 5 tails against hand-made rows."""
import json
import math

import pytest
import torch
from torch import nn

from fdlf_core import diagnostics, lattice, teachers
from fdlf_core.models import LocalCNN



class ExactScore(nn.Module):
    """A 'model' that returns the teacher's exact clean score (the perfect student)."""

    def __init__(self, teacher):
        super().__init__()
        self.teacher = teacher
        self.dummy = nn.Parameter(torch.zeros((), dtype=torch.float64))

    def forward(self, x, sigma):
        return self.teacher.score(x)


class Zero(nn.Module):
    def __init__(self):
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros((), dtype=torch.float64))

    def forward(self, x, sigma):
        return torch.zeros_like(x)


class Squeezed(nn.Module):
    """A broken model whose output would silently broadcast: (n, 1, 1)."""

    def forward(self, x, sigma):
        return x[:, :1, :1]


@pytest.mark.parametrize("family", ["simple_local", "complex_long"])
def test_exact_student_scores_zero_and_silent_student_scores_one(family):
    t = teachers.make(family)
    assert diagnostics.score_rmse(ExactScore(t), t, 8, n=2) == 0.0
    assert diagnostics.score_rmse(Zero(), t, 8, n=2) == pytest.approx(1.0, abs=1e-15)
    exact = diagnostics.response_errors(ExactScore(t), t, 8, n=3)
    silent = diagnostics.response_errors(Zero(), t, 8, n=3)
    assert exact["near"] == 0.0 and silent["near"] == pytest.approx(1.0)
    if family == "simple_local":  # its far band holds < 5 % of the response: the relative error is undefined
        assert math.isnan(exact["far"]) and math.isnan(silent["far"])
    else:
        assert exact["far"] == 0.0 and silent["far"] == pytest.approx(1.0)


def test_response_definition_is_recorded():
    t = teachers.make("simple_local")
    d = diagnostics.response_errors(Zero(), t, 16, n=2, seed=4)["definition"]
    assert d["near_band"] == [1, 2] and d["far_band"] == [3, 8] and d["delta"] == 0.01
    assert d["sigma"] == 0.005 and d["n"] == 2 and d["seed"] == 4


def test_response_profile_matches_teacher_jacobian_and_model_locality():
    # The exact profile is the finite difference of the exact score: for a shell shift it equals the
    # sum of the Jacobian row over the shell (linear response), up to O(delta).
    t = teachers.make("medium_range")
    L, n = 16, 3
    prof = diagnostics.response_profile(Zero(), t, L, n=n, seed=1, delta=1e-6)
    x, probes, dist = diagnostics._probe_setup(t, L, n, 1)
    lin = torch.zeros(n, L // 2)
    for k in range(n):
        row = t.response(x[k:k + 1], (int(probes[k, 0]), int(probes[k, 1])))[0]
        for d in range(1, L // 2 + 1):
            lin[k, d - 1] = row[dist[k] == d].sum()
    torch.testing.assert_close(prof["exact"], lin.double().pow(2).mean(0).sqrt(), atol=1e-5, rtol=1e-5)
    # a radius-R model cannot respond beyond R: relative error exactly 1 there
    model = LocalCNN.from_radius(3, width=4)
    prof = diagnostics.response_profile(model, t, L, n=n, seed=1)
    assert (prof["model"][3:] == 0).all() and (prof["relative_error"][3:] == 1).all()
    assert (prof["model"][:3] > 0).all()


def test_evaluation_is_reproducible():
    t = teachers.make("complex_local")
    m = LocalCNN(1, 4)
    assert diagnostics.score_rmse(m, t, 8, seed=3) == diagnostics.score_rmse(m, t, 8, seed=3)
    first, again = (json.dumps(diagnostics.response_errors(m, t, 8, seed=3), sort_keys=True) for _ in range(2))
    assert first == again  # as text, so an undefined (NaN) band compares equal to itself


def test_tail_fraction_hand_computed():
    L, site = 8, (2, 2)
    d = lattice.distance_map(L, site)
    row = torch.where(d == 0, 5.0, 1.0 / d.clamp(min=1).double()).double()  # |row| = 1/d off site
    for R in range(0, L // 2 + 1):
        expected = row[d > R].sum() / row[d > 0].sum()
        assert diagnostics.tail_fraction(row, site, R) == pytest.approx(float(expected), rel=1e-15)
    assert diagnostics.tail_fraction(row, site, 0) == 1.0 and diagnostics.tail_fraction(row, site, 4) == 0.0
    batch = torch.stack([row, -2 * row])  # signs do not matter (operator norm), scale cancels
    torch.testing.assert_close(diagnostics.tail_fraction(batch, site, 2), torch.full((2,), float(
        row[d > 2].sum() / row[d > 0].sum()), dtype=torch.float64))


@pytest.mark.parametrize("call,match", [
    (lambda: diagnostics.tail_fraction(torch.ones(8, 8), (8, 0), 2), "site must lie inside"),
    (lambda: diagnostics.tail_fraction(torch.ones(8, 8), (0, 0), -1), "R must be"),
    (lambda: diagnostics.tail_fraction(torch.ones(8), (0, 0), 1), r"shape \(L, L\)"),
    (lambda: diagnostics.tail_fraction([[1.0]], (0, 0), 1), "torch.Tensor"),
    (lambda: diagnostics.tail_fraction(torch.zeros(8, 8), (0, 0), 1), "no off-site response"),
    (lambda: diagnostics.score_rmse(LocalCNN(1, 4), teachers.make("simple_local"), 9), "L must be"),
    (lambda: diagnostics.score_rmse(LocalCNN(1, 4), teachers.make("simple_local"), 8, n=0), "n must be"),
    (lambda: diagnostics.score_rmse(LocalCNN(1, 4), teachers.make("simple_local"), 8, sigma=0), "sigma must be"),
    (lambda: diagnostics.score_rmse("model", teachers.make("simple_local"), 8), "model must be"),
    (lambda: diagnostics.response_errors(LocalCNN(1, 4), "simple_local", 8), "teacher must be"),
    (lambda: diagnostics.response_profile(LocalCNN(1, 4), teachers.make("simple_local"), 8, max_distance=5),
     "max_distance must be"),
    (lambda: diagnostics.response_errors(LocalCNN(1, 4), teachers.make("simple_local"), 4), "L must be >= 6"),
    (lambda: diagnostics.score_rmse(Squeezed(), teachers.make("simple_local"), 8), "input's shape"),
])
def test_bad_input(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()


def test_tail_curve_is_the_tail_fraction_at_every_radius():
    teacher = teachers.make("medium_range", seed=0)
    x = teacher.sample(2, 16, generator=torch.Generator().manual_seed(0))
    rows = teacher.response(x, site=(3, 5))
    curve = diagnostics.tail_curve(rows, (3, 5))
    assert curve.shape == (2, 9) and torch.all(curve[:, 0] == 1) and torch.all(curve[:, -1] == 0)
    assert torch.all(curve[:, 1:] <= curve[:, :-1])
    dist = lattice.distance_map(16, (3, 5))
    for R in range(9):
        brute = rows.abs()[:, dist > R].sum(-1) / rows.abs()[:, dist > 0].sum(-1)
        assert torch.allclose(curve[:, R], brute, atol=1e-14)
        assert diagnostics.tail_fraction(rows[0], (3, 5), R) == pytest.approx(float(brute[0]), abs=1e-14)
    assert diagnostics.tail_fraction(rows[0], (3, 5), 100) == 0.0


@pytest.mark.parametrize("family", ["simple_local", "medium_range", "complex_long"])
def test_errors_over_the_total_response(family):
    t = teachers.make(family)
    silent = diagnostics.response_errors(Zero(), t, 16, n=4, seed=1)
    share = silent["definition"]["near_share"], silent["definition"]["far_share"]
    # a model with no response scores each band's share of the total, and the shares make up the total
    assert (silent["near_of_total"], silent["far_of_total"]) == pytest.approx(share, rel=1e-12)
    assert share[0] ** 2 + share[1] ** 2 == pytest.approx(1.0, rel=1e-12)
    for band, s in zip(("near", "far"), share):  # relative errors: 1 where defined, NaN where the band is ~empty
        assert silent[band] == pytest.approx(1.0) if s >= diagnostics.UNDEFINED_BELOW else math.isnan(silent[band])
    exact = diagnostics.response_errors(ExactScore(t), t, 16, n=4, seed=1)
    assert exact["near_of_total"] == exact["far_of_total"] == 0.0


def test_a_local_teachers_far_band_is_undefined_and_a_long_ones_is_not():
    local = diagnostics.response_errors(Zero(), teachers.make("simple_local"), 32, n=4, seed=2)
    long = diagnostics.response_errors(Zero(), teachers.make("complex_long"), 32, n=4, seed=2)
    assert local["definition"]["far_share"] < diagnostics.UNDEFINED_BELOW and math.isnan(local["far"])
    assert long["definition"]["far_share"] > 0.3 and long["far"] == pytest.approx(1.0)
