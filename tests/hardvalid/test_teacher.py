"""The hard-valid teacher as a whole: exact log p as the sum of its channels, the score and response on
occupied sites only, clear errors for bad states, the same rule at every L."""
import pytest
import torch

from fdlf_core.hardvalid import labels, ports, teacher

SMALL = dict(embed=4, hidden=8)  # the paper's structure, a small conditioner for speed


@pytest.mark.parametrize("family", list(teacher.FAMILIES))
def test_samples_are_valid_and_log_p_is_the_sum_of_the_channels(family):
    t = teacher.make(family, seed=1, **SMALL)
    s = t.sample(3, 6, generator=torch.Generator().manual_seed(0))
    assert ports.port_violations(s.b).sum() == 0 and torch.equal(s.a == 0, s.b == 0)
    assert (s.c[(~s.occupied())[:, None].expand_as(s.c)] == 0).all()
    parts = (ports.log_prob_ports(t.port_logits, s.b) + labels.log_prob_labels(t.types, s.a, s.b)
             + t.continuous.log_prob(s.c, s.b, s.a))
    assert torch.allclose(t.log_prob(s), parts, rtol=0, atol=1e-12) and torch.isfinite(parts).all()


def test_same_seed_same_teacher_and_samples():
    one, two = teacher.make("hv_medium", seed=5, **SMALL), teacher.make("hv_medium", seed=5, **SMALL)
    a = one.sample(2, 4, generator=torch.Generator().manual_seed(1))
    b = two.sample(2, 4, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a.b, b.b) and torch.equal(a.a, b.a) and torch.equal(a.c, b.c)
    assert not torch.equal(teacher.make("hv_medium", seed=6, **SMALL).port_logits, one.port_logits)


def test_the_response_row_is_the_derivative_of_the_score():
    t = teacher.make("hv_medium", seed=2, **SMALL)
    s = t.sample(1, 6, generator=torch.Generator().manual_seed(3))
    site = tuple(s.occupied()[0].nonzero()[0].tolist())
    row = t.response(s, site, channel=1)
    j = tuple(s.occupied()[0].nonzero()[-1].tolist())
    h = 1e-5
    up, down = s.c.clone(), s.c.clone()
    up[(0, 0, *j)] += h
    down[(0, 0, *j)] -= h
    fd = (t.score(teacher.State(s.b, s.a, up)) - t.score(teacher.State(s.b, s.a, down)))[(0, 1, *site)] / (2 * h)
    assert float(row[(0, 0, *j)]) == pytest.approx(float(fd), rel=1e-5, abs=1e-8)
    assert (row[(~s.occupied())[:, None].expand_as(row)] == 0).all()


def test_bad_states_and_sites_are_named():
    t = teacher.make("hv_local", seed=0, **SMALL)
    s = t.sample(1, 4, generator=torch.Generator().manual_seed(4))
    empty = tuple((~s.occupied()[0]).nonzero()[0].tolist())
    with pytest.raises(ValueError, match=r"site .* is empty in some configuration"):
        t.response(s, empty)
    with pytest.raises(ValueError, match=r"site\[0\] must be"):
        t.response(s, (9, 0, 0))
    with pytest.raises(ValueError, match="state.c must be 0 on empty sites"):
        c = s.c.clone()
        c[(0, 0, *empty)] = 1.0
        t.score(teacher.State(s.b, s.a, c))
    with pytest.raises(ValueError, match="state.b is not a valid port configuration"):
        b = s.b.clone()
        b[0, 0, 0, 0] = 1 << 1  # a port facing the boundary
        t.log_prob(teacher.State(b, s.a, s.c))
    with pytest.raises(ValueError, match="L must be even"):
        t.sample(1, 5)
    with pytest.raises(ValueError, match="family must be one of"):
        teacher.make("nope")
    with pytest.raises(ValueError, match="unknown HardValidConfig field"):
        teacher.make("hv_local", depth=3)


