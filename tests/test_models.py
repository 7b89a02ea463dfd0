"""models: LocalCNN locality (autograd gradient support), equivariance, conditioning, validation."""
import pytest
import torch
from torch import nn

from fdlf_core import lattice
from fdlf_core.models import LocalCNN

from conftest import gen


def gradient_support(model, L, site):
    x = torch.randn(1, L, L, generator=gen(0)).requires_grad_(True)
    out = model(x, 0.3)
    return torch.autograd.grad(out[0, site[0], site[1]], x)[0][0]


@pytest.mark.parametrize("blocks", [0, 1, 2, 3])
def test_receptive_radius_is_2B_plus_2(blocks):
    assert LocalCNN(blocks=blocks, width=4).receptive_radius == 2 * blocks + 2


@pytest.mark.parametrize("R", [1, 2, 3, 4, 5, 8, 14])
def test_gradient_support_is_exactly_the_receptive_field(R):
    model = LocalCNN.from_radius(R, width=6, seed=1)
    assert model.receptive_radius == R
    L = 2 * R + 6
    site = (L // 2, 2)  # near the seam: the circular padding must wrap, not truncate
    g = gradient_support(model, L, site)
    d = lattice.distance_map(L, site)
    assert (g[d <= R] != 0).all(), "every site inside the receptive field must influence the output"
    assert (g[d > R] == 0).all(), "no site outside the receptive field may influence the output"


def test_translation_equivariant_on_any_size():
    model = LocalCNN(1, 8)
    for L in (4, 6, 16):
        x = torch.randn(2, L, L, generator=gen(1))
        out = model(x, 0.1)
        assert out.shape == (2, L, L) and out.dtype == torch.float32
        torch.testing.assert_close(model(torch.roll(x, (1, 3), (1, 2)), 0.1), torch.roll(out, (1, 3), (1, 2)),
                                   atol=1e-5, rtol=1e-5)


def test_sigma_float_and_tensor_agree_and_condition_the_output():
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


def test_gaussian_baseline_at_zero_residual():
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
    (lambda: LocalCNN(1, 4)(torch.zeros(1, 7, 7), 0.1), "even integer"),
    (lambda: LocalCNN(1, 4)(torch.full((1, 8, 8), float("inf")), 0.1), "finite"),
])
def test_bad_input(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()
