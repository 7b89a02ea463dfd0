"""Bad inputs across the public API and the ``fdlf`` command line, one table row each.

An API row is ``(id, call, exception, fragment)``: the zero-argument ``call`` makes one bad call, which must
raise ``exception`` with ``fragment`` in its message, naming the offending parameter (and the allowed values
where the message states them). A CLI row is ``(id, argv, fragment)``: ``fdlf_core.cli.main(argv)`` must exit
with code 2 (argparse's usage errors by ``SystemExit(2)``) and put ``fragment`` on stderr, in one line.
"""
import math
import re
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from fdlf_core import diagnostics, experiments, gaussian, ising, runner, teachers, training, tweedie
from fdlf_core.cli import main
from fdlf_core.experiments.fdlf2d import SweepBudget, sweep_run
from fdlf_core.models import LocalCNN, LocalCNNConfig
from fdlf_core.training import TrainConfig

NAN, INF = math.nan, math.inf
BUDGET = SweepBudget(steps=1, batch_size=1, seeds=(0,), eval_n=1, response_n=1)
SCRATCH = Path(tempfile.gettempdir()) / "fdlf-bad-inputs-never-written"  # every call fails before writing


def teacher():
    return teachers.make("simple_local")


def model():
    return LocalCNN(0, 4)


def field(n=2, L=8, **kw):
    return torch.zeros(n, L, L, **kw)


def filled(value, n=2, L=8):
    x = field(n, L)
    x[0, 0, 0] = value
    return x


def cfg(**kw):
    return TrainConfig(**{"L": 8, "steps": 1, "batch_size": 2, **kw})


def gff():
    return gaussian.GaussianField(gaussian.GaussianFieldConfig(1.0))


def two_models():
    return [LocalCNN(0, 4), LocalCNN(1, 4)]


class NoScore:
    """A data source without an exact score."""

    config = teachers.FAMILIES["simple_local"]

    def sample(self, n, L, generator=None):
        return torch.zeros(n, L, L, dtype=torch.float64)


class WrongShape(nn.Module):
    def forward(self, x, sigma):
        return x[:, :1]


class WrongSize:
    """A data source whose samples are not at the size asked for."""

    config = teachers.FAMILIES["simple_local"]

    def sample(self, n, L, generator=None):
        return torch.zeros(n, L + 2, L + 2, dtype=torch.float64)


class Diverged(nn.Module):
    def forward(self, x, sigma):
        return x * math.nan


