"""teachers: exact density, score and response of the FDLF families.

References: change of variables with ``slogdet`` of the dense autograd Jacobian (density); central
finite differences of ``log_prob`` (score); the autograd Hessian and finite differences of ``score``
(response); the Stein identity E[s(x) x^T] = -I (score and density normalisation together).
"""
import dataclasses
import json
import math

import pytest
import torch

from fdlf_core import lattice, teachers
from fdlf_core.diagnostics import tail_fraction


FAMILIES = list(teachers.FAMILIES)

# Paper Appendix C, Table 2: (smoother depth, cutoff, power, pre depth, flow depth, nonlinear, mean stress).
TABLE_2 = {
    "simple_local": (0, None, None, 1, 1, None, 0.0),
    "complex_local": (1, 1, -1.0, 1, 1, True, 0.0),
    "medium_range": (3, 5, -0.75, 2, 2, True, 0.0),
    "complex_long": (6, 8, 0.0, 2, 2, True, 0.005),
    "complex_long_printed": (6, 8, 0.0, 2, 2, True, 0.005),
}


@pytest.mark.parametrize("family", FAMILIES)
def test_families_follow_table_2(family):
    depth, cutoff, power, pre, flow, nonlinear, gamma = TABLE_2[family]
    cfg = teachers.FAMILIES[family]
    assert (cfg.smoother_depth, cfg.pre_depth, cfg.flow_depth, cfg.gamma_scale) == (depth, pre, flow, gamma)
    if depth:
        assert (cfg.cutoff, cfg.power, cfg.nonlinear) == (cutoff, power, nonlinear)


def test_locality_radii():
    # r = sum of layer radii: couplings 1 each (2 per depth unit), smoothers `cutoff` each (2 per unit).
    assert {f: teachers.make(f).locality_radius for f in FAMILIES} == {
        "simple_local": 4, "complex_local": 6, "medium_range": 8 + 30, "complex_long": 8 + 96,
        "complex_long_printed": 8 + 96}


def test_long_range_stress_readings():
    # complex_long: the printed map read data -> latent with L^-1 (calibrated); complex_long_printed: as printed
    long, printed = teachers.make("complex_long"), teachers.make("complex_long_printed")
    assert (long.config.stress_norm_power, long.config.stress_contract, long.config.smoother_strength) == \
        (1.0, True, 0.4)
    assert (printed.config.stress_norm_power, printed.config.stress_contract,
            printed.config.smoother_strength) == (2.0, False, 0.75)
    assert long.flow.layers[-1].gain(64) == pytest.approx(0.005 * 64 ** 2.5) and long.flow.layers[-1].contract
    assert printed.flow.layers[-1].gain(64) == pytest.approx(0.005 * 64 ** 1.5)
    assert not printed.flow.layers[-1].contract


def test_id_fields_leave_out_later_fields_at_their_old_values():
    old = dataclasses.asdict(teachers.FAMILIES["medium_range"])
    assert "stress_contract" not in teachers.id_fields(old) and "stress_norm_power" not in teachers.id_fields(old)
    new = teachers.id_fields(dataclasses.asdict(teachers.FAMILIES["complex_long"]))
    assert (new["stress_contract"], new["stress_norm_power"]) == (True, 1.0)


@pytest.mark.parametrize("family", FAMILIES)
def test_config_round_trips_through_json(family):
    t = teachers.make(family, seed=7, cutoff=3)
    back = teachers.TeacherConfig.from_json(t.config.to_json())
    assert back == t.config and json.loads(t.config.to_json())["seed"] == 7


@pytest.mark.parametrize("family", FAMILIES)
def test_log_prob_is_change_of_variables(family, gen):
    # log p(x) = log N(T^-1 x; 0, I) + log|det d T^-1 / dx|, Jacobian by dense autograd at L = 4.
    t = teachers.make(family)
    x = t.sample(3, 4, gen(0))
    lp = t.log_prob(x)
    for k in range(3):
        jac = torch.autograd.functional.jacobian(
            lambda v: t.flow.inverse(v.reshape(1, 4, 4))[0].reshape(-1), x[k].reshape(-1))
        z = t.flow.inverse(x[k:k + 1])[0]
        ref = -0.5 * (z ** 2).sum() - 8 * math.log(2 * math.pi) + torch.linalg.slogdet(jac)[1]
        torch.testing.assert_close(lp[k], ref, atol=1e-10, rtol=1e-12)


