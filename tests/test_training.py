"""training: DSM loss against the closed-form Gaussian case, learning, reproducibility, TrainConfig,
data sources (teachers, Ising pools, a user's own), checkpoints (current and old layout)."""
import dataclasses
import math
import subprocess
import sys

import pytest
import torch
from torch import nn

from fdlf_core import registry, teachers
from fdlf_core.models import LocalAttention, LocalCNN
from fdlf_core.ising import IsingData, IsingPoolConfig
from fdlf_core.training import (CHECKPOINT_FORMAT, DataSource, TrainConfig, TrainResult, check_data_source, dsm_loss,
                                fit_exact_score, load_checkpoint, sample_sigma, save_checkpoint, train_dsm,
                                train_dsm_stacked, id_fields)


class GaussianSmoothedScore(nn.Module):
    """Exact smoothed score of N(0, v I): s_sigma(y) = -y / (v + sigma^2)."""

    def __init__(self, v):
        super().__init__()
        self.v = v

    def forward(self, x, sigma):
        sigma = torch.as_tensor(sigma, dtype=x.dtype).reshape(-1, 1, 1)
        return -x / (self.v + sigma ** 2)


# ------------------------------------------------------------------------------ a user's own data source

@registry.data_config
@dataclasses.dataclass(frozen=True)
class ScaledNoiseConfig:
    """A data source's config: white noise of standard deviation ``scale``."""

    scale: float = 0.5


class ScaledNoise:
    """A data source outside fdlf_core: ``sample(n, L, generator)`` and a registered dataclass config."""

    def __init__(self, config: ScaledNoiseConfig):
        self.config = config

    def sample(self, n, L, generator=None):
        return self.config.scale * torch.randn(n, L, L, generator=generator, dtype=torch.float64)


@dataclasses.dataclass(frozen=True)
class UnregisteredConfig:
    scale: float = 0.5


class Unregistered(ScaledNoise):
    pass


# -------------------------------------------------------------------------------------------- the loss

@pytest.mark.parametrize("sigma", [0.01, 0.3, 1.0, 3.0])
def test_dsm_loss_at_the_exact_score_is_the_closed_form_minimum(sigma, gen):
    # For x0 ~ N(0, v), the sigma^2-weighted DSM loss of the exact smoothed score is v / (v + sigma^2).
    v, n = 2.0, 4000
    x0 = math.sqrt(v) * torch.randn(n, 4, 4, generator=gen(0), dtype=torch.float64)
    eps = torch.randn(n, 4, 4, generator=gen(1), dtype=torch.float64)
    sig = torch.full((n,), sigma, dtype=torch.float64)
    per_sample = dsm_loss(GaussianSmoothedScore(v), x0, sig, eps)
    assert per_sample.shape == (n,)
    sem = per_sample.std() / math.sqrt(n)
    assert abs(per_sample.mean() - v / (v + sigma ** 2)) < 5 * sem
    # any other score is worse in expectation (the minimiser is the smoothed score)
    assert dsm_loss(GaussianSmoothedScore(1.2 * v), x0, sig, eps).mean() > per_sample.mean()


def test_sigma_is_log_uniform_on_the_range(gen):
    s = sample_sigma(200000, 0.005, 1.0, gen(2))
    assert s.min() >= 0.005 and s.max() <= 1.0
    u = (s.log() - math.log(0.005)) / (math.log(1.0) - math.log(0.005))
    # uniform on [0, 1]: mean 1/2, variance 1/12, within 5 standard errors
    assert abs(u.mean() - 0.5) < 5 * math.sqrt(1 / 12 / 200000)
    assert abs(u.var() - 1 / 12) < 0.002


def held_out_loss(model, teacher, gen):
    x0 = teacher.sample(64, 8, gen(123)).float()
    sig = torch.tensor([0.2, 0.5, 1.0]).repeat(22)[:64].double()
    eps = torch.randn(64, 8, 8, generator=gen(124))
    with torch.no_grad():
        return dsm_loss(model, x0, sig, eps).mean().item()


# ---------------------------------------------------------------------------------------------- training

def test_training_reduces_the_held_out_loss(gen):
    # A strongly non-Gaussian teacher, so the Gaussian baseline of the untrained model is far from optimal.
    teacher = teachers.make("simple_local", coupling_strength=1.0)
    model = LocalCNN(1, 16)
    before = held_out_loss(model, teacher, gen)
    result = train_dsm(teacher, model, TrainConfig(L=8, steps=150, batch_size=16, lr=2e-3, seed=0), progress=False)
    after = held_out_loss(result.model, teacher, gen)
    assert len(result.losses) == 150 and all(math.isfinite(v) for v in result.losses)
    assert after < before - 0.05, (before, after)
    assert result.model is model and result.data_config == teacher.config and result.wall_s > 0


