"""The continuous channel given (b, a): exactly invertible, log-dets against dense Jacobians, log p by change
of variables, the score against finite differences, empty sites untouched, a finite response range."""
import pytest
import torch

from fdlf_core.hardvalid import continuous, labels, ports, teacher

LOGITS = torch.randn(37, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
TYPES = labels.make_type_channel(seed=1)
# small conditioners keep the dense-Jacobian checks fast; the structure is the paper's
SMALL = dict(embed=4, hidden=8, flow_depth=2, smoother_depth=1, cutoff=2, seed=2)


def _state(L, n=1, seed=0, **kwargs):
    g = torch.Generator().manual_seed(seed)
    channel = continuous.make_continuous_channel(**{**SMALL, **kwargs})
    b = ports.sample_ports(LOGITS, n, L, generator=g)
    a = labels.sample_labels(TYPES, b, generator=g)
    return channel, b, a, channel.sample(b, a, generator=g)


def _occupied_coordinates(b, d_c):
    return ports.occupied(b)[:, None].expand(-1, d_c, -1, -1, -1)


def test_samples_are_zero_on_empty_sites_and_the_map_inverts_exactly():
    channel, b, a, c = _state(6, n=3)
    assert (c[~_occupied_coordinates(b, channel.d_c)] == 0).all() and c.abs().sum() > 0
    ctx = channel.context(b, a)
    x = c
    for layer in reversed(channel.layers):  # each layer: forward(inverse(x)) = x, opposite log-dets
        z, inverse_logdet = layer.inverse(x, ctx)
        again, forward_logdet = layer.forward(z, ctx)
        assert torch.allclose(again, x, rtol=0, atol=1e-12)
        assert torch.allclose(forward_logdet, -inverse_logdet, rtol=0, atol=1e-12)
        x = z
    for layer in channel.layers:
        x, _ = layer.forward(x, ctx)
    assert torch.allclose(x, c, rtol=0, atol=1e-12)


def test_log_p_is_the_change_of_variables_with_a_dense_jacobian():
    channel, b, a, c = _state(4, seed=1)
    mask = _occupied_coordinates(b, channel.d_c)[0]
    ctx = channel.context(b, a)

    def inverse(flat):  # occupied coordinates of c -> those of z
        field = torch.zeros_like(c[0])
        field[mask] = flat
        z = field[None]
        for layer in reversed(channel.layers):
            z, _ = layer.inverse(z, ctx)
        return z[0][mask]

    jac = torch.autograd.functional.jacobian(inverse, c[0][mask])
    sign, logdet = torch.linalg.slogdet(jac)
    z = inverse(c[0][mask])
    mu, log_var = (t[0][mask] for t in channel._base(b, a))
    base = (-0.5 * ((z - mu) ** 2 * torch.exp(-log_var) + log_var + torch.log(torch.tensor(2 * torch.pi)))).sum()
    assert float(sign) == 1.0 and mask.sum() > 4
    assert float(channel.log_prob(c, b, a)[0]) == pytest.approx(float(base + logdet), abs=1e-10)


def test_the_score_matches_finite_differences_and_is_zero_on_empty_sites():
    channel, b, a, c = _state(4, seed=2)
    score = channel.score(c, b, a)
    mask = _occupied_coordinates(b, channel.d_c)
    assert (score[~mask] == 0).all()
    h = 1e-5
    for idx in mask.nonzero()[:6].tolist():
        up, down = c.clone(), c.clone()
        up[tuple(idx)] += h
        down[tuple(idx)] -= h
        fd = (channel.log_prob(up, b, a) - channel.log_prob(down, b, a)) / (2 * h)
        assert float(score[tuple(idx)]) == pytest.approx(float(fd[0]), rel=1e-6, abs=1e-7)


def test_the_response_stays_within_twice_the_radius():
    channel, b, a, c = _state(20, seed=3, flow_depth=2, smoother_depth=1, cutoff=1)
    R = channel.radius
    assert R == 4
    mask = ports.occupied(b)[0]
    probe = min(mask.nonzero().tolist(), key=lambda s: sum(abs(v - 10) for v in s))
    with torch.enable_grad():
        x = c.clone().requires_grad_(True)
        log_p = channel.log_prob(x, b, a).sum()
        (grad,) = torch.autograd.grad(log_p, x, create_graph=True)
        (row,) = torch.autograd.grad(grad[(0, 0, *probe)], x)
    dist = teacher.distance_map3(20, tuple(probe))
    response = row[0].abs().sum(0)
    assert response[dist > 2 * R].max() == 0 and response[(dist > 0) & (dist <= 2)].max() > 0


def test_bad_settings_are_named():
    with pytest.raises(ValueError, match="scale_clip must be"):
        continuous.make_continuous_channel(scale_clip=100.0)
    with pytest.raises(ValueError, match="cutoff must be"):
        continuous.make_continuous_channel(cutoff=0)
    with pytest.raises(ValueError, match="power must be in"):
        continuous.make_continuous_channel(power=-20.0)


def test_the_smoother_is_its_definition():
    """``c_i += sum_j w(dist(i, j)) tanh(c_j)`` over occupied i of the class, j of the other, summed directly."""
    channel, b, a, c = _state(6, seed=4, flow_depth=0, smoother_depth=1, cutoff=2, power=-1.5, strength=0.7)
    smoother = channel.layers[0]
    ctx = channel.context(b, a)
    out, logdet = smoother.forward(c, ctx)
    occ = ports.occupied(b)[0]
    expected = c.clone()
    sites = [tuple(s) for s in torch.cartesian_prod(*[torch.arange(6)] * 3).tolist()]
    for i in sites:
        if sum(i) % 2 != smoother.parity or not occ[i]:
            continue
        for j in sites:
            dist = max(abs(p - q) for p, q in zip(i, j))
            if sum(j) % 2 != smoother.parity and 0 < dist <= 2:
                expected[(0, slice(None), *i)] += smoother.weight(dist) * torch.tanh(c[(0, slice(None), *j)])
    assert torch.allclose(out, expected, rtol=0, atol=1e-13) and logdet.tolist() == [0.0]
    # the normalisation: the weights over every opposite-class offset of an infinite lattice sum to strength
    r = range(-2, 3)
    total = sum(smoother.weight(max(abs(x), abs(y), abs(z))) for x in r for y in r for z in r if (x + y + z) % 2)
    assert total == pytest.approx(0.7, abs=1e-14)