API = [
    # teachers
    ("make-unknown-family", lambda: teachers.make("nope"), ValueError, "family must be one of"),
    ("make-family-int", lambda: teachers.make(3), ValueError, "family must be one of"),
    ("make-unknown-override", lambda: teachers.make("simple_local", bogus=1),
     ValueError, "unknown teacher override(s) ['bogus']"),
    ("make-seed-neg", lambda: teachers.make("simple_local", seed=-1), ValueError, "seed must be an int >= 0"),
    ("make-seed-float", lambda: teachers.make("simple_local", seed=1.5), TypeError, "seed must be an int >= 0"),
    ("make-pre_depth-neg", lambda: teachers.make("simple_local", pre_depth=-1),
     ValueError, "pre_depth must be an int in [0, 256]"),
    ("make-flow_depth-str", lambda: teachers.make("simple_local", flow_depth="2"),
     TypeError, "flow_depth must be an int in [0, 256]"),
    ("make-smoother_depth-neg", lambda: teachers.make("simple_local", smoother_depth=-1),
     ValueError, "smoother_depth must be an int in [0, 256]"),
    ("make-cutoff-0", lambda: teachers.make("complex_local", cutoff=0), ValueError, "cutoff must be an int in [1, 64]"),
    ("make-cutoff-65", lambda: teachers.make("complex_local", cutoff=65),
     ValueError, "cutoff must be an int in [1, 64]"),
    ("make-hidden-0", lambda: teachers.make("simple_local", hidden=0),
     ValueError, "hidden must be an int in [1, 4096]"),
    ("make-power-11", lambda: teachers.make("complex_local", power=11.0),
     ValueError, "power must lie in [-10.0, 10.0]"),
    ("make-power-nan", lambda: teachers.make("complex_local", power=NAN),
     ValueError, "power must be a finite real number"),
    ("make-nonlinear-int", lambda: teachers.make("complex_local", nonlinear=1), TypeError, "nonlinear must be a bool"),
    ("make-stress_contract-str", lambda: teachers.make("complex_long", stress_contract="yes"),
     TypeError, "stress_contract must be a bool"),
    ("make-stress_norm_power-3", lambda: teachers.make("complex_long", stress_norm_power=3.0),
     ValueError, "stress_norm_power must be a number in [0, 2]"),
    ("make-smoother_strength-neg", lambda: teachers.make("complex_local", smoother_strength=-0.1),
     ValueError, "smoother_strength must be a finite number >= 0"),
    ("make-gamma_scale-inf", lambda: teachers.make("complex_long", gamma_scale=INF),
     ValueError, "gamma_scale must be a finite real number"),
    ("make-coupling_strength-neg", lambda: teachers.make("simple_local", coupling_strength=-1.0),
     ValueError, "coupling_strength must be a finite number >= 0"),
    ("make-scale_clip-0", lambda: teachers.make("simple_local", scale_clip=0.0),
     ValueError, "scale_clip must be a finite real number > 0"),
    ("Teacher-config-family", lambda: teachers.Teacher(teachers.TeacherConfig("nope")),
     ValueError, "family must be one of"),
    ("TeacherConfig-from_json-unknown", lambda: teachers.TeacherConfig.from_json('{"family": "simple_local", "x": 1}'),
     ValueError, "unknown TeacherConfig field(s) ['x']"),
    ("sample-n-0", lambda: teacher().sample(0, 8), ValueError, "n must be an int >= 1"),
    ("sample-n-float", lambda: teacher().sample(2.0, 8), TypeError, "n must be an int >= 1"),
    ("sample-n-bool", lambda: teacher().sample(True, 8), TypeError, "n must be an int >= 1"),
    ("sample-L-0", lambda: teacher().sample(2, 0), ValueError, "L must be an even integer >= 4"),
    ("sample-L-odd", lambda: teacher().sample(2, 7), ValueError, "L must be an even integer >= 4"),
    ("sample-L-2", lambda: teacher().sample(2, 2), ValueError, "L must be an even integer >= 4"),
    ("sample-L-float", lambda: teacher().sample(2, 8.0), TypeError, "L must be an int (even, >= 4)"),
    ("sample-generator-int", lambda: teacher().sample(2, 8, generator=0),
     TypeError, "generator must be a torch.Generator or None"),
    ("score-numpy", lambda: teacher().score(np.zeros((2, 8, 8))),
     TypeError, "x must be a torch.Tensor of shape (n, L, L)"),
    ("score-2d", lambda: teacher().score(torch.zeros(8, 8)), ValueError, "x must have shape (n, L, L)"),
    ("score-not-square", lambda: teacher().score(torch.zeros(2, 8, 6)), ValueError, "x must have shape (n, L, L)"),
    ("score-n-0", lambda: teacher().score(field(0)), ValueError, "x must hold n >= 1 fields"),
    ("score-L-odd", lambda: teacher().score(field(2, 7)), ValueError, "x.shape[-1] (L) must be an even integer >= 4"),
    ("score-int-dtype", lambda: teacher().score(field(dtype=torch.int64)),
     TypeError, "x must be a floating-point tensor"),
    ("log_prob-nan", lambda: teacher().log_prob(filled(NAN)), ValueError, "x must be finite"),
    ("log_prob-inf", lambda: teacher().log_prob(filled(INF)), ValueError, "x must be finite"),
    ("log_prob-bool-dtype", lambda: teacher().log_prob(field(dtype=torch.bool)),
     TypeError, "x must be a floating-point tensor"),
    ("log_prob-4d", lambda: teacher().log_prob(torch.zeros(1, 2, 8, 8)), ValueError, "x must have shape (n, L, L)"),
    ("score-x-beyond-float64", lambda: teacher().score(torch.full((1, 4, 4), 1e200, dtype=torch.float64)),
     ValueError, "x must have |x| <="),
    ("response-site-outside", lambda: teacher().response(field(), (8, 0)),
     ValueError, "site must lie inside the lattice, 0 <= row, col < 8"),
    ("response-site-short", lambda: teacher().response(field(), (0,)),
     TypeError, "site must be a (row, col) pair of ints"),
    ("response-site-float", lambda: teacher().response(field(), (0.5, 1)),
     TypeError, "site must be a (row, col) pair of ints"),
    # models
    ("LocalCNN-blocks-neg", lambda: LocalCNN(-1, 4), ValueError, "blocks must be an int in [0, 256]"),
    ("LocalCNN-blocks-float", lambda: LocalCNN(1.5, 4), TypeError, "blocks must be an int in [0, 256]"),
    ("LocalCNN-width-0", lambda: LocalCNN(1, 0), ValueError, "width must be an int in [1, 4096]"),
    ("LocalCNN-out_kernel-5", lambda: LocalCNN(1, 4, out_kernel=5), ValueError, "out_kernel must be 1 or 3"),
    ("LocalCNN-seed-neg", lambda: LocalCNN(1, 4, seed=-1), ValueError, "seed must be an int >= 0"),
    ("LocalCNN-sigma_data-0", lambda: LocalCNN(1, 4, sigma_data=0.0),
     ValueError, "sigma_data must be a finite real number > 0"),
    ("LocalCNN-zero_init-int", lambda: LocalCNN(1, 4, zero_init=1), TypeError, "zero_init must be a bool"),
    ("LocalCNN-linear_path-str", lambda: LocalCNN(1, 4, linear_path="no"), TypeError, "linear_path must be a bool"),
    ("LocalCNNConfig-blocks-neg", lambda: LocalCNNConfig(blocks=-1), ValueError, "blocks must be an int in [0, 256]"),
    ("LocalCNNConfig-width-neg", lambda: LocalCNNConfig(width=-3), ValueError, "width must be an int in [1, 4096]"),
    ("LocalCNNConfig-out_kernel-2", lambda: LocalCNNConfig(out_kernel=2), ValueError, "out_kernel must be 1 or 3"),
    ("LocalCNNConfig-seed-str", lambda: LocalCNNConfig(seed="0"), TypeError, "seed must be an int >= 0"),
    ("from_radius-0", lambda: LocalCNNConfig.from_radius(0), ValueError, "R must be an int >= 1"),
    ("from_radius-float", lambda: LocalCNN.from_radius(2.5), TypeError, "R must be an int >= 1"),
    ("forward-sigma-0", lambda: model()(field(), 0.0), ValueError, "sigma must be a finite real number > 0"),
    ("forward-sigma-neg", lambda: model()(field(), -1.0), ValueError, "sigma must be a finite real number > 0"),
    ("forward-sigma-nan", lambda: model()(field(), NAN), ValueError, "sigma must be a finite real number > 0"),
    ("forward-sigma-inf", lambda: model()(field(), INF), ValueError, "sigma must be a finite real number > 0"),
    ("forward-sigma-wrong-length", lambda: model()(field(), torch.ones(3)),
     ValueError, "sigma must be a float or a tensor of shape (2,)"),
    ("forward-sigma-tensor-zero", lambda: model()(field(), torch.tensor([1.0, 0.0])),
     ValueError, "sigma must be finite and > 0 everywhere"),
    ("forward-sigma-tensor-nan", lambda: model()(field(), torch.tensor(NAN)),
     ValueError, "sigma must be finite and > 0 everywhere"),
    ("forward-sigma-int-tensor", lambda: model()(field(), torch.tensor([1, 2])),
     TypeError, "sigma must be a float or a real floating-point tensor"),
    ("forward-sigma-str", lambda: model()(field(), "1"), TypeError, "sigma must be a finite real number > 0"),
    ("forward-sigma-none", lambda: model()(field(), None), TypeError, "sigma must be a finite real number > 0"),
    ("forward-sigma-bool", lambda: model()(field(), True), TypeError, "sigma must be a finite real number > 0"),
    ("forward-x-2d", lambda: model()(torch.zeros(8, 8), 1.0), ValueError, "x must have shape (n, L, L)"),
    ("forward-x-nan", lambda: model()(filled(NAN), 1.0), ValueError, "x must be finite"),
    ("forward-x-int", lambda: model()(field(dtype=torch.int32), 1.0), TypeError, "x must be a floating-point tensor"),
    ("forward-x-n-0", lambda: model()(field(0, 5), 1.0), ValueError, "x must hold n >= 1 fields"),
    ("forward-x-L-0", lambda: model()(field(2, 0), 1.0), ValueError, "x must be on a lattice with L >= 1"),
    ("forward-x-list", lambda: model()([[0.0]], 1.0), TypeError, "x must be a torch.Tensor"),
    ("forward-sigma-below-float32", lambda: model()(field(), 1e-300), ValueError, "sigma must be in ["),
    ("forward-sigma-above-float32", lambda: model()(field(), 1e39), ValueError, "sigma must be in ["),
    ("forward-x-beyond-float32", lambda: model()(torch.full((1, 4, 4), 1e300, dtype=torch.float64), 1.0),
     ValueError, "x must have |x| <="),
    # training
    ("TrainConfig-L-0", lambda: cfg(L=0), ValueError, "L must be an even integer >= 4"),
    ("TrainConfig-L-odd", lambda: cfg(L=5), ValueError, "L must be an even integer >= 4"),
    ("TrainConfig-L-str", lambda: cfg(L="8"), TypeError, "L must be an int (even, >= 4)"),
    ("TrainConfig-steps-0", lambda: cfg(steps=0), ValueError, "steps must be an int >= 1"),
    ("TrainConfig-steps-float", lambda: cfg(steps=1.5), TypeError, "steps must be an int >= 1"),
    ("TrainConfig-batch_size-0", lambda: cfg(batch_size=0), ValueError, "batch_size must be an int >= 1"),
    ("TrainConfig-lr-0", lambda: cfg(lr=0.0), ValueError, "lr must be a finite real number > 0"),
    ("TrainConfig-lr-neg", lambda: cfg(lr=-1e-3), ValueError, "lr must be a finite real number > 0"),
    ("TrainConfig-lr-nan", lambda: cfg(lr=NAN), ValueError, "lr must be a finite real number > 0"),
    ("TrainConfig-lr-inf", lambda: cfg(lr=INF), ValueError, "lr must be a finite real number > 0"),
    ("TrainConfig-sigma_min-0", lambda: cfg(sigma_min=0.0), ValueError, "sigma_min must be a finite real number > 0"),
    ("TrainConfig-sigma_max-neg", lambda: cfg(sigma_max=-1.0),
     ValueError, "sigma_max must be a finite real number > 0"),
    ("TrainConfig-sigma-range", lambda: cfg(sigma_min=1.0, sigma_max=0.5), ValueError, "sigma_min must be < sigma_max"),
    ("TrainConfig-sigma-equal", lambda: cfg(sigma_min=0.5, sigma_max=0.5), ValueError, "sigma_min must be < sigma_max"),
    ("TrainConfig-seed-neg", lambda: cfg(seed=-1), ValueError, "seed must be an int >= 0"),
    ("TrainConfig-weight_power-3", lambda: cfg(weight_power=3.0),
     ValueError, "weight_power must be a number in [0, 2]"),
    ("TrainConfig-weight_power-nan", lambda: cfg(weight_power=NAN),
     ValueError, "weight_power must be a finite real number"),
    ("TrainConfig-antithetic-int", lambda: cfg(antithetic=1), TypeError, "antithetic must be a bool"),
    ("TrainConfig-schedule-unknown", lambda: cfg(schedule="linear"),
     ValueError, "schedule must be one of ('constant', 'cosine')"),
    ("TrainConfig-warmup-1", lambda: cfg(warmup=1.0), ValueError, "warmup must be a fraction of the steps in [0, 1)"),
    ("TrainConfig-warmup-neg", lambda: cfg(warmup=-0.1),
     ValueError, "warmup must be a fraction of the steps in [0, 1)"),
    ("TrainConfig-ema-1", lambda: cfg(ema=1.0), ValueError, "ema must be a decay in [0, 1)"),
    ("TrainConfig-ema-neg", lambda: cfg(ema=-0.5), ValueError, "ema must be a decay in [0, 1)"),
    ("train_dsm-data-object", lambda: training.train_dsm(object(), model(), cfg(), progress=False),
     TypeError, "data must be a data source"),
    ("train_dsm-model-str", lambda: training.train_dsm(teacher(), "model", cfg(), progress=False),
     TypeError, "model must be a torch.nn.Module"),
    ("train_dsm-cfg-dict", lambda: training.train_dsm(teacher(), model(), {"L": 8}, progress=False),
     TypeError, "cfg must be a fdlf_core.training.TrainConfig"),
    ("train_dsm-sigma-beyond-float32", lambda: training.train_dsm(
        teacher(), model(), cfg(sigma_min=1e-300, sigma_max=1e-299), progress=False),
     ValueError, "sigma_min and sigma_max must be in ["),
    ("fit_exact_score-no-score", lambda: training.fit_exact_score(NoScore(), model(), cfg(), progress=False),
     TypeError, "data must have an exact score(x)"),
    ("fit_exact_score-data-none", lambda: training.fit_exact_score(None, model(), cfg(), progress=False),
     TypeError, "data must be a data source"),
    ("fit_exact_score-model-object", lambda: training.fit_exact_score(teacher(), object(), cfg(), progress=False),
     TypeError, "model must be a torch.nn.Module"),
    ("fit_exact_score-cfg-none", lambda: training.fit_exact_score(teacher(), model(), None, progress=False),
     TypeError, "cfg must be a fdlf_core.training.TrainConfig"),
    ("train_dsm_stacked-empty", lambda: training.train_dsm_stacked(teacher(), [], cfg(), [], progress=False),
     TypeError, "models must be a non-empty list of LocalCNN"),
    ("train_dsm_stacked-archs", lambda: training.train_dsm_stacked(
        teacher(), two_models(), cfg(), [0, 1], progress=False),
     ValueError, "models must share one architecture"),
    ("train_dsm_stacked-seeds", lambda: training.train_dsm_stacked(
        teacher(), [model(), model()], cfg(), [0], progress=False),
     ValueError, "seeds must be a list with one seed per model (2)"),
    ("dsm_loss-eps-L", lambda: training.dsm_loss(model(), field(), 1.0, field(2, 6)),
     ValueError, "eps must be on an L=8 lattice"),
    ("dsm_loss-eps-n", lambda: training.dsm_loss(model(), field(), 1.0, field(3)),
     ValueError, "eps must have the shape of x0"),
    ("dsm_loss-weight_power", lambda: training.dsm_loss(model(), field(), 1.0, field(), weight_power=-1.0),
     ValueError, "weight_power must be a number in [0, 2]"),
    ("sample_sigma-n-0", lambda: training.sample_sigma(0, 0.1, 1.0, torch.Generator()),
     ValueError, "n must be an int >= 1"),
    ("sample_sigma-range", lambda: training.sample_sigma(2, 1.0, 0.5, torch.Generator()),
     ValueError, "sigma_min must be < sigma_max"),
    ("load_checkpoint-missing", lambda: training.load_checkpoint(SCRATCH / "missing.pt"),
     FileNotFoundError, "checkpoint not found"),
    ("load_checkpoint-foreign", lambda: training.load_checkpoint(__file__),
     ValueError, "is not a readable fdlf checkpoint"),
    # diagnostics
    ("score_rmse-L-0", lambda: diagnostics.score_rmse(model(), teacher(), 0),
     ValueError, "L must be an even integer >= 4"),
    ("score_rmse-L-odd", lambda: diagnostics.score_rmse(model(), teacher(), 7),
     ValueError, "L must be an even integer >= 4"),
    ("score_rmse-n-0", lambda: diagnostics.score_rmse(model(), teacher(), 8, n=0), ValueError, "n must be an int >= 1"),
    ("score_rmse-seed-neg", lambda: diagnostics.score_rmse(model(), teacher(), 8, seed=-1),
     ValueError, "seed must be an int >= 0"),
    ("score_rmse-sigma-0", lambda: diagnostics.score_rmse(model(), teacher(), 8, sigma=0.0),
     ValueError, "sigma must be a finite real number > 0"),
    ("score_rmse-sigma-nan", lambda: diagnostics.score_rmse(model(), teacher(), 8, sigma=NAN),
     ValueError, "sigma must be a finite real number > 0"),
    ("score_rmse-model-str", lambda: diagnostics.score_rmse("model", teacher(), 8),
     TypeError, "model must be a torch.nn.Module"),
    ("score_rmse-teacher-gaussian", lambda: diagnostics.score_rmse(model(), gff(), 8),
     TypeError, "teacher must be a fdlf_core.teachers.Teacher"),
    ("score_rmse-wrong-output", lambda: diagnostics.score_rmse(WrongShape(), teacher(), 8, n=1),
     ValueError, "model(x, sigma) must return a tensor of the input's shape"),
    ("response_errors-L-4", lambda: diagnostics.response_errors(model(), teacher(), 4),
     ValueError, "L must be >= 6 for response_errors"),
    ("response_errors-n-0", lambda: diagnostics.response_errors(model(), teacher(), 8, n=0),
     ValueError, "n must be an int >= 1"),
    ("response_errors-delta-0", lambda: diagnostics.response_errors(model(), teacher(), 8, delta=0.0),
     ValueError, "delta must be a finite real number > 0"),
    ("response_errors-sigma-neg", lambda: diagnostics.response_errors(model(), teacher(), 8, sigma=-1.0),
     ValueError, "sigma must be a finite real number > 0"),
    ("response_errors-seed-float", lambda: diagnostics.response_errors(model(), teacher(), 8, seed=1.5),
     TypeError, "seed must be an int >= 0"),
    ("response_profile-max_distance-0", lambda: diagnostics.response_profile(model(), teacher(), 8, max_distance=0),
     ValueError, "max_distance must be an int in [1, 4]"),
    ("response_profile-max_distance-5", lambda: diagnostics.response_profile(model(), teacher(), 8, max_distance=5),
     ValueError, "max_distance must be an int in [1, 4]"),
    ("response_profile-L-odd", lambda: diagnostics.response_profile(model(), teacher(), 9),
     ValueError, "L must be an even integer >= 4"),
    ("response_profile-sigma-inf", lambda: diagnostics.response_profile(model(), teacher(), 8, sigma=INF),
     ValueError, "sigma must be a finite real number > 0"),
    ("tail_curve-zero-row", lambda: diagnostics.tail_curve(torch.zeros(8, 8), (0, 0)),
     ValueError, "response_row has no off-site response"),
    ("tail_curve-list", lambda: diagnostics.tail_curve([[0.0]], (0, 0)),
     TypeError, "response_row must be a torch.Tensor"),
    ("tail_curve-1d", lambda: diagnostics.tail_curve(torch.ones(8), (0, 0)),
     ValueError, "response_row must have shape (L, L) or (n, L, L)"),
    ("tail_curve-site-outside", lambda: diagnostics.tail_curve(torch.ones(8, 8), (9, 0)),
     ValueError, "site must lie inside the lattice"),
    ("tail_fraction-R-neg", lambda: diagnostics.tail_fraction(torch.ones(8, 8), (0, 0), R=-1),
     ValueError, "R must be an int >= 0"),
    # ising
    ("wolff-L-1", lambda: ising.wolff_sample(1, 0.4, 2, progress=False), ValueError, "L must be an int >= 2"),
    ("wolff-L-float", lambda: ising.wolff_sample(4.0, 0.4, 2, progress=False), TypeError, "L must be an int >= 2"),
    ("wolff-beta-0", lambda: ising.wolff_sample(4, 0.0, 2, progress=False),
     ValueError, "beta must be a finite real number > 0"),
    ("wolff-beta-neg", lambda: ising.wolff_sample(4, -0.4, 2, progress=False),
     ValueError, "beta must be a finite real number > 0"),
    ("wolff-beta-nan", lambda: ising.wolff_sample(4, NAN, 2, progress=False),
     ValueError, "beta must be a finite real number > 0"),
    ("wolff-beta-inf", lambda: ising.wolff_sample(4, INF, 2, progress=False),
     ValueError, "beta must be a finite real number > 0"),
    ("wolff-n_samples-0", lambda: ising.wolff_sample(4, 0.4, 0, progress=False),
     ValueError, "n_samples must be an int >= 1"),
    ("wolff-seed-neg", lambda: ising.wolff_sample(4, 0.4, 2, seed=-1, progress=False),
     ValueError, "seed must be an int >= 0"),
    ("wolff-sweeps_between-0", lambda: ising.wolff_sample(4, 0.4, 2, sweeps_between=0, progress=False),
     ValueError, "sweeps_between must be a finite real number > 0"),
    ("wolff-thermalize-0", lambda: ising.wolff_sample(4, 0.4, 2, thermalize=0, progress=False),
     ValueError, "thermalize must be a finite real number > 0"),
    ("heat_bath-L-odd", lambda: ising.heat_bath_sample(5, 0.4, 2, progress=False),
     ValueError, "L must be an even integer >= 4"),
    ("heat_bath-beta-0", lambda: ising.heat_bath_sample(4, 0.0, 2, progress=False),
     ValueError, "beta must be a finite real number > 0"),
    ("heat_bath-n_samples-0", lambda: ising.heat_bath_sample(4, 0.4, 0, progress=False),
     ValueError, "n_samples must be an int >= 1"),
    ("heat_bath-sweeps_between-0", lambda: ising.heat_bath_sample(4, 0.4, 2, sweeps_between=0, progress=False),
     ValueError, "sweeps_between must be an int >= 1"),
    ("heat_bath-thermalize-neg", lambda: ising.heat_bath_sample(4, 0.4, 2, thermalize=-1, progress=False),
     ValueError, "thermalize must be an int >= 0"),
    ("heat_bath-seed-neg", lambda: ising.heat_bath_sample(4, 0.4, 2, seed=-1, progress=False),
     ValueError, "seed must be an int >= 0"),
    ("IsingPoolConfig-L-1", lambda: ising.IsingPoolConfig(1, 0.4, 2), ValueError, "L must be an int >= 2"),
    ("IsingPoolConfig-beta-0", lambda: ising.IsingPoolConfig(4, 0.0, 2),
     ValueError, "beta must be a finite real number > 0"),
    ("IsingPoolConfig-n_samples-0", lambda: ising.IsingPoolConfig(4, 0.4, 0),
     ValueError, "n_samples must be an int >= 1"),
    ("IsingPoolConfig-seed-neg", lambda: ising.IsingPoolConfig(4, 0.4, 2, seed=-1),
     ValueError, "seed must be an int >= 0"),
    ("IsingPoolConfig-sweeps_between-0", lambda: ising.IsingPoolConfig(4, 0.4, 2, sweeps_between=0.0),
     ValueError, "sweeps_between must be a finite real number > 0"),
    ("IsingPoolConfig-thermalize-neg", lambda: ising.IsingPoolConfig(4, 0.4, 2, thermalize=-1.0),
     ValueError, "thermalize must be a finite real number > 0"),
    ("sample_pool-config-dict", lambda: ising.sample_pool({"L": 4}), TypeError, "config must be an IsingPoolConfig"),
    ("IsingData-sample-L", lambda: ising.IsingData(ising.IsingPoolConfig(4, 0.4, 2), progress=False).sample(2, 8),
     ValueError, "L must be the pool's lattice size 4"),
    ("IsingData-sample-n-0", lambda: ising.IsingData(ising.IsingPoolConfig(4, 0.4, 2), progress=False).sample(0, 4),
     ValueError, "n must be an int >= 1"),
    ("enumerate_exact-L-5", lambda: ising.enumerate_exact(5, 0.4), ValueError, "L must be <= 4 for full enumeration"),
    ("enumerate_exact-L-1", lambda: ising.enumerate_exact(1, 0.4), ValueError, "L must be an int >= 2"),
    ("enumerate_exact-beta-0", lambda: ising.enumerate_exact(4, 0.0),
     ValueError, "beta must be a finite real number > 0"),
    ("transfer_matrix_exact-L-11", lambda: ising.transfer_matrix_exact(11, 0.4),
     ValueError, "L must be <= 10 for the transfer matrix"),
    ("magnetisation_distribution-L-9", lambda: ising.magnetisation_distribution(9, 0.4),
     ValueError, "L must be <= 8 for the magnetisation distribution"),
    ("exact_correlations-L-11", lambda: ising.exact_correlations(11, 0.4),
     ValueError, "L must be <= 10 for exact correlations"),
    ("infinite_correlation-n-neg", lambda: ising.infinite_correlation(0.4, -1),
     ValueError, "n must be an int in [0, 4096]"),
    ("infinite_correlation-direction", lambda: ising.infinite_correlation(0.4, 2, direction="x"),
     ValueError, "direction must be one of ('axis', 'diagonal')"),
    ("infinite_correlation-grid", lambda: ising.infinite_correlation(0.4, 2, grid=4),
     ValueError, "grid must be an int >= 24"),
    ("correlation_length-beta-0", lambda: ising.correlation_length(0.0),
     ValueError, "beta must be a finite real number > 0"),
    ("correlation_length-beta-neg", lambda: ising.correlation_length(-0.4),
     ValueError, "beta must be a finite real number > 0"),
    ("correlation_length-beta-nan", lambda: ising.correlation_length(NAN),
     ValueError, "beta must be a finite real number > 0"),
    ("correlation_length-beta-inf", lambda: ising.correlation_length(INF),
     ValueError, "beta must be a finite real number > 0"),
    ("correlation_length-beta-str", lambda: ising.correlation_length("0.4"),
     TypeError, "beta must be a finite real number > 0"),
    ("correlation_length-direction", lambda: ising.correlation_length(0.4, "z"),
     ValueError, "direction must be one of ('axis', 'diagonal')"),
    ("smoothed_score-y-list", lambda: ising.smoothed_score([[0.0]], 0.4, 1.0),
     TypeError, "y must be a torch.Tensor (L, L)"),
    ("smoothed_score-y-3d", lambda: ising.smoothed_score(torch.zeros(1, 4, 4), 0.4, 1.0),
     ValueError, "y must be one (L, L) field"),
    ("smoothed_score-y-L-5", lambda: ising.smoothed_score(torch.zeros(5, 5), 0.4, 1.0),
     ValueError, "L must be <= 4 for the exact smoothed score"),
    ("smoothed_score-y-nan", lambda: ising.smoothed_score(torch.full((4, 4), NAN), 0.4, 1.0),
     ValueError, "y must be a finite floating-point tensor"),
    ("smoothed_score-y-int", lambda: ising.smoothed_score(torch.zeros(4, 4, dtype=torch.int64), 0.4, 1.0),
     ValueError, "y must be a finite floating-point tensor"),
    ("smoothed_score-sigma-0", lambda: ising.smoothed_score(torch.zeros(4, 4), 0.4, 0.0),
     ValueError, "sigma must be a finite real number > 0"),
    ("smoothed_score-beta-neg", lambda: ising.smoothed_score(torch.zeros(4, 4), -0.4, 1.0),
     ValueError, "beta must be a finite real number > 0"),
    ("ising-posterior_covariance-y-3d", lambda: ising.posterior_covariance(torch.zeros(2, 4, 4), 0.4, 1.0),
     ValueError, "y must be one (L, L) field"),
    ("smoothed_log_density-sigma-nan", lambda: ising.smoothed_log_density(torch.zeros(4, 4), 0.4, NAN),
     ValueError, "sigma must be a finite real number > 0"),
    ("smoothed_score_response-d-0", lambda: ising.smoothed_score_response(0.4, 1.0, 0, 8),
     ValueError, "d must be an int in [1, 3]"),
    ("smoothed_score_response-d-4", lambda: ising.smoothed_score_response(0.4, 1.0, 4, 8),
     ValueError, "d must be an int in [1, 3]"),
    ("smoothed_score_response-L-2", lambda: ising.smoothed_score_response(0.4, 1.0, 1, 2),
     ValueError, "L must be >= 3"),
    ("smoothed_score_response-inf-d-0", lambda: ising.smoothed_score_response(0.4, 1.0, 0, None),
     ValueError, "d must be an int in [1, 4096]"),
    ("smoothed_score_response-sigma-0", lambda: ising.smoothed_score_response(0.4, 0.0, 1, 8),
     ValueError, "sigma must be a finite real number > 0"),
    ("learned_response-model-str", lambda: ising.learned_response("model", 1.0, 8),
     TypeError, "model must be a torch.nn.Module"),
    ("learned_response-sigma-0", lambda: ising.learned_response(model(), 0.0, 8),
     ValueError, "sigma must be a finite real number > 0"),
    ("learned_response-L-1", lambda: ising.learned_response(model(), 1.0, 1), ValueError, "L must be an int >= 2"),
    # gaussian
    ("gaussian-clean_score-kappa-0", lambda: gaussian.clean_score(field(), 0.0),
     ValueError, "kappa must be a finite real number > 0"),
    ("gaussian-clean_score-x-odd", lambda: gaussian.clean_score(field(2, 7), 1.0),
     ValueError, "x.shape[-1] (L) must be an even integer >= 4"),
    ("gaussian-clean_score-x-nan", lambda: gaussian.clean_score(filled(NAN), 1.0), ValueError, "x must be finite"),
    ("gaussian-smoothed_score-sigma-neg", lambda: gaussian.smoothed_score(field(), 1.0, -1.0),
     ValueError, "sigma must be 0 (the clean score) or in"),
    ("gaussian-smoothed_score-sigma-nan", lambda: gaussian.smoothed_score(field(), 1.0, NAN),
     ValueError, "sigma must be a finite real number"),
    ("gaussian-smoothed_score-y-2d", lambda: gaussian.smoothed_score(torch.zeros(8, 8), 1.0, 1.0),
     ValueError, "y must have shape (n, L, L)"),
    ("gaussian-smoothed_score-y-int", lambda: gaussian.smoothed_score(field(dtype=torch.int64), 1.0, 1.0),
     TypeError, "y must be a floating-point tensor"),
    ("gaussian-score_response-L-5", lambda: gaussian.score_response(1.0, 1.0, 5),
     ValueError, "L must be an even integer >= 4"),
    ("gaussian-score_response-kappa-neg", lambda: gaussian.score_response(-1.0, 1.0, 8),
     ValueError, "kappa must be a finite real number > 0"),
    ("gaussian-posterior_covariance-sigma-0", lambda: gaussian.posterior_covariance(1.0, 0.0, 8),
     ValueError, "sigma must be a finite real number > 0"),
    ("gaussian-covariance-L-3", lambda: gaussian.covariance(1.0, 3), ValueError, "L must be an even integer >= 4"),
    ("gaussian-symbol-kappa-inf", lambda: gaussian.symbol(INF, 8),
     ValueError, "kappa must be a finite real number > 0"),
    ("gaussian-sample-n-0", lambda: gaussian.sample(0, 8, 1.0), ValueError, "n must be an int >= 1"),
    ("gaussian-sample-kappa-0", lambda: gaussian.sample(2, 8, 0.0),
     ValueError, "kappa must be a finite real number > 0"),
    ("gaussian-sample-generator", lambda: gaussian.sample(2, 8, 1.0, generator=1),
     TypeError, "generator must be a torch.Generator or None"),
    ("gaussian-response_length-sigma-neg", lambda: gaussian.response_length(1.0, -1.0),
     ValueError, "sigma must be 0 (the clean score) or in"),
    ("gaussian-response_length-kappa-0", lambda: gaussian.response_length(0.0, 1.0),
     ValueError, "kappa must be a finite real number > 0"),
    ("GaussianFieldConfig-kappa-0", lambda: gaussian.GaussianFieldConfig(0.0),
     ValueError, "kappa must be a finite real number > 0"),
    ("GaussianField-config-dict", lambda: gaussian.GaussianField({"kappa": 1.0}),
     TypeError, "config must be a GaussianFieldConfig"),
    ("GaussianField-sample-L-odd", lambda: gff().sample(2, 7),
     ValueError, "L must be an even integer >= 4"),
    # tweedie
    ("tweedie-cov-list", lambda: tweedie.response([1.0], 1.0), TypeError, "cov must be a floating-point torch.Tensor"),
    ("tweedie-cov-int", lambda: tweedie.response(torch.ones(3, dtype=torch.int64), 1.0),
     TypeError, "cov must be a floating-point torch.Tensor"),
    ("tweedie-sigma-0", lambda: tweedie.response(torch.ones(3), 0.0),
     ValueError, "sigma must be a finite real number > 0"),
    ("tweedie-sigma-nan", lambda: tweedie.response(torch.ones(3), NAN),
     ValueError, "sigma must be a finite real number > 0"),
    ("tweedie-diagonal-not-square", lambda: tweedie.response(torch.ones(2, 3), 1.0, "diagonal"),
     ValueError, "self_index must be an index, None, or 'diagonal' for a square matrix"),
    ("tweedie-self_index-str", lambda: tweedie.response(torch.ones(3, 3), 1.0, "diag"),
     ValueError, "self_index must be an index, None, or 'diagonal'"),
    # experiments, runner
    ("run_experiment-unknown", lambda: experiments.run_experiment("fig9", out=SCRATCH),
     ValueError, "experiment must be one of"),
    ("run_experiment-profile", lambda: experiments.run_experiment("fig1", profile="huge", out=SCRATCH),
     ValueError, "profile must be one of ['paper', 'quick']"),
    ("run_experiment-paper-2x-fig1", lambda: experiments.run_experiment("fig1", profile="paper-2x", out=SCRATCH),
     ValueError, "profile must be one of ['paper', 'quick']"),
    ("run_experiment-jobs-0", lambda: experiments.run_experiment("fig1", jobs=0, out=SCRATCH),
     ValueError, "jobs must be an int >= 1"),
    ("run_experiment-jobs-float", lambda: experiments.run_experiment("fig1", jobs=1.0, out=SCRATCH),
     TypeError, "jobs must be an int >= 1"),
    ("run_experiment-executor", lambda: experiments.run_experiment("fig1", executor="pool", out=SCRATCH),
     ValueError, "executor must be one of ('process', 'dask')"),
    ("run_experiment-executor-type", lambda: experiments.run_experiment("fig1", executor=3, out=SCRATCH),
     TypeError, "executor must be a concurrent.futures.Executor"),
    ("run_experiment-device", lambda: experiments.run_experiment("fig1", device="tpu", out=SCRATCH),
     ValueError, "device must be one of"),
    ("run_experiment-scheduler", lambda: experiments.run_experiment("fig1", scheduler="tcp://h:1", out=SCRATCH),
     ValueError, "needs executor='dask'"),
    ("run_experiment-families", lambda: experiments.run_experiment("fig1", families=["nope"], out=SCRATCH),
     ValueError, "family must be one of"),
    ("expand-unknown", lambda: experiments.expand("nope", "quick"), ValueError, "experiment must be one of"),
    ("expand-profile", lambda: experiments.expand("fig2", "nope"), ValueError, "profile must be one of"),
    ("expand-family", lambda: experiments.expand("fig2", "quick", families=["complex_local"]),
     ValueError, "family must be one of"),
    ("load_results-unknown", lambda: experiments.load_results(SCRATCH, "nope", "quick"),
     ValueError, "experiment must be one of"),
    ("check_results-profile", lambda: experiments.check_results("fig4", "paper-2x", SCRATCH),
     ValueError, "profile must be one of"),
    ("sweep_run-fit", lambda: sweep_run("simple_local", 1, 8, BUDGET, 0, (8,), fit="x"),
     ValueError, "fit must be one of"),
    ("process_pool-0", lambda: runner.process_pool(0), ValueError, "jobs must be an int >= 1"),
    ("train_dsm-not-a-score-model", lambda: training.train_dsm(teacher(), nn.Linear(4, 4), cfg(), progress=False),
     TypeError, "model must be a score model with forward(x, sigma); Linear.forward takes"),
    ("train_dsm-samples-of-another-size", lambda: training.train_dsm(WrongSize(), model(), cfg(), progress=False),
     ValueError, "data.sample(2, 8) must return a (2, 8, 8) tensor or a ConditionedSample; got (2, 10, 10)"),
    ("dsm_loss-model-a-str", lambda: training.dsm_loss("m", field(), 1.0, field()),
     TypeError, "model must be a torch.nn.Module with forward(x, sigma); got str"),
    ("response_errors-delta-huge", lambda: diagnostics.response_errors(model(), teacher(), 8, n=1, delta=1e300),
     ValueError, "delta must be in (0, 1] (a finite-difference step"),
    ("smoothed_score_response-d-beyond", lambda: ising.smoothed_score_response(0.4, 1.0, d=5000, L=None),
     ValueError, "d must be an int in [1, 4096]"),
    ("make-scale-clip-huge", lambda: teachers.make("simple_local", scale_clip=1e300),
     ValueError, "scale_clip must be in (0, 20.0]"),
    ("sample-flow-overflows", lambda: teachers.make("simple_local", scale_clip=20.0, coupling_strength=1e3,
                                                    pre_depth=256, flow_depth=256).sample(
        1, 4, generator=torch.Generator().manual_seed(0)),  # seeded: about 1 draw in 200 stays finite
     ValueError, "the simple_local teacher's flow overflowed float64"),
    ("LocalCNN-sigma-data-huge", lambda: LocalCNN(0, 2, sigma_data=1e300),
     ValueError, "sigma_data must be in [1.08e-19, 1.84e+19]"),
    ("wolff-thermalize-forever", lambda: ising.wolff_sample(8, 0.4, 2, thermalize=1e12),
     ValueError, "spin updates, more than the limit 1e+11"),
    ("heat-bath-sweeps-forever", lambda: ising.heat_bath_sample(8, 0.4, 10, sweeps_between=10 ** 10),
     ValueError, "spin updates, more than the limit 1e+11"),
    ("score_rmse-diverged-model", lambda: diagnostics.score_rmse(Diverged(), teacher(), 8, n=1),
     ValueError, "model(x, sigma=0.005) returned NaN or inf on 1 field(s) of L=8"),
    ("gaussian-posterior-sigma-tiny", lambda: gaussian.posterior_covariance(1.0, 1e-200, 8),
     ValueError, "sigma must be in [1.22e-77, 1.16e+77]; got 1e-200"),
    ("gaussian-response-length-sigma-tiny", lambda: gaussian.response_length(1.0, 1e-200),
     ValueError, "sigma must be 0 (the clean score) or in [1.22e-77"),
    ("gaussian-smoothed-score-sigma-huge", lambda: gaussian.smoothed_score(field(), 1.0, 1e200),
     ValueError, "sigma must be 0 (the clean score) or in"),
    ("gaussian-sample-kappa-tiny", lambda: gaussian.sample(1, 4, kappa=1e-200),
     ValueError, "kappa must be in [1.22e-77, 1.16e+77]; got 1e-200"),
    ("tweedie-self-index-outside", lambda: tweedie.response(torch.ones(3), 1.0, self_index=5),
     ValueError, "self_index must be an index into cov (shape (3,)); got 5"),
    ("tweedie-self-index-row-outside", lambda: tweedie.response(torch.ones(4, 4), 1.0, (0, 9)),
     ValueError, "self_index must be an index into cov (shape (4, 4)); got (0, 9)"),
    ("tweedie-sigma-underflows", lambda: tweedie.response(torch.ones(3), 1e-100),
     ValueError, "sigma must be in [3.29e-10, 4.29e+09] for a torch.float32 cov"),
    ("warmup-leaves-no-cosine", lambda: cfg(steps=2, schedule="cosine", warmup=0.9),
     ValueError, "warmup must leave the cosine at least one of the 2 steps"),
    ("load_checkpoint-None", lambda: training.load_checkpoint(None), TypeError, "path must be a str or os.PathLike"),
    ("load_checkpoint-directory", lambda: training.load_checkpoint(SCRATCH.parent),
     ValueError, "path must be a checkpoint file, not a directory"),
    ("sample_sigma-generator-int", lambda: training.sample_sigma(2, 0.1, 1.0, generator=3),
     TypeError, "generator must be a torch.Generator; got int"),
    ("expand-families-a-str", lambda: experiments.expand("fig1", "quick", families="simple_local"),
     TypeError, "families must be a list of family names, not a str"),
    ("process_pool-float", lambda: runner.process_pool(1.5), TypeError, "jobs must be an int >= 1"),
    ("process_pool-threads-0", lambda: runner.process_pool(1, threads=0), ValueError, "threads must be an int >= 1"),
]

