"""flows: the shared invertible-layer test (STYLE rule 9).

References: inverse(forward(z)) == z; forward and inverse log-dets cancel; the log-det equals
``slogdet`` of the dense autograd Jacobian on a small lattice; the dependency radius is read off the
same Jacobian; the smoother's linear map is compared with a brute-force weight matrix.
"""
import itertools
import math

import pytest
import torch

from fdlf_core import lattice, teachers
from fdlf_core.flows import AdditiveSmoother, Composite, MeanStress, circular_pad



def _coupling(parity, seed=3):
    cfg = teachers.TeacherConfig("simple_local", seed=seed, coupling_strength=1.0)
    return teachers._coupling(cfg, "pre", 0, parity)


LAYERS = {
    "coupling_even": lambda: _coupling(0),
    "coupling_odd": lambda: _coupling(1),
    "smoother_linear": lambda: AdditiveSmoother(0, cutoff=2, power=-1.0, strength=0.7, nonlinear=False),
    "smoother_nonlinear_wrapping": lambda: AdditiveSmoother(1, cutoff=8, power=0.0, strength=0.9, nonlinear=True),
    "mean_stress": lambda: MeanStress(0.005),
    "mean_stress_contracting": lambda: MeanStress(0.005, norm_power=1.0, contract=True),
    "complex_long_flow": lambda: teachers.make("complex_long").flow,
    "medium_range_flow": lambda: teachers.make("medium_range").flow,
}


def dense_jacobian(fn, z):
    """(N, N) Jacobian of fn on one (L, L) field, N = L*L."""
    L = z.shape[-1]
    jac = torch.autograd.functional.jacobian(lambda v: fn(v.reshape(1, L, L))[0].reshape(-1), z.reshape(-1))
    return jac


@pytest.mark.parametrize("name", LAYERS)
def test_inverse_and_logdet(name, gen):
    layer = LAYERS[name]()
    z = torch.randn(3, 4, 4, generator=gen(1), dtype=torch.float64)
    x, ld_fwd = layer.forward(z)
    z_back, ld_inv = layer.inverse(x)
    assert x.shape == z.shape and ld_fwd.shape == (3,) and x.dtype == torch.float64
    assert torch.isfinite(x).all() and torch.isfinite(ld_fwd).all()
    torch.testing.assert_close(z_back, z, atol=1e-12, rtol=0)
    torch.testing.assert_close(ld_fwd + ld_inv, torch.zeros(3, dtype=torch.float64), atol=1e-12, rtol=0)
    for k in range(3):  # log|det dx/dz| against the dense autograd Jacobian at L = 4
        jac = dense_jacobian(layer.forward, z[k])
        sign, logabs = torch.linalg.slogdet(jac)
        assert sign != 0
        torch.testing.assert_close(ld_fwd[k], logabs, atol=1e-10, rtol=1e-10)


@pytest.mark.parametrize("name", ["coupling_even", "coupling_odd", "smoother_linear",
                                  "smoother_nonlinear_wrapping", "medium_range_flow"])