@pytest.mark.parametrize("family", FAMILIES)
def test_score_is_gradient_of_log_prob(family, gen):
    t = teachers.make(family)
    x = t.sample(2, 6, gen(1))
    s = t.score(x)
    h = 1e-5
    for r, c in [(0, 0), (2, 3), (5, 4)]:
        e = torch.zeros_like(x)
        e[:, r, c] = h
        fd = (t.log_prob(x + e) - t.log_prob(x - e)) / (2 * h)
        torch.testing.assert_close(s[:, r, c], fd, atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("family", FAMILIES)
def test_response_is_hessian_row(family, gen):
    t = teachers.make(family)
    x = t.sample(1, 4, gen(2))
    hess = torch.autograd.functional.hessian(lambda v: t._log_prob(v.reshape(1, 4, 4)).sum(), x.reshape(-1))
    for site in [(0, 0), (1, 2)]:
        row = t.response(x, site)
        torch.testing.assert_close(row.reshape(-1), hess[site[0] * 4 + site[1]], atol=1e-10, rtol=1e-10)
    # and the finite difference of the exact score (column == row: the Hessian is symmetric)
    x8 = t.sample(1, 8, gen(3))
    h = 1e-6
    e = torch.zeros_like(x8)
    e[0, 3, 5] = h
    fd = (t.score(x8 + e) - t.score(x8 - e)) / (2 * h)
    torch.testing.assert_close(t.response(x8, (3, 5)), fd, atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("family", FAMILIES)
def test_stein_identity(family, gen):
    # E[s(x) x^T] = -I for any smooth density with decaying tails (integration by parts). At L = 4 the
    # 16 x 16 matrix is estimated from 40000 samples; every entry must lie within 5 standard errors.
    t = teachers.make(family)
    x = t.sample(40000, 4, gen(4))
    s = t.score(x).reshape(-1, 16)
    prod = s[:, :, None] * x.reshape(-1, 16)[:, None, :]      # (n, 16, 16)
    mean, sem = prod.mean(0), prod.std(0) / math.sqrt(prod.shape[0])
    z = (mean + torch.eye(16, dtype=torch.float64)) / sem
    assert z.abs().max() < 5.0, f"max |z| = {z.abs().max():.2f}"


@pytest.mark.parametrize("family,L", [("simple_local", 20), ("complex_local", 28), ("medium_range", 160)])
def test_response_support_within_2r(family, L, gen):
    # Paper Prop. 1: the clean score at a site depends only on sites within 2r.
    t = teachers.make(family)
    r2 = 2 * t.locality_radius
    assert L // 2 > r2
    x = t.sample(2, L, gen(5))
    site = (L // 2, 3)
    row = t.response(x, site)
    d = lattice.distance_map(L, site)
    assert (row[:, d > r2] == 0).all()
    assert (row[:, d == 1] != 0).all()


def test_long_range_family_responds_everywhere(gen):
    t = teachers.make("complex_long")
    row = t.response(t.sample(1, 16, gen(6)), (0, 0))
    assert (row != 0).all()


@pytest.mark.parametrize("family", FAMILIES)
def test_equivariant_under_even_shifts_only(family, gen):
    t = teachers.make(family)
    x = t.sample(2, 8, gen(7))
    s = t.score(x)
    torch.testing.assert_close(t.score(torch.roll(x, (1, 1), (1, 2))), torch.roll(s, (1, 1), (1, 2)),
                               atol=1e-12, rtol=1e-12)
    torch.testing.assert_close(t.score(torch.roll(x, (2, 0), (1, 2))), torch.roll(s, (2, 0), (1, 2)),
                               atol=1e-12, rtol=1e-12)
    odd = t.score(torch.roll(x, (0, 1), (1, 2))) - torch.roll(s, (0, 1), (1, 2))
    assert odd.abs().max() > 1e-3  # the checkerboard genuinely breaks odd shifts


def test_seed_controls_parameters_and_depth_overrides_keep_other_layers(gen):
    a, b = teachers.make("medium_range", seed=0), teachers.make("medium_range", seed=1)
    x = a.sample(1, 8, gen(8))
    assert not torch.allclose(a.score(x), b.score(x))
    torch.testing.assert_close(teachers.make("medium_range", seed=0).score(x), a.score(x), atol=0, rtol=0)
    deeper = teachers.make("medium_range", smoother_depth=4)
    for k in range(8):  # the 8 coupling layers are unchanged by the smoother depth
        torch.testing.assert_close(deeper.flow.layers[k].w1, a.flow.layers[k].w1, atol=0, rtol=0)


def test_sampling_is_reproducible(gen):
    t = teachers.make("complex_local")
    torch.testing.assert_close(t.sample(3, 8, gen(9)), t.sample(3, 8, gen(9)), atol=0, rtol=0)


def test_fewer_samples_from_the_same_seed_are_the_first_of_more():
    # what lets evaluations with different n (the floor's 8, Fig. 2's 4) be compared on their common samples
    t = teachers.make("complex_long")
    draw = lambda n: t.sample(n, 8, torch.Generator().manual_seed(10_000))
    torch.testing.assert_close(draw(2), draw(5)[:2], atol=0, rtol=0)


# Measured calibration (docs/calibration.md): fraction of |d s_i / d x_j| beyond R at L = 64,
# 8 samples, probe at the centre. The bounds encode the roles of paper Table 4.
@pytest.mark.parametrize("family,R,low,high", [
    ("simple_local", 4, 0.0, 0.01), ("complex_local", 4, 0.0, 0.01),
    ("medium_range", 4, 0.25, 0.6), ("medium_range", 8, 0.02, 0.15), ("medium_range", 14, 0.0, 0.01),
    ("complex_long", 8, 0.8, 1.0), ("complex_long", 14, 0.6, 1.0),
])
def test_response_tail_calibration(family, R, low, high, gen):
    t = teachers.make(family)
    row = t.response(t.sample(8, 64, gen(10)), (32, 32))
    frac = tail_fraction(row, (32, 32), R).mean().item()
    assert low <= frac <= high, f"{family} tail beyond R={R}: {frac:.4f} not in [{low}, {high}]"


@pytest.mark.parametrize("call,match", [
    (lambda: teachers.make("nope"), "family must be one of"),
    (lambda: teachers.make("simple_local", depth=3), "unknown teacher override"),
    (lambda: teachers.make("simple_local", cutoff=0), "cutoff must be"),
    (lambda: teachers.make("simple_local", smoother_depth=-1), "smoother_depth must be"),
    (lambda: teachers.make("simple_local", gamma_scale=-0.1), "gamma_scale must be"),
    (lambda: teachers.make("simple_local", nonlinear=1), "nonlinear must be a bool"),
    (lambda: teachers.make("complex_long", stress_contract=1), "stress_contract must be a bool"),
    (lambda: teachers.make("complex_long", stress_norm_power=3.0), "stress_norm_power must be"),
    (lambda: teachers.make("simple_local").sample(0, 8), "n must be"),
    (lambda: teachers.make("simple_local").sample(2, 8, generator=0), "generator must be"),
    (lambda: teachers.make("medium_range", power=1000.0), "power must lie in"),
    (lambda: teachers.make("medium_range", cutoff=10 ** 6), "cutoff must be"),
    (lambda: teachers.make("medium_range", smoother_strength=10 ** 400), "smoother_strength must be"),
    (lambda: teachers.TeacherConfig.from_json('{"family": "simple_local", "depth": 2}'), "unknown TeacherConfig"),
    (lambda: teachers.make("simple_local").sample(2, 7), "L must be an even"),
    (lambda: teachers.make("simple_local").sample(2, 2), "L must be an even"),
    (lambda: teachers.make("simple_local").score(torch.zeros(8, 8)), r"shape \(n, L, L\)"),
    (lambda: teachers.make("simple_local").log_prob(torch.full((1, 8, 8), float("nan"))), "finite"),
    (lambda: teachers.make("simple_local").response(torch.zeros(1, 8, 8), (8, 0)), "site must lie inside"),
])
def test_bad_input(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()


@pytest.mark.parametrize("method", ["score", "log_prob"])
def test_a_field_whose_square_overflows_float64_is_refused_not_a_silent_nan(method):
    teacher = teachers.make("simple_local")
    x = torch.full((1, 8, 8), 1e150, dtype=torch.float64)
    assert torch.isfinite(getattr(teacher, method)(x)).all()
    with pytest.raises(ValueError, match=r"x must have \|x\| <= 1.34e\+154 to be computed in torch.float64"):
        getattr(teacher, method)(x * 1e150)