# fdlf rejects these itself: exit code 2, one line on stderr; "{tmp}" becomes a scratch directory holding one
# empty file, "a-file"
CLI = [
    ("demo-L-0", ["demo", "--L", "0"], "L must be an even integer >= 4"),
    ("demo-L-odd", ["demo", "--L", "7"], "L must be an even integer >= 4"),
    ("demo-L-2", ["demo", "--L", "2"], "L must be an even integer >= 4"),
    ("demo-steps-0", ["demo", "--steps", "0"], "steps must be an int >= 1"),
    ("demo-steps-neg", ["demo", "--steps", "-5"], "steps must be an int >= 1"),
    ("demo-batch-size-0", ["demo", "--batch-size", "0"], "batch_size must be an int >= 1"),
    ("demo-batch-size-neg", ["demo", "--batch-size", "-1"], "batch_size must be an int >= 1"),
    ("demo-lr-0", ["demo", "--lr", "0"], "lr must be a finite real number > 0"),
    ("demo-lr-neg", ["demo", "--lr", "-0.001"], "lr must be a finite real number > 0"),
    ("demo-lr-nan", ["demo", "--lr", "nan"], "lr must be a finite real number > 0"),
    ("demo-lr-inf", ["demo", "--lr", "inf"], "lr must be a finite real number > 0"),
    ("demo-blocks-neg", ["demo", "--blocks", "-1"], "blocks must be an int in [0, 256]"),
    ("demo-width-0", ["demo", "--width", "0"], "width must be an int in [1, 4096]"),
    ("demo-seed-neg", ["demo", "--seed", "-1"], "seed must be an int >= 0"),
    ("demo-eval-sizes-0", ["demo", "--eval-sizes", "0"], "--eval-sizes must be an even integer >= 4"),
    ("demo-eval-sizes-odd", ["demo", "--eval-sizes", "16", "33"], "--eval-sizes must be an even integer >= 4"),
    ("demo-save-dir", ["demo", "--save", "{tmp}"], "--save must be a file path, not a directory"),
    ("demo-eval-n-0", ["demo", "--eval-n", "0"], "--eval-n must be an int >= 1"),
    ("demo-eval-sizes-below-the-far-band", ["demo", "--eval-sizes", "4"], "--eval-sizes must be >= 6"),
    ("demo-save-under-a-file", ["demo", "--save", "{tmp}/a-file/model.pt"], "--save: cannot create the directory"),
    ("demo-save-unwritable", ["demo", "--save", "/proc/model.pt"], "--save: cannot write in the directory /proc"),
    ("demo-teacher-seed-neg", ["demo", "--teacher-seed", "-1"], "--teacher-seed must be an int >= 0"),
    ("reproduce-out-a-file", ["reproduce", "--only", "fig1", "--out", "{tmp}/a-file"],
     "--out must be a directory (the results root); got a file"),
    ("reproduce-jobs-0", ["reproduce", "--jobs", "0", "--out", "{tmp}"], "--jobs must be an int >= 1"),
    ("reproduce-jobs-neg", ["reproduce", "--jobs", "-2", "--out", "{tmp}"], "--jobs must be an int >= 1"),
    ("reproduce-only-unknown", ["reproduce", "--only", "fig9", "--out", "{tmp}"],
     "--only must be a comma-separated subset"),
    ("reproduce-only-empty", ["reproduce", "--only", ",", "--out", "{tmp}"], "--only must be a comma-separated subset"),
    ("reproduce-only-mixed", ["reproduce", "--only", "fig1,nope", "--out", "{tmp}"],
     "--only must be a comma-separated subset"),
    ("reproduce-profile-not-of-figure", ["reproduce", "--profile", "paper-2x", "--only", "fig1", "--out", "{tmp}"],
     "profile must be one of ['paper', 'quick']"),
    ("explore-port-80", ["explore", "gaussian", "--port", "80"], "port must be an int in [1024, 65535]"),
    ("explore-port-70000", ["explore", "gaussian", "--port", "70000"], "port must be an int in [1024, 65535]"),
]

