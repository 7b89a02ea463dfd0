"""models.LocalAttention: the sliding-attention local score model. Its receptive radius is exact (gradient
support), it is translation equivariant on the torus, starts at the Gaussian baseline, takes what LocalCNN
takes (training, checkpoints) and refuses a window the lattice cannot hold."""
import pytest
import torch

from fdlf_core import teachers, training
from fdlf_core.models import LocalAttention, LocalAttentionConfig


def _perturbed(model: LocalAttention, seed: int = 3) -> LocalAttention:
    # zero_init leaves the residual outputs at 0, which would hide the attention from the gradient
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=gen))
    return model


@pytest.mark.parametrize("layers,window", [(1, 1), (2, 1), (1, 2), (2, 2), (3, 2), (2, 3)])
def test_gradient_support_is_exactly_the_receptive_field(layers, window):
    model = _perturbed(LocalAttention(layers, window, width=8, heads=2, seed=layers))
    R, L, c = layers * window, 20, 10
    assert model.receptive_radius == R == LocalAttentionConfig(layers, window).receptive_radius
    x = torch.randn(1, L, L, generator=torch.Generator().manual_seed(0), requires_grad=True)
    model(x, 0.4)[0, c, c].backward()
    support = x.grad[0] != 0
    inside = torch.zeros(L, L, dtype=torch.bool)
    inside[c - R:c + R + 1, c - R:c + R + 1] = True
    assert bool(support[inside].all()) and not bool(support[~inside].any())


def test_translation_equivariant_and_the_same_rule_at_every_size():
    model = _perturbed(LocalAttention(2, 2, width=8, heads=2))
    gen = torch.Generator().manual_seed(1)
    for L in (5, 12, 16):
        x = torch.randn(3, L, L, generator=gen)
        shifted = model(torch.roll(x, (2, -3), (1, 2)), 0.2)
        assert torch.allclose(shifted, torch.roll(model(x, 0.2), (2, -3), (1, 2)), atol=1e-5)
    # a site's score depends only on its window: the same patch gives the same score on a larger torus
    small = torch.randn(1, 12, 12, generator=gen)
    big = torch.zeros(1, 24, 24)
    big[:, :12, :12] = small
    R = model.receptive_radius
    a, b = model(small, 0.2)[0, R:12 - R, R:12 - R], model(big, 0.2)[0, R:12 - R, R:12 - R]
    assert torch.allclose(a, b, atol=1e-5)


def test_zero_init_starts_at_the_gaussian_baseline():
    x = torch.randn(2, 8, 8, generator=torch.Generator().manual_seed(2))
    sigma = torch.tensor([0.1, 2.0])
    out = LocalAttention(2, 2, width=8, heads=2)(x, sigma)
    expected = -x / (sigma[:, None, None] ** 2 + 1.0)
    assert torch.allclose(out, expected, atol=1e-6)


def test_window_larger_than_the_lattice_is_refused():
    model = LocalAttention(1, 3, width=8, heads=2)
    model(torch.zeros(1, 7, 7), 0.5)  # 2w + 1 = 7 fits exactly
    with pytest.raises(ValueError, match=r"window must fit the lattice .*L >= 7.*got L=6"):
        model(torch.zeros(1, 6, 6), 0.5)


@pytest.mark.parametrize("kwargs,match", [
    ({"layers": 0}, "layers"), ({"window": 0}, "window"), ({"width": 6, "heads": 4}, "multiple of heads"),
    ({"heads": 0}, "heads"), ({"sigma_data": 0.0}, "sigma_data"), ({"zero_init": 1}, "zero_init")])
def test_bad_config(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        LocalAttentionConfig(**kwargs)


def test_from_radius_and_bad_radius():
    assert [LocalAttentionConfig.from_radius(R).layers for R in (4, 8, 14)] == [2, 4, 7]
    assert LocalAttentionConfig.from_radius(9, window=3).receptive_radius == 9
    with pytest.raises(ValueError, match="multiple of window=2"):
        LocalAttentionConfig.from_radius(5)


def test_seeded_and_trains_and_round_trips_a_checkpoint(tmp_path):
    a, b = LocalAttention(1, 1, width=8, heads=2, seed=5), LocalAttention(1, 1, width=8, heads=2, seed=5)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    teacher = teachers.make("simple_local")
    cfg = training.TrainConfig(L=6, steps=4, batch_size=2, lr=1e-3)
    result = training.train_dsm(teacher, a, cfg, progress=False)
    assert len(result.losses) == 4 and all(torch.isfinite(torch.tensor(result.losses)))
    path = training.save_checkpoint(tmp_path / "attn.pt", result)
    loaded = training.load_checkpoint(path)
    assert type(loaded.model) is LocalAttention and loaded.model.config == a.config
    x = torch.randn(2, 6, 6, generator=torch.Generator().manual_seed(0))
    assert torch.equal(loaded.model(x, 0.3), a(x, 0.3))
