"""models: LocalCNN locality (autograd gradient support), equivariance on any L (odd too), conditioning,
configs by radius, validation."""
import dataclasses

import pytest
import torch
from torch import nn

from fdlf_core import lattice
from fdlf_core.models import LocalCNN, LocalCNNConfig, id_fields, sigma_range


def chebyshev(L, site):
    """Periodic Chebyshev distance to ``site`` on any ``L`` (``lattice.distance_map`` needs an even L)."""
    idx = torch.arange(L)
    dy, dx = ((idx - site[0]) % L), ((idx - site[1]) % L)
    dy, dx = torch.minimum(dy, L - dy), torch.minimum(dx, L - dx)
    return torch.maximum(dy[:, None], dx[None, :])


def gradient_support(model, L, site, generator):
    x = torch.randn(1, L, L, generator=generator).requires_grad_(True)
    out = model(x, 0.3)
    return torch.autograd.grad(out[0, site[0], site[1]], x)[0][0]


@pytest.mark.parametrize("blocks", [0, 1, 2, 3])
def test_receptive_radius_is_2B_plus_2(blocks):
    assert LocalCNN(blocks=blocks, width=4).receptive_radius == 2 * blocks + 2


@pytest.mark.parametrize("R", [1, 2, 3, 4, 5, 8, 14])
@pytest.mark.parametrize("odd", [0, 1])
def test_gradient_support_is_exactly_the_receptive_field(R, odd, gen):
    model = LocalCNN.from_radius(R, width=6, seed=1)
    assert model.receptive_radius == R
    L = 2 * R + 6 - odd  # odd L too: nothing in the model needs a checkerboard
    site = (L // 2, 2)  # near the seam: the circular padding must wrap, not truncate
    g = gradient_support(model, L, site, gen(0))
    d = chebyshev(L, site)
    if L % 2 == 0:
        assert torch.equal(d, lattice.distance_map(L, site))
    assert (g[d <= R] != 0).all(), "every site inside the receptive field must influence the output"
    assert (g[d > R] == 0).all(), "no site outside the receptive field may influence the output"


def test_translation_equivariant_on_any_size(gen):
    model = LocalCNN(1, 8)
    for L in (3, 4, 5, 6, 7, 16):  # odd sizes too
        x = torch.randn(2, L, L, generator=gen(1))
        out = model(x, 0.1)
        assert out.shape == (2, L, L) and out.dtype == torch.float32
        torch.testing.assert_close(model(torch.roll(x, (1, 3), (1, 2)), 0.1), torch.roll(out, (1, 3), (1, 2)),
                                   atol=1e-5, rtol=1e-5)


def test_sigma_float_and_tensor_agree_and_condition_the_output(gen):
    model = LocalCNN(1, 8)
    x = torch.randn(3, 8, 8, generator=gen(2))
    torch.testing.assert_close(model(x, 0.2), model(x, torch.full((3,), 0.2)))
    mixed = model(x, torch.tensor([0.2, 0.5, 0.2]))
    torch.testing.assert_close(mixed[0], model(x, 0.2)[0])
    assert not torch.allclose(mixed[1], model(x, 0.2)[1])


def test_nothing_pools_over_space():
    allowed = (LocalCNN, nn.Conv2d, nn.Linear, nn.SiLU, nn.ModuleList, nn.Sequential)
    for module in LocalCNN(3, 8).modules():
        assert isinstance(module, allowed), f"unexpected layer {type(module).__name__}"


def test_seeded_initialisation_leaves_global_rng_alone():
    state = torch.random.get_rng_state()
    a, b, c = LocalCNN(1, 8, seed=5), LocalCNN(1, 8, seed=5), LocalCNN(1, 8, seed=6)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert torch.equal(a.conv_in.weight, b.conv_in.weight)
    assert not torch.equal(a.conv_in.weight, c.conv_in.weight)


def test_gaussian_baseline_at_zero_residual(gen):
    # With the residual F zeroed the model is the exact smoothed score of N(0, sigma_data^2):
    # s = -x / (sigma^2 + sigma_data^2) (closed form).
    model = LocalCNN(1, 8, sigma_data=1.5)
    nn.init.zeros_(model.conv_out.weight)
    nn.init.zeros_(model.conv_out.bias)
    x = torch.randn(2, 8, 8, generator=gen(3))
    torch.testing.assert_close(model(x, 0.5), -x / (0.25 + 2.25))


@pytest.mark.parametrize("call,match", [
    (lambda: LocalCNN(blocks=-1), "blocks must be"),
    (lambda: LocalCNN(width=0), "width must be"),
    (lambda: LocalCNN.from_radius(0), "R must be"),
    (lambda: LocalCNN(1, 4)(torch.zeros(1, 8, 8), 0.0), "sigma must be"),
    (lambda: LocalCNN(1, 4)(torch.zeros(1, 8, 8), -1.0), "sigma must be"),
    (lambda: LocalCNN(1, 4)(torch.zeros(2, 8, 8), torch.tensor([0.1, 0.0])), "sigma must be"),
    (lambda: LocalCNN(1, 4)(torch.zeros(2, 8, 8), torch.ones(3)), r"shape \(2,\)"),
    (lambda: LocalCNN(1, 4)(torch.zeros(8, 8), 0.1), r"shape \(n, L, L\)"),
    (lambda: LocalCNN(1, 4)(torch.zeros(0, 8, 8), 0.1), "n >= 1"),
    (lambda: LocalCNN(1, 4)(torch.zeros(1, 8, 8, dtype=torch.int64), 0.1), "floating"),
    (lambda: LocalCNN(1, 4)(torch.full((1, 8, 8), float("inf")), 0.1), "finite"),
])
def test_bad_input(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()


@pytest.mark.parametrize("L", [1, 2, 3, 5])
def test_small_and_odd_lattices(L, gen):
    # with every site inside the receptive field the circular padding wraps onto the same sites; the output
    # still has the input's shape and, on odd L, commutes with every shift
    model = LocalCNN(2, 6, seed=4)
    x = torch.randn(3, L, L, generator=gen(L))
    out = model(x, torch.tensor([0.1, 0.5, 2.0]))
    assert out.shape == (3, L, L) and out.dtype == torch.float32 and bool(torch.isfinite(out).all())
    for shift in ((1, 0), (0, 2), (L - 1, 1)):
        torch.testing.assert_close(model(torch.roll(x, shift, (1, 2)), torch.tensor([0.1, 0.5, 2.0])),
                                   torch.roll(out, shift, (1, 2)), atol=1e-5, rtol=1e-5)


def test_one_site_lattice_is_the_sum_over_the_kernel():
    # L=1: every tap of a circular conv reads the one site, so a conv is x * (sum of its kernel) + bias
    model = LocalCNN(0, 3, out_kernel=1, seed=2)
    x = torch.tensor([[[0.7]]])
    sig = torch.tensor([0.3])
    c_in = float(torch.rsqrt(sig ** 2 + 1.0))
    h = (c_in * 0.7) * model.conv_in.weight.sum((2, 3))[:, 0] + model.conv_in.bias   # (width,)
    f = (model.conv_out.weight[0, :, 0, 0] * torch.nn.functional.silu(h)).sum() + model.conv_out.bias[0]
    torch.testing.assert_close(model(x, 0.3)[0, 0, 0], c_in * (f - c_in * 0.7), atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("R", range(1, 15))
def test_config_from_radius_has_that_radius(R):
    cfg = LocalCNNConfig.from_radius(R, width=5, seed=3)
    assert cfg.receptive_radius == R and (cfg.width, cfg.seed) == (5, 3)
    assert cfg.out_kernel == (3 if R % 2 == 0 else 1) and cfg.blocks == (R - 1) // 2
    assert LocalCNN.from_radius(R, width=5, seed=3).config == cfg


def test_config_from_radius_of_the_papers_models():
    # R_eff = 2 B + 2 (paper Table 2): 4, 8, 14 are B = 1, 3, 6 with a 3x3 output projection
    assert [LocalCNNConfig.from_radius(R) for R in (4, 8, 14)] == [LocalCNNConfig(blocks=b) for b in (1, 3, 6)]
    assert LocalCNNConfig.from_radius(5, 8, sigma_data=2.0) == LocalCNNConfig(2, 8, 1, 2.0, 0)  # Fig. 4's R = 5


@pytest.mark.parametrize("call,exc,match", [
    (lambda: LocalCNNConfig.from_radius(0), ValueError, "R must be"),
    (lambda: LocalCNNConfig.from_radius(2.0), TypeError, "R must be an int"),
    (lambda: LocalCNNConfig.from_radius(4, width=0), ValueError, "width must be"),
    (lambda: LocalCNNConfig.from_radius(4, sigma_data=-1.0), ValueError, "sigma_data must be"),
    (lambda: LocalCNNConfig.from_radius(4, seed=-1), ValueError, "seed must be"),
])
def test_bad_config_from_radius(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_empty_lattice_is_refused_by_the_input_check():
    with pytest.raises(ValueError, match="x"):
        LocalCNN(1, 4)(torch.zeros(1, 0, 0), 0.1)


def _with_random_linear_path(model, gen):
    with torch.no_grad():
        model.linear.copy_(torch.randn(model.linear.shape, generator=gen))
    return model


@pytest.mark.parametrize("R", [1, 4, 5])
def test_linear_path_keeps_the_receptive_field_exactly(R, gen):
    model = _with_random_linear_path(LocalCNN.from_radius(R, width=6, seed=1, zero_init=True, linear_path=True),
                                     gen(1))
    assert model.linear.shape == (1, 1, 2 * R + 1, 2 * R + 1)
    L = 2 * R + 5
    site = (L // 2, 1)
    g = gradient_support(model, L, site, gen(0))
    d = chebyshev(L, site)
    assert (g[d <= R] != 0).all() and (g[d > R] == 0).all()


@pytest.mark.parametrize("L", [1, 3, 7, 12])
def test_linear_path_is_a_torus_convolution_on_any_size(L, gen):
    # zero-init leaves only the linear path in F: s = c_in (c_in K * x - c_in x), K applied by a dense
    # circulant sum over every offset (the kernel wraps as often as the lattice is small)
    model = _with_random_linear_path(LocalCNN(1, 4, seed=2, zero_init=True, linear_path=True), gen(2))
    K, R = model.linear[0, 0].detach(), model.receptive_radius
    x = torch.randn(2, L, L, generator=gen(3))
    ref = torch.zeros_like(x)
    for a in range(-R, R + 1):
        for b in range(-R, R + 1):
            ref += K[a + R, b + R] * torch.roll(x, (-a, -b), (1, 2))
    c2 = 1 / (0.3 ** 2 + 1)
    torch.testing.assert_close(model(x, 0.3), c2 * (ref - x), atol=1e-5, rtol=1e-5)


def test_zero_init_starts_at_the_gaussian_baseline(gen):
    # residual blocks are the identity and F = 0: s = -x / (sigma^2 + sigma_data^2) exactly, and the first
    # gradient step reaches the output projection
    model = LocalCNN(3, 8, sigma_data=1.5, zero_init=True, linear_path=True)
    x = torch.randn(2, 8, 8, generator=gen(4))
    torch.testing.assert_close(model(x, 0.5), -x / (0.25 + 2.25))
    model(x, 0.5).pow(2).sum().backward()
    assert model.conv_out.weight.grad.abs().sum() > 0 and model.linear.grad.abs().sum() > 0


def test_later_fields_at_their_defaults_leave_the_ids_alone():
    old = dataclasses.asdict(LocalCNNConfig(blocks=3))
    assert set(old) - set(id_fields(old)) == {"zero_init", "linear_path"}
    new = id_fields(dataclasses.asdict(LocalCNNConfig(blocks=3, zero_init=True, linear_path=True)))
    assert new["zero_init"] is True and new["linear_path"] is True
    with pytest.raises(TypeError, match="zero_init must be a bool"):
        LocalCNNConfig(zero_init=1)


@pytest.mark.parametrize("sigma", [1e-50, 1e-20, 1e39, 1e20])
def test_a_sigma_the_models_dtype_cannot_hold_is_refused_not_a_silent_nan(sigma):
    model = LocalCNN(1, 4)
    lo, hi = sigma_range(torch.float32)
    assert torch.isfinite(model(torch.ones(2, 6, 6), lo)).all() and torch.isfinite(model(torch.ones(2, 6, 6), hi)).all()
    with pytest.raises(ValueError, match=r"sigma must be in \[1.08e-19, 1.84e\+19\] for a model computing in torch.float32"):
        model(torch.ones(2, 6, 6), sigma)
    with pytest.raises(ValueError, match="sigma must be in"):
        model(torch.ones(2, 6, 6), torch.tensor([0.1, sigma], dtype=torch.float64))
    assert torch.isfinite(model.double()(torch.ones(2, 6, 6, dtype=torch.float64), 1e-50)).all()  # float64 holds it


def test_a_field_too_large_for_the_models_dtype_is_refused():
    with pytest.raises(ValueError, match=r"x must have \|x\| <= 1.84e\+19 to be computed in torch.float32"):
        LocalCNN(1, 4)(torch.full((1, 6, 6), 1e30, dtype=torch.float64), 0.1)