def test_dependency_radius(name, gen):
    # Each output site depends only on inputs within `radius` (periodic Chebyshev), and the radius is
    # attained: gradient rows of single output sites, by autograd.
    layer = LAYERS[name]()
    L = 2 * layer.radius + 4
    z = torch.randn(1, L, L, generator=gen(2), dtype=torch.float64, requires_grad=True)
    x = layer.forward(z)[0]
    reached = False
    for site in [(0, 0), (0, 1), (L // 2, 3)]:
        row = torch.autograd.grad(x[0, site[0], site[1]], z, retain_graph=True)[0][0]
        d = lattice.distance_map(L, site)
        assert (row[d > layer.radius] == 0).all()
        reached |= bool((row[d == layer.radius] != 0).any())
    assert reached


@pytest.mark.parametrize("L,cutoff,power", [(4, 8, 0.0), (4, 3, 1.0), (6, 5, -0.75), (6, 3, -0.75),
                                            (8, 2, -1.0), (8, 7, 0.5), (16, 5, 1.0)])
def test_smoother_matches_brute_force_weights(L, cutoff, power, gen):
    # Reference: x_i = z_i + sum_j w(dist) z_j over distinct other-parity sites, 0 < dist <= cutoff.
    strength = 0.8
    layer = AdditiveSmoother(0, cutoff, power, strength, nonlinear=False)
    stencil = [max(abs(a), abs(b)) for a in range(-cutoff, cutoff + 1) for b in range(-cutoff, cutoff + 1)
               if (a + b) % 2]
    norm = sum(d ** power for d in stencil)
    sites = list(itertools.product(range(L), range(L)))
    expected = torch.eye(L * L, dtype=torch.float64)
    for a, (r, c) in enumerate(sites):
        if (r + c) % 2:
            continue
        for b, (r2, c2) in enumerate(sites):
            d = int(lattice.distance_map(L, (r, c))[r2, c2])
            if (r2 + c2) % 2 and 0 < d <= cutoff:
                expected[a, b] += strength * d ** power / norm
    z = torch.randn(1, L, L, generator=gen(3), dtype=torch.float64)
    torch.testing.assert_close(dense_jacobian(layer.forward, z[0]), expected, atol=1e-14, rtol=0)


def test_smoother_total_weight_is_strength_when_the_stencil_fits():
    layer = AdditiveSmoother(0, cutoff=5, power=-0.75, strength=0.6, nonlinear=False)
    offsets = lattice.neighbour_offsets(20, 5, odd_only=True)
    assert sum(layer.weight(d) for _, _, d in offsets) == pytest.approx(0.6, abs=1e-14)


@pytest.mark.parametrize("L", [4, 16, 64])
@pytest.mark.parametrize("norm_power,contract", [(2.0, False), (1.0, True), (1.0, False)])
def test_mean_stress_closed_form(L, norm_power, contract, gen):
    layer = MeanStress(0.005, norm_power=norm_power, contract=contract)
    g = 0.005 * L ** 1.5 * L ** (2 - norm_power)  # the mean mode's eigenvalue of the printed map is 1 + g
    factor = 1 / (1 + g) if contract else 1 + g
    z = torch.randn(2, L, L, generator=gen(4), dtype=torch.float64)
    x, ld = layer.forward(z)
    torch.testing.assert_close(x.mean(dim=(1, 2)), factor * z.mean(dim=(1, 2)), atol=1e-13, rtol=1e-13)
    torch.testing.assert_close(x - x.mean(dim=(1, 2), keepdim=True), z - z.mean(dim=(1, 2), keepdim=True),
                               atol=1e-13, rtol=0)
    assert ld[0].item() == pytest.approx(math.log(factor), rel=1e-14)
    # the log-det is that of the dense Jacobian of the map
    if L == 4:
        assert torch.linalg.slogdet(dense_jacobian(lambda v: layer.forward(v)[0], z[0]))[1].item() == \
            pytest.approx(math.log(factor), rel=1e-12)


def test_composite_order_and_radius(gen):
    first, second = _coupling(0, seed=1), MeanStress(0.01)
    z = torch.randn(2, 6, 6, generator=gen(5), dtype=torch.float64)
    x, ld = Composite([first, second]).forward(z)
    y, ld1 = first.forward(z)
    ref, ld2 = second.forward(y)
    torch.testing.assert_close(x, ref, atol=0, rtol=0)
    torch.testing.assert_close(ld, ld1 + ld2, atol=1e-15, rtol=0)
    back, ld_inv = Composite([first, second]).inverse(x)
    torch.testing.assert_close(back, z, atol=1e-12, rtol=0)
    flow = teachers.make("medium_range").flow
    assert flow.radius == sum(layer.radius for layer in flow.layers) == 8 + 30
    assert not flow.is_global and teachers.make("complex_long").flow.is_global


@pytest.mark.parametrize("L, p", [(1, 1), (2, 1), (3, 3), (5, 2), (8, 1), (16, 1), (16, 14)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_circular_pad_is_torchs_pad_with_a_cheaper_backward_to_the_bit(L, p, dtype, gen):
    # the same value and gradient as autograd's own circular pad, bit for bit: results keep their numbers
    g = gen(L + p)
    x = torch.randn(3, 2, L, L, generator=g, dtype=dtype, requires_grad=True)
    up = torch.randn(3, 2, L + 2 * p, L + 2 * p, generator=g, dtype=dtype)
    reference = torch.nn.functional.pad(x, (p,) * 4, mode="circular")
    ours = circular_pad(x, p)
    assert torch.equal(ours, reference)
    assert torch.equal(torch.autograd.grad(ours, x, up)[0], torch.autograd.grad(reference, x, up)[0])


def test_circular_pad_has_a_second_derivative(gen):
    # the teachers' exact responses differentiate the score, i.e. go through the pad's backward again
    x = torch.randn(1, 1, 3, 3, generator=gen(0), dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradgradcheck(lambda t: circular_pad(t, 2) ** 3, (x,))


def test_circular_pad_works_under_vmap_to_the_bit(gen):
    # the stacked trainer (training.train_dsm_stacked) runs LocalCNN.score under torch.func.vmap
    x = torch.randn(3, 2, 1, 5, 5, generator=gen(1), requires_grad=True)
    up = torch.randn(3, 2, 1, 7, 7, generator=gen(2))
    ours = torch.func.vmap(lambda t: circular_pad(t, 1))(x)
    reference = torch.func.vmap(lambda t: torch.nn.functional.pad(t, (1,) * 4, mode="circular"))(x)
    assert torch.equal(ours, reference)
    assert torch.equal(torch.autograd.grad(ours, x, up)[0], torch.autograd.grad(reference, x, up)[0])


def test_circular_pad_rejects_a_pad_wider_than_the_lattice():
    with pytest.raises(ValueError, match=r"p must be in \[0, L\]"):
        circular_pad(torch.zeros(1, 1, 3, 3), 4)