def test_the_far_to_near_ratio_orders_the_families():
    """Fig. 3's inset: the teachers' own far-to-near response ratio grows with the smoother's range (L=12,
    4 samples, exact Jacobian rows). Measured: hv_local 0.023, hv_medium 0.14, hv_long 5.6 (its far band holds
    most of the response)."""
    means = {f: float(teacher.far_to_near(teacher.make(f, seed=0), 12, n=4).mean()) for f in teacher.FAMILIES}
    assert means["hv_local"] < means["hv_medium"] < means["hv_long"], means
    assert means["hv_local"] < 0.1 and means["hv_long"] > 1.0, means


def test_the_clean_response_stays_within_twice_the_teachers_radius():
    t = teacher.make("hv_local", seed=0, **SMALL)
    s = t.sample(1, 20, generator=torch.Generator().manual_seed(7))
    probe = teacher.central_probe(s)
    row = t.response(s, probe)[0].abs().sum(0)
    dist = teacher.distance_map3(20, probe)
    assert t.locality_radius == 4 and row[dist > 2 * t.locality_radius].max() == 0 and row[dist == 1].max() > 0


def _embedded(s: teacher.State, L: int, offset: int) -> teacher.State:
    """``s`` placed in an ``L`` box at ``(offset,) * 3``, empty elsewhere (``offset`` even: the 2x2x2 block
    tiling and the site parity are kept, and no port faces the new boundary either)."""
    n, l = s.b.shape[0], s.L
    inner = (slice(None), *(slice(offset, offset + l),) * 3)
    b, a = torch.zeros(n, L, L, L, dtype=torch.int64), torch.zeros(n, L, L, L, dtype=torch.int64)
    c = torch.zeros(n, s.c.shape[1], L, L, L, dtype=torch.float64)
    b[inner], a[inner] = s.b, s.a
    c[(slice(None), slice(None), *inner[1:])] = s.c
    return teacher.State(b, a, c)


@pytest.mark.parametrize("family", list(teacher.FAMILIES))
def test_the_score_is_translation_equivariant_and_the_open_boundary_is_empty_space(family):
    # the continuous channel treats the box's outside exactly as empty sites (zero padding of c and of the
    # motif/label channels, smoother sums over occupied sites only): a sample moved into a larger box, with
    # empty sites around it, has the same conditional score everywhere, not only away from the boundary
    t = teacher.make(family, seed=0, **SMALL)
    s = t.sample(2, 8, generator=torch.Generator().manual_seed(11))
    big = _embedded(s, 14, 4)
    inner = (slice(None), slice(None), *(slice(4, 12),) * 3)
    score = t.score(big)
    torch.testing.assert_close(score[inner], t.score(s), rtol=0, atol=1e-12)
    score[inner] = 0
    assert (score == 0).all()  # and zero outside it


def test_stein_identities_hold_on_the_occupied_coordinates():
    # E[s_i] = 0 and E[s_i c_i] = -1 for every occupied coordinate (integration by parts against p(c | b, a));
    # per sample, the mean over its occupied coordinates; Monte Carlo over 4000 samples, 4.5 standard errors
    t = teacher.make("hv_medium", seed=0, **SMALL)
    s = t.sample(4000, 4, generator=torch.Generator().manual_seed(12))
    score, mask = t.score(s), s.mask.expand_as(s.c).to(torch.float64)
    count = mask.flatten(1).sum(1)
    keep = count > 0
    first = ((score * mask).flatten(1).sum(1) / count.clamp(min=1))[keep]
    second = ((score * s.c * mask).flatten(1).sum(1) / count.clamp(min=1))[keep]
    for values, expected in ((first, 0.0), (second, -1.0)):
        stderr = values.std() / values.numel() ** 0.5
        assert abs(float(values.mean()) - expected) < 4.5 * float(stderr), (float(values.mean()), float(stderr))
