"""The 3D local score model: receptive radius exactly 2B + 2 (gradient support), zero on empty sites, the
Gaussian baseline at initialisation scale, clear errors."""
import pytest
import torch

from fdlf_core.hardvalid import model, teacher

T = teacher.make("hv_local", seed=0, embed=4, hidden=8)


@pytest.mark.parametrize("blocks", [0, 1, 2])
def test_the_receptive_radius_is_exactly_2b_plus_2(blocks):
    net = model.LocalCNN3D(model.LocalCNN3DConfig(blocks=blocks, width=6, seed=1))
    R = net.receptive_radius
    assert R == 2 * blocks + 2
    L = 2 * R + 6
    s = T.sample(1, L, generator=torch.Generator().manual_seed(blocks))
    b, a = s.b, s.a
    c = torch.randn(1, 2, L, L, L, generator=torch.Generator().manual_seed(1)).requires_grad_(True)
    probe = teacher.central_probe(s)
    out = net(c, 0.3, b, a)
    (grad,) = torch.autograd.grad(out[(0, 0, *probe)], c)
    dist = teacher.distance_map3(L, probe)
    support = grad.abs().sum(1)[0] > 0
    assert not support[dist > R].any()
    assert support[dist == R].any()  # reaches exactly R: the radius is not smaller


def test_the_output_is_zero_on_empty_sites_and_finite():
    net = model.LocalCNN3D(model.LocalCNN3DConfig(blocks=1, width=8))
    s = T.sample(2, 6, generator=torch.Generator().manual_seed(2))
    out = net(s.c, torch.tensor([0.01, 1.0]), s.b, s.a)
    assert out.shape == s.c.shape and out.dtype == torch.float32 and torch.isfinite(out).all()
    assert (out[(~s.occupied())[:, None].expand_as(out)] == 0).all() and out.abs().sum() > 0


def test_seeded_initialisation_is_reproducible():
    one = model.LocalCNN3D(model.LocalCNN3DConfig(seed=3, width=4))
    two = model.LocalCNN3D(model.LocalCNN3DConfig(seed=3, width=4))
    assert all(torch.equal(p, q) for p, q in zip(one.parameters(), two.parameters()))


def test_bad_inputs_are_named():
    net = model.LocalCNN3D(model.LocalCNN3DConfig(width=4))
    s = T.sample(1, 4, generator=torch.Generator().manual_seed(4))
    with pytest.raises(ValueError, match="c must be"):
        net(s.c[:, :1], 0.5, s.b, s.a)
    with pytest.raises(ValueError, match="sigma must be"):
        net(s.c, -1.0, s.b, s.a)
    with pytest.raises(ValueError, match="a must hold labels in 0..4"):
        net(s.c, 0.5, s.b, s.a * 9)
    with pytest.raises(ValueError, match="blocks must be"):
        model.LocalCNN3DConfig(blocks=-1)


def test_the_model_is_translation_equivariant_away_from_the_boundary():
    # inside the box an empty site's hidden activations are the biases, outside they are the zero padding:
    # the two agree only beyond the receptive radius from the original box's edge
    net = model.LocalCNN3D(model.LocalCNN3DConfig(blocks=1, width=6, seed=4))
    R = net.receptive_radius
    s = T.sample(1, 12, generator=torch.Generator().manual_seed(5))
    b, a = torch.zeros(1, 20, 20, 20, dtype=torch.int64), torch.zeros(1, 20, 20, 20, dtype=torch.int64)
    c = torch.zeros(1, 2, 20, 20, 20, dtype=torch.float64)
    window = (slice(None), *(slice(4, 16),) * 3)
    b[window], a[window] = s.b, s.a
    c[(slice(None), slice(None), *window[1:])] = s.c
    with torch.no_grad():
        small, big = net(s.c, 0.1, s.b, s.a), net(c, 0.1, b, a)[(slice(None), slice(None), *window[1:])]
    core = (slice(None), slice(None), *(slice(R, 12 - R),) * 3)
    torch.testing.assert_close(big[core], small[core], rtol=0, atol=1e-5)
    assert (big - small).abs().max() > 1e-4  # near the edge the padding differs from empty sites