# argparse rejects these: SystemExit(2), one line pointing to --help
CLI_USAGE = [
    ("demo-L-text", ["demo", "--L", "abc"], "argument --L: invalid int value"),
    ("demo-lr-text", ["demo", "--lr", "fast"], "argument --lr: invalid float value"),
    ("demo-eval-sizes-empty", ["demo", "--eval-sizes"], "argument --eval-sizes: expected at least one argument"),
    ("demo-family", ["demo", "--family", "nope"], "argument --family: invalid choice: 'nope'"),
    ("demo-unknown-option", ["demo", "--bogus"], "unrecognized arguments: --bogus"),
    ("demo-blocks-float", ["demo", "--blocks", "1.5"], "argument --blocks: invalid int value"),
    ("demo-steps-float", ["demo", "--steps", "1.5"], "argument --steps: invalid int value"),
    ("reproduce-jobs-text", ["reproduce", "--jobs", "many"], "argument --jobs: invalid int value"),
    ("reproduce-profile-unknown", ["reproduce", "--profile", "huge"], "argument --profile: invalid choice: 'huge'"),
    ("explore-unknown", ["explore", "nope"], "argument name: invalid choice: 'nope'"),
    ("no-command", [], "the following arguments are required: command"),
    ("unknown-command", ["bogus"], "argument command: invalid choice: 'bogus'"),
]


@pytest.mark.parametrize("call, exc, fragment", [row[1:] for row in API], ids=[row[0] for row in API])
def test_api_rejects_bad_input(call, exc, fragment):
    with pytest.raises(exc, match=re.escape(fragment)):
        call()


@pytest.mark.parametrize("argv, fragment", [row[1:] for row in CLI], ids=[row[0] for row in CLI])
def test_cli_rejects_bad_input_in_one_line(argv, fragment, tmp_path, capsys):
    (tmp_path / "a-file").write_text("")
    assert main([arg.replace("{tmp}", str(tmp_path)) for arg in argv]) == 2
    err = capsys.readouterr().err
    assert fragment in err and len(err.strip().splitlines()) == 1, err


@pytest.mark.parametrize("argv, fragment", [row[1:] for row in CLI_USAGE], ids=[row[0] for row in CLI_USAGE])
def test_cli_usage_errors_exit_2(argv, fragment, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert fragment in err and len(err.strip().splitlines()) == 1, err