def test_same_seed_same_numbers():
    teacher = teachers.make("complex_local")
    cfg = TrainConfig(L=8, steps=5, batch_size=4, seed=11)
    runs = [train_dsm(teacher, LocalCNN(1, 8, seed=3), cfg, progress=False) for _ in range(2)]
    assert runs[0].losses == runs[1].losses
    for p, q in zip(runs[0].model.parameters(), runs[1].model.parameters()):
        assert torch.equal(p, q)
    other = train_dsm(teacher, LocalCNN(1, 8, seed=3), dataclasses.replace(cfg, seed=12), progress=False)
    assert other.losses != runs[0].losses


def test_train_config_defaults_are_table_2():
    cfg = TrainConfig(16, 1500, 16)
    assert (cfg.lr, cfg.sigma_min, cfg.sigma_max, cfg.seed) == (5e-4, 0.005, 1.0, 0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.steps = 3


@pytest.mark.parametrize("kwargs,exc,match", [
    (dict(L=7), ValueError, "L must be"), (dict(L=2), ValueError, "L must be"), (dict(L=8.0), TypeError, "L must be"),
    (dict(steps=0), ValueError, "steps must be"), (dict(steps=1.5), TypeError, "steps must be"),
    (dict(batch_size=0), ValueError, "batch_size must be"), (dict(batch_size=True), TypeError, "batch_size must be"),
    (dict(sigma_min=0.0), ValueError, "sigma_min must be"), (dict(sigma_max=math.inf), ValueError, "sigma_max must be"),
    (dict(sigma_min=1.0, sigma_max=0.5), ValueError, "sigma_min must be <"),
    (dict(sigma_min=0.5, sigma_max=0.5), ValueError, "sigma_min must be <"),
    (dict(lr=-1.0), ValueError, "lr must be"), (dict(lr=math.nan), ValueError, "lr must be"),
    (dict(lr="fast"), TypeError, "lr must be"),
    (dict(seed=-1), ValueError, "seed must be"), (dict(seed="0"), TypeError, "seed must be"),
])
def test_train_config_validates_itself(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        TrainConfig(**(dict(L=8, steps=1, batch_size=1) | kwargs))


def test_train_dsm_takes_a_train_config_only():
    teacher, model = teachers.make("simple_local"), LocalCNN(1, 4)
    with pytest.raises(TypeError, match="cfg must be a fdlf_core.training.TrainConfig; got dict"):
        train_dsm(teacher, model, dict(L=8, steps=1, batch_size=1), progress=False)
    with pytest.raises(TypeError, match="cfg must be"):
        train_dsm(teacher, model, 8, progress=False)
    with pytest.raises(TypeError):  # the old keyword interface is gone
        train_dsm(teacher, model, L=8, steps=1, batch_size=1, progress=False)
    with pytest.raises(TypeError, match="data must be a data source"):
        train_dsm("simple_local", model, TrainConfig(8, 1, 1), progress=False)
    with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
        train_dsm(teacher, "LocalCNN", TrainConfig(8, 1, 1), progress=False)


def test_stacked_training_is_train_dsm_per_model():
    # same data streams, same init, elementwise Adam: equal up to float rounding of grouped vs single convs
    teacher = teachers.make("complex_local")
    cfg = TrainConfig(8, 6, 4)
    alone = [LocalCNN(blocks=1, width=8, seed=s) for s in (3, 5)]
    results = [train_dsm(teacher, m, dataclasses.replace(cfg, seed=s), progress=False) for m, s in zip(alone, (3, 5))]
    together = [LocalCNN(blocks=1, width=8, seed=s) for s in (3, 5)]
    stacked = train_dsm_stacked(teacher, together, cfg, seeds=[3, 5], progress=False)
    assert [r.config for r in stacked] == [r.config for r in results]
    assert all(r.data_config == teacher.config and r.meta["stacked_models"] == 2 for r in stacked)
    for a, b in zip(results, stacked):
        assert b.model is not None and a.losses[0] != a.losses[-1]
        torch.testing.assert_close(torch.tensor(b.losses), torch.tensor(a.losses), rtol=1e-5, atol=1e-6)
        for p, q in zip(a.model.parameters(), b.model.parameters()):
            torch.testing.assert_close(q, p, rtol=1e-4, atol=1e-5)
    # the two models did not share anything: different seeds, different weights
    assert not torch.equal(together[0].conv_in.weight, together[1].conv_in.weight)


@pytest.mark.parametrize("models,seeds,match", [
    ([], [], "models must be a non-empty list"),
    ("abc", [0], "models must be a non-empty list"),
    ([LocalCNN(1, 8), LocalCNN(2, 8)], [0, 1], "share one architecture"),
    ([LocalCNN(1, 8), LocalCNN(1, 8, seed=1)], [0], "one seed per model"),
    ([LocalCNN(1, 8)], [-1], "seed must be"),
])
def test_bad_stacked_training_input(models, seeds, match):
    with pytest.raises((TypeError, ValueError), match=match):
        train_dsm_stacked(teachers.make("simple_local"), models, TrainConfig(8, 2, 2), seeds=seeds, progress=False)


def test_stacked_training_takes_a_train_config_only():
    with pytest.raises(TypeError, match="cfg must be"):
        train_dsm_stacked(teachers.make("simple_local"), [LocalCNN(1, 4)], (8, 2, 2), seeds=[0], progress=False)


# -------------------------------------------------------------------------------------------- data sources

def test_teachers_and_ising_pools_are_data_sources():
    from fdlf_core.ising import IsingData, IsingPoolConfig
    teacher = teachers.make("simple_local")
    assert isinstance(teacher, DataSource) and check_data_source(teacher) is teacher
    data = IsingData(IsingPoolConfig(L=8, beta=0.3, n_samples=2, seed=0), progress=False)
    assert isinstance(data, DataSource) and check_data_source(data) is data
    assert not isinstance("simple_local", DataSource)


def test_a_users_own_data_source_trains_and_its_checkpoint_round_trips(tmp_path, gen):
    data = ScaledNoise(ScaledNoiseConfig(scale=0.7))
    model = LocalCNN.from_radius(3, width=4, seed=2)
    result = train_dsm(data, model, TrainConfig(L=6, steps=4, batch_size=3, seed=5), progress=False)
    assert result.data_config == ScaledNoiseConfig(0.7) and len(result.losses) == 4
    assert all(math.isfinite(v) for v in result.losses)
    path = save_checkpoint(tmp_path / "own.pt", result)
    stored = torch.load(path, weights_only=True)
    assert (stored["teacher_class"], stored["teacher_module"]) == ("ScaledNoiseConfig", __name__)
    assert (stored["model_class"], stored["model_module"]) == ("LocalCNN", "fdlf_core.models")
    loaded = load_checkpoint(path)
    assert type(loaded.data_config) is ScaledNoiseConfig and loaded.data_config == result.data_config
    assert loaded.config == result.config and loaded.losses == result.losses
    x = torch.randn(2, 6, 6, generator=gen(0))
    torch.testing.assert_close(loaded.model(x, 0.2), model(x, 0.2), atol=0, rtol=0)


def test_an_unregistered_or_incomplete_data_source_is_refused():
    with pytest.raises(TypeError, match="UnregisteredConfig is not registered"):
        train_dsm(Unregistered(UnregisteredConfig()), LocalCNN(1, 4), TrainConfig(8, 1, 1), progress=False)
    with pytest.raises(TypeError, match="UnregisteredConfig is not registered"):
        train_dsm_stacked(Unregistered(UnregisteredConfig()), [LocalCNN(1, 4)], TrainConfig(8, 1, 1), seeds=[0],
                          progress=False)

    class NotADataclass(ScaledNoise):
        pass
    with pytest.raises(TypeError, match="dataclass config"):  # a config that is not a dataclass
        check_data_source(NotADataclass({"scale": 0.5}))

    class NoSample:
        config = ScaledNoiseConfig()
    with pytest.raises(TypeError, match="data must be a data source"):
        check_data_source(NoSample())


def test_dsm_on_an_ising_pool_and_its_checkpoint(tmp_path, gen):
    from fdlf_core.ising import BETA_C, IsingData, IsingPoolConfig
    data = IsingData(IsingPoolConfig(L=8, beta=0.9 * BETA_C, n_samples=16, seed=0), progress=False)
    model = LocalCNN.from_radius(5, width=8)
    result = train_dsm(data, model, TrainConfig(8, 30, 4, sigma_min=0.5, sigma_max=4.0, seed=1), progress=False)
    assert result.data_config == data.config and all(math.isfinite(v) for v in result.losses)
    loaded = load_checkpoint(save_checkpoint(tmp_path / "ising.pt", result))
    assert loaded.data_config == data.config and loaded.model.receptive_radius == 5
    x = torch.randn(2, 8, 8, generator=gen(0))
    torch.testing.assert_close(loaded.model(x, 1.0), model(x, 1.0))
    with pytest.raises(ValueError, match="pool's lattice size"):
        train_dsm(data, LocalCNN(1, 8), TrainConfig(16, 2, 2), progress=False)
    with pytest.raises(TypeError, match="data must be a data source"):
        train_dsm(object(), LocalCNN(1, 8), TrainConfig(8, 2, 2), progress=False)


# ------------------------------------------------------------------------------------------- checkpoints

def test_checkpoint_round_trip_is_atomic_and_weights_only(tmp_path, gen):
    teacher = teachers.make("simple_local", seed=2)
    result = train_dsm(teacher, LocalCNN(2, 8, seed=1), TrainConfig(L=8, steps=3, batch_size=2), progress=False)
    path = save_checkpoint(tmp_path / "ckpt" / "model.pt", result)
    assert sorted(p.name for p in path.parent.iterdir()) == ["model.pt"]  # no temp file left behind
    loaded = load_checkpoint(path)
    x = torch.randn(2, 8, 8, generator=gen(3))
    torch.testing.assert_close(loaded.model(x, 0.1), result.model(x, 0.1), atol=0, rtol=0)
    assert loaded.config == result.config and loaded.data_config == teacher.config
    assert loaded.losses == result.losses and not loaded.model.training
    assert set(loaded.meta["provenance"]) == {"versions", "git_revision", "machine"}
    assert loaded.meta["path"] == str(path)
    # the file holds only tensors and plain values: torch's safe loader reads it
    stored = torch.load(path, weights_only=True)
    assert stored["format"] == "fdlf.checkpoint/1"
    assert (stored["teacher_class"], stored["teacher_module"]) == ("TeacherConfig", "fdlf_core.teachers")


def _old_payload(result: TrainResult, data_class: str | None) -> dict:
    """The checkpoint layout written before the registry: class names without modules (and, before Ising
    pools, no data-config class at all)."""
    payload = {"format": CHECKPOINT_FORMAT, "model_class": "LocalCNN",
               "model_config": dataclasses.asdict(result.model.config), "state_dict": result.model.state_dict(),
               "train_config": dataclasses.asdict(result.config),
               "teacher_config": dataclasses.asdict(result.data_config),
               "losses": [float(v) for v in result.losses], "wall_s": float(result.wall_s),
               "provenance": {"versions": {}, "git_revision": None, "machine": {}}}
    if data_class is not None:
        payload["teacher_class"] = data_class
    return payload


def test_old_checkpoints_without_modules_still_load(tmp_path, gen):
    from fdlf_core.ising import IsingData, IsingPoolConfig
    teacher = teachers.make("complex_local", seed=1)
    pool = IsingData(IsingPoolConfig(L=8, beta=0.3, n_samples=4, seed=0), progress=False)
    x = torch.randn(2, 8, 8, generator=gen(4))
    for data, data_class in ((teacher, None), (teacher, "TeacherConfig"), (pool, "IsingPoolConfig")):
        result = train_dsm(data, LocalCNN(1, 4, seed=3), TrainConfig(8, 2, 2), progress=False)
        path = tmp_path / f"old_{data_class}.pt"
        torch.save(_old_payload(result, data_class), path)
        loaded = load_checkpoint(path)
        assert type(loaded.data_config) is type(data.config) and loaded.data_config == data.config
        assert loaded.config == result.config and loaded.losses == result.losses
        torch.testing.assert_close(loaded.model(x, 0.3), result.model(x, 0.3), atol=0, rtol=0)


def test_old_checkpoints_load_in_a_fresh_interpreter(tmp_path):
    # nothing has imported the teachers or the Ising pools there: the legacy names must find their modules
    from fdlf_core.ising import IsingData, IsingPoolConfig
    pool = IsingData(IsingPoolConfig(L=8, beta=0.3, n_samples=4, seed=0), progress=False)
    for data, data_class in ((teachers.make("simple_local"), None), (pool, "IsingPoolConfig")):
        result = train_dsm(data, LocalCNN(1, 4), TrainConfig(8, 1, 2), progress=False)
        torch.save(_old_payload(result, data_class), tmp_path / "old.pt")
        probe = ("import sys; from fdlf_core.training import load_checkpoint; "
                 "assert 'fdlf_core.teachers' not in sys.modules and 'fdlf_core.ising.pool' not in sys.modules; "
                 f"r = load_checkpoint(sys.argv[1]); print(type(r.data_config).__module__, r.data_config == "
                 f"type(r.data_config)(**{dataclasses.asdict(data.config)!r}))")
        proc = subprocess.run([sys.executable, "-c", probe, str(tmp_path / "old.pt")], capture_output=True, text=True,
                              timeout=120)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.split() == [type(data.config).__module__, "True"]


def test_interrupted_save_keeps_the_old_checkpoint(tmp_path, monkeypatch):
    teacher = teachers.make("simple_local")
    result = train_dsm(teacher, LocalCNN(1, 4), TrainConfig(L=8, steps=2, batch_size=2), progress=False)
    path = save_checkpoint(tmp_path / "m.pt", result)
    before = path.read_bytes()

    def half_written_then_killed(obj, f):
        f.write(b"PK partial bytes")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", half_written_then_killed)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, result)
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["m.pt"]
    bad = type(result)(nn.Linear(1, 1), result.losses, result.config, result.data_config, 0.0)
    with pytest.raises(TypeError, match="Linear is not registered"):
        save_checkpoint(path, bad)
    unregistered = type(result)(result.model, result.losses, result.config, UnregisteredConfig(), 0.0)
    with pytest.raises(TypeError, match="UnregisteredConfig is not registered"):
        save_checkpoint(path, unregistered)
    assert path.read_bytes() == before


def test_corrupt_and_foreign_checkpoints_are_rejected(tmp_path):
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(b"PK\x03\x04 not a zip")
    with pytest.raises(ValueError, match="not a readable fdlf checkpoint"):
        load_checkpoint(truncated)
    foreign = tmp_path / "foreign.pt"
    torch.save({"state_dict": {}}, foreign)
    with pytest.raises(ValueError, match="not an fdlf checkpoint"):
        load_checkpoint(foreign)
    unsafe = tmp_path / "unsafe.pt"
    torch.save({"format": "fdlf.checkpoint/1", "obj": TrainConfig(8, 1, 1)}, unsafe)
    with pytest.raises(ValueError, match="not a readable fdlf checkpoint"):
        load_checkpoint(unsafe)
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "missing.pt")


@pytest.mark.parametrize("change,match", [
    ({"teacher_class": "Popen", "teacher_module": "subprocess"}, "not part of fdlf_core"),
    ({"teacher_class": "Nope", "teacher_module": "fdlf_core.lattice"}, "does not register it"),
    ({"model_class": "TeacherConfig"}, "unknown model class 'TeacherConfig'"),
    ({"train_config": {"L": 7, "steps": 1, "batch_size": 1}}, "L must be an even integer"),
    ({"teacher_config": {"bogus": 1}}, "unexpected keyword argument 'bogus'"),
    ({"state_dict": {}}, "Missing key"),
])
def test_checkpoints_naming_other_code_or_bad_configs_are_refused(tmp_path, change, match):
    result = train_dsm(teachers.make("simple_local"), LocalCNN(1, 4), TrainConfig(8, 1, 1), progress=False)
    payload = torch.load(save_checkpoint(tmp_path / "good.pt", result), weights_only=True)
    torch.save({**payload, **change}, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match=f"(?s)bad.pt is a damaged fdlf checkpoint .*{match}"):
        load_checkpoint(tmp_path / "bad.pt")


def test_a_checkpoint_naming_a_missing_package_module_is_damaged(tmp_path):
    result = train_dsm(teachers.make("simple_local"), LocalCNN(1, 4), TrainConfig(8, 1, 1), progress=False)
    payload = torch.load(save_checkpoint(tmp_path / "good.pt", result), weights_only=True)
    torch.save({**payload, "teacher_class": "Gone", "teacher_module": "fdlf_core.no_such_module"}, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="bad.pt is a damaged fdlf checkpoint"):
        load_checkpoint(tmp_path / "bad.pt")


@pytest.mark.parametrize("call,match", [
    (lambda g: sample_sigma(4, 0.0, 1.0, g), "sigma_min must be"),
    (lambda g: sample_sigma(4, 1.0, 0.5, g), "sigma_min must be <"),
    (lambda g: sample_sigma(0, 0.1, 1.0, g), "n must be"),
    (lambda g: dsm_loss(LocalCNN(1, 4), torch.zeros(2, 8, 8), 0.0, torch.zeros(2, 8, 8)), "sigma must be"),
    (lambda g: dsm_loss(LocalCNN(1, 4), torch.zeros(2, 8, 8), 0.1, torch.zeros(2, 6, 6)), "eps must be"),
    (lambda g: dsm_loss(LocalCNN(1, 4), torch.zeros(2, 8, 8), torch.ones(2, dtype=torch.int64),
                        torch.zeros(2, 8, 8)), "sigma must be a float or a real floating-point"),
])
def test_bad_loss_input(call, match, gen):
    with pytest.raises((ValueError, TypeError), match=match):
        call(gen(0))


def test_dsm_loss_accepts_a_float_sigma(gen):
    x0, eps = torch.randn(3, 8, 8, generator=gen(5)), torch.randn(3, 8, 8, generator=gen(6))
    model = LocalCNN(1, 4)
    torch.testing.assert_close(dsm_loss(model, x0, 0.3, eps), dsm_loss(model, x0, torch.full((3,), 0.3), eps))


def test_exact_score_fit_reaches_a_linear_score_inside_the_receptive_field(gen):
    """The locality floor of a teacher whose clean score -Q x is linear with range 1 < R_eff: ~0."""
    from fdlf_core import gaussian

    field = gaussian.GaussianField(gaussian.GaussianFieldConfig(kappa=1.0))
    model = LocalCNN(1, 16, seed=0)
    x = field.sample(8, 16, generator=gen(5))

    def rel(m, x):
        with torch.no_grad():
            return float(((m(x, 0.005).double() - field.score(x)) ** 2).sum().sqrt() / field.score(x).norm())

    before = rel(model, x)
    result = fit_exact_score(field, model, TrainConfig(16, 300, 8, lr=3e-3), progress=False)
    assert before > 0.5 and rel(model, x) < 0.04  # measured 0.81 -> 0.021
    assert rel(model, field.sample(4, 24, generator=gen(6))) < 0.04  # the fitted local rule at another size
    assert result.meta["kind"] == "exact_score_fit" and result.data_config == field.config
    assert result.losses[-1] < 0.01 * result.losses[0]


def test_exact_score_fit_is_seeded_and_needs_an_exact_score(gen):
    teacher = teachers.make("simple_local")
    runs = [fit_exact_score(teacher, LocalCNN(1, 4, seed=2), TrainConfig(8, 4, 2, lr=1e-3, seed=7), progress=False)
            for _ in range(2)]
    assert runs[0].losses == runs[1].losses
    assert all(torch.equal(a, b) for a, b in zip(runs[0].model.state_dict().values(),
                                                  runs[1].model.state_dict().values()))
    pool_like = IsingData(IsingPoolConfig(8, 0.3, 4), progress=False)  # samples, but no exact score
    with pytest.raises(TypeError, match="exact score"):
        fit_exact_score(pool_like, LocalCNN(1, 4), TrainConfig(8, 1, 1), progress=False)


# ----------------------------------------------------------------------------------------- the DSM recipe

def test_antithetic_loss_is_the_mean_over_plus_and_minus_eps(gen):
    model, x0 = LocalCNN(1, 4, seed=1), teachers.make("simple_local").sample(3, 8, generator=gen(0)).float()
    sigma, eps = torch.tensor([0.005, 0.1, 0.9]), torch.randn(3, 8, 8, generator=gen(1))
    plus, minus = dsm_loss(model, x0, sigma, eps), dsm_loss(model, x0, sigma, -eps)
    assert torch.allclose(dsm_loss(model, x0, sigma, eps, antithetic=True), (plus + minus) / 2, rtol=1e-6, atol=0)
    # so its expectation over eps ~ N(0, I) is the plain loss's: eps and -eps have the same law
    many = torch.randn(4000, 8, 8, generator=gen(2))
    with torch.no_grad():
        x, s = x0[:1].expand(4000, 8, 8), torch.full((4000,), 0.3)
        a, b = dsm_loss(model, x, s, many, antithetic=True), dsm_loss(model, x, s, many)
    assert abs(float(a.mean() - b.mean())) < 3 * float(b.std()) / 4000 ** 0.5


def test_antithetic_pairs_cancel_the_small_sigma_gradient_noise(gen):
    """At sigma_min the plain DSM gradient is dominated by eps; the antithetic pair removes that term."""
    model, x0 = LocalCNN(1, 8, seed=1), teachers.make("medium_range").sample(1, 16, generator=gen(0)).float()
    sigma = torch.tensor([0.005])

    def grad_variance(antithetic: bool) -> float:
        grads = []
        for k in range(16):
            model.zero_grad()
            dsm_loss(model, x0, sigma, torch.randn(1, 16, 16, generator=gen(10 + k)), antithetic=antithetic).sum().backward()
            grads.append(torch.cat([p.grad.flatten() for p in model.parameters()]))
        return float(torch.stack(grads).var(0).sum())

    assert grad_variance(True) < 0.01 * grad_variance(False)


def test_weight_power_reweights_by_sigma(gen):
    model, x0 = LocalCNN(1, 4, seed=1), torch.randn(3, 8, 8, generator=gen(0))
    sigma, eps = torch.tensor([0.005, 0.1, 0.9]), torch.randn(3, 8, 8, generator=gen(1))
    usual, eq3 = dsm_loss(model, x0, sigma, eps), dsm_loss(model, x0, sigma, eps, weight_power=0.0)
    assert torch.allclose(eq3, usual / sigma ** 2, rtol=1e-5, atol=0)  # Eq. 3 as written: |s + eps / sigma|^2
    with torch.no_grad():
        direct = ((model(x0 + sigma[:, None, None] * eps, sigma) + eps / sigma[:, None, None]) ** 2).mean((1, 2))
    assert torch.allclose(eq3, direct, rtol=1e-4, atol=0)


def test_ema_weights_equal_their_definition():
    teacher, base = teachers.make("simple_local"), TrainConfig(8, 3, 2, lr=1e-2, seed=4)
    thetas = [[p.detach().clone() for p in LocalCNN(1, 4, seed=2).parameters()]]
    for k in (1, 2, 3):  # theta_k: the weights after k plain steps (same seed, same batches)
        model = LocalCNN(1, 4, seed=2)
        train_dsm(teacher, model, dataclasses.replace(base, steps=k), progress=False)
        thetas.append([p.detach().clone() for p in model.parameters()])
    decay, ema = 0.7, thetas[0]
    for theta in thetas[1:]:
        ema = [decay * e + (1 - decay) * t for e, t in zip(ema, theta)]
    model = LocalCNN(1, 4, seed=2)
    train_dsm(teacher, model, dataclasses.replace(base, ema=decay), progress=False)
    for got, want in zip(model.parameters(), ema):
        assert torch.allclose(got, want, rtol=1e-5, atol=1e-7)


def test_cosine_schedule_warms_up_and_decays_to_zero():
    from fdlf_core.training import _lr_factor

    factor = _lr_factor(TrainConfig(8, 10, 1, schedule="cosine", warmup=0.4))
    values = [factor(k) for k in range(10)]
    assert values[:4] == [0.25, 0.5, 0.75, 1.0] and values[4] == 1.0
    assert all(a > b for a, b in zip(values[4:], values[5:])) and values[-1] == pytest.approx(0.5 * (1 + math.cos(math.pi * 5 / 6)))
    assert _lr_factor(TrainConfig(8, 10, 1))(7) == 1.0


@pytest.mark.parametrize("field,value,match", [
    ("weight_power", 3.0, "weight_power must be"), ("weight_power", True, "weight_power must be"),
    ("antithetic", 1, "antithetic must be a bool"), ("schedule", "linear", "schedule must be one of"),
    ("warmup", 1.0, "warmup must be"), ("warmup", -0.1, "warmup must be"), ("ema", 1.0, "ema must be"), ("ema", -0.1, "ema must be"),
    ("autocast", "fp16", r"autocast must be one of \('none', 'bf16'\)"), ("autocast", None, "autocast must be one of"),
])
def test_bad_recipe(field, value, match):
    with pytest.raises((ValueError, TypeError), match=match):
        TrainConfig(8, 10, 1, **{field: value})


def test_learning_rates_are_what_the_optimiser_steps_with(monkeypatch):
    from fdlf_core.training import learning_rates

    cfg = TrainConfig(8, 6, 1, lr=1e-3, schedule="cosine", warmup=0.5)
    real_step, seen = torch.optim.Adam.step, []

    def step(opt, *args, **kwargs):
        seen.append(opt.param_groups[0]["lr"])
        return real_step(opt, *args, **kwargs)
    monkeypatch.setattr(torch.optim.Adam, "step", step)
    for fit, trainer in (("dsm", train_dsm), ("exact_score", fit_exact_score)):
        seen.clear()
        trainer(teachers.make("simple_local"), LocalCNN(0, 2), cfg, progress=False)
        assert learning_rates(cfg, fit) == pytest.approx(seen, rel=1e-12)
    assert learning_rates(cfg, "exact_score")[0] == 1e-3  # no warm-up: the fit ignores the recipe's
    with pytest.raises(ValueError, match="fit must be 'dsm' or 'exact_score'"):
        learning_rates(cfg, "floor")


def test_recipe_fields_at_their_defaults_stay_out_of_the_ids():
    from fdlf_core.training import RECIPE_DEFAULTS, id_fields

    plain = dataclasses.asdict(TrainConfig(8, 10, 1))
    assert set(RECIPE_DEFAULTS) <= set(plain) and set(id_fields(plain)) == set(plain) - set(RECIPE_DEFAULTS)
    assert id_fields(dataclasses.asdict(TrainConfig(8, 10, 1, antithetic=True)))["antithetic"] is True


def test_bf16_autocast_trains_float32_weights_along_the_float32_path():
    # the same draws, the forward in bfloat16: the losses within bfloat16's ~3 digits of float32's, the
    # weights moved along nearly the same path (the exact-score fit; DSM's antithetic cancellation at small
    # sigma is itself at bfloat16's rounding, so its path departs more: docs/benchmarks.md), and not equal
    # (the autocast really ran); weights, optimiser and output stay float32
    teacher = teachers.make("medium_range")
    for fit, path_tolerance in ((fit_exact_score, 0.15), (train_dsm, 1.0)):
        weights = {}
        for autocast in ("none", "bf16"):
            model = LocalCNN(blocks=1, width=16, seed=2, zero_init=True, linear_path=True)
            init = torch.cat([p.detach().flatten().clone() for p in model.parameters()])
            cfg = TrainConfig(16, 4, 4, lr=1e-3, weight_power=0.0, antithetic=True, autocast=autocast)
            result = fit(teacher, model, cfg, progress=False)
            weights[autocast] = (torch.cat([p.detach().flatten() for p in model.parameters()]), result.losses)
            assert all(p.dtype == torch.float32 for p in model.parameters())
            with torch.autocast("cpu", dtype=torch.bfloat16):  # the output promotes back to float32
                assert model(torch.zeros(1, 8, 8), 0.1).dtype == torch.float32
        (w32, loss32), (w16, loss16) = weights["none"], weights["bf16"]
        torch.testing.assert_close(torch.tensor(loss16), torch.tensor(loss32), rtol=2e-2, atol=0)
        assert 0 < (w16 - w32).norm() < path_tolerance * (w32 - init).norm()
    assert "autocast" not in id_fields(dataclasses.asdict(TrainConfig(8, 1, 1)))
    assert id_fields(dataclasses.asdict(TrainConfig(8, 1, 1, autocast="bf16")))["autocast"] == "bf16"
    with pytest.raises(ValueError, match="cfg.autocast must be 'none' for train_dsm_stacked"):
        train_dsm_stacked(teacher, [LocalCNN(1, 4)], TrainConfig(8, 1, 1, autocast="bf16"), seeds=[0], progress=False)
    for fit in (train_dsm, fit_exact_score):
        with pytest.raises(ValueError, match="cfg.autocast='bf16' needs a float32 model; got one computing in torch.float64"):
            fit(teacher, LocalCNN(1, 4).double(), TrainConfig(8, 1, 1, autocast="bf16"), progress=False)
    # the attention model trains under it too, its attention weights in bfloat16
    attention = LocalAttention(1, 1, width=8, heads=2)
    result = train_dsm(teacher, attention, TrainConfig(8, 2, 2, weight_power=0.0, antithetic=True, autocast="bf16"),
                       progress=False)
    assert all(math.isfinite(v) for v in result.losses) and all(p.dtype == torch.float32 for p in attention.parameters())


def test_a_noise_range_the_models_dtype_cannot_hold_is_refused_before_training():
    teacher = teachers.make("simple_local")
    with pytest.raises(ValueError, match=r"sigma_min and sigma_max must be in \[1.08e-19, 1.84e\+19\] for a model "
                                         r"computing in torch.float32; got sigma_min=1e-50"):
        train_dsm(teacher, LocalCNN(0, 4), TrainConfig(8, 2, 2, sigma_min=1e-50), progress=False)
    with pytest.raises(ValueError, match="sigma_max=1e\\+39"):
        fit_exact_score(teacher, LocalCNN(0, 4), TrainConfig(8, 2, 2, sigma_max=1e39), progress=False)
    with pytest.raises(ValueError, match="sigma_min=1e-50"):
        train_dsm_stacked(teacher, [LocalCNN(0, 4)], TrainConfig(8, 2, 2, sigma_min=1e-50), [0], progress=False)
