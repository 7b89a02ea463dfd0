"""models.LocalAttention: the sliding-attention local score model. Its receptive radius is exact (gradient
support), it is translation equivariant on the torus, starts at the Gaussian baseline, takes what LocalCNN
takes (training, checkpoints) and refuses a window the lattice cannot hold. Its window attention matches a
direct per-site computation, and models stored before ``position_scale`` existed load with their old one."""
import json
import math
from pathlib import Path

import pytest
import torch

from fdlf_core import diagnostics, teachers, training
from fdlf_core.models import LocalAttention, LocalAttentionConfig, LocalCNNConfig, _window_attention, id_fields

RESULTS = Path(__file__).resolve().parents[1] / "results"


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
    ({"heads": 0}, "heads"), ({"sigma_data": 0.0}, "sigma_data"), ({"zero_init": 1}, "zero_init"),
    ({"position_scale": 0.0}, "position_scale"), ({"position_scale": float("nan")}, "position_scale"),
    ({"position_scale": 1e4}, "position_scale")])
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


@pytest.mark.parametrize("w,L", [(1, 3), (1, 5), (2, 5), (2, 7), (3, 8)])
def test_window_attention_is_each_sites_softmax_over_its_torus_window(w, L):
    gen = torch.Generator().manual_seed(w + L)
    n, heads, d, K = 2, 3, 4, (2 * w + 1) ** 2
    q, key, v = (torch.randn(n, heads, d, L, L, generator=gen, dtype=torch.float64) for _ in range(3))
    bias = torch.randn(heads, K, 1, 1, generator=gen, dtype=torch.float64)
    out = _window_attention(q, key, v, bias, w)
    offsets = [(dy, dx) for dy in range(-w, w + 1) for dx in range(-w, w + 1)]  # row-major: bias index
    for y, x in [(0, 0), (L - 1, 1), (L // 2, L - 1)]:
        nb = [((y + dy) % L, (x + dx) % L) for dy, dx in offsets]
        keys = torch.stack([key[..., i, j] for i, j in nb], -1)    # (n, heads, d, K)
        vals = torch.stack([v[..., i, j] for i, j in nb], -1)
        logits = (q[..., y, x, None] * keys).sum(2) / math.sqrt(d) + bias[..., 0, 0]
        expected = (torch.softmax(logits, -1)[:, :, None] * vals).sum(-1)
        torch.testing.assert_close(out[..., y, x], expected, rtol=1e-12, atol=1e-12)


def test_position_scale_multiplies_the_bias():
    x = torch.randn(2, 8, 8, generator=torch.Generator().manual_seed(4))
    a = _perturbed(LocalAttention(2, 2, width=8, heads=2, position_scale=10.0))
    b = LocalAttention(2, 2, width=8, heads=2, position_scale=1.0)
    b.load_state_dict(a.state_dict())
    with torch.no_grad():
        b.position_bias.mul_(10.0)
    torch.testing.assert_close(a(x, 0.3), b(x, 0.3), rtol=1e-5, atol=1e-6)
    b.load_state_dict(a.state_dict())  # the same parameters at scale 1: a different model
    assert (a(x, 0.3) - b(x, 0.3)).abs().max() > 1e-2


def test_configs_stored_before_position_scale_load_and_hash_as_before():
    stored = {"heads": 4, "layers": 2, "seed": 0, "sigma_data": 1.0, "width": 32, "window": 2, "zero_init": True}
    assert LocalAttention.from_config(stored).config.position_scale == 1.0
    assert id_fields({**stored, "position_scale": 1.0}) == stored
    assert id_fields({**stored, "position_scale": 10.0}) != stored
    assert LocalAttentionConfig().position_scale == 10.0
    assert not set(LocalCNNConfig.LATER_DEFAULTS) & set(LocalAttentionConfig.LATER_DEFAULTS)  # one dict in id_fields
    as_int = LocalAttentionConfig(position_scale=10)  # one model, one id, whichever way the number is written
    assert isinstance(as_int.position_scale, float) and as_int == LocalAttentionConfig()


def test_a_stored_model_from_before_position_scale_keeps_its_numbers():
    # the attention floor study's R_eff=4 fit (position_scale 1, the unfold implementation): reloaded, it
    # reproduces the score RMSE its row records, through the rolled window attention
    runs = RESULTS / "studies" / "attention_floor" / "runs" / "floor"
    row = next(r for r in map(json.loads, (runs / "runs.jsonl").read_text().splitlines())
               if r["blocks"] == 2 and r["L"] == 64)
    model = next(training.load_checkpoint(p).model for p in sorted((runs / "checkpoints").glob("*.pt"))
                 if training.load_checkpoint(p).model.config.layers == 2)
    assert "position_scale" not in row["model"] and model.config.position_scale == 1.0
    d = row["score_rmse_definition"]
    rmse = diagnostics.score_rmse(model, teachers.make("medium_range"), 64, n=d["n"], seed=d["seed"], sigma=d["sigma"])
    assert rmse == pytest.approx(row["score_rmse"], rel=1e-5)
