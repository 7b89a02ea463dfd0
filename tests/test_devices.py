"""devices: device names resolved or refused by name; the CPU path through a run; and, where CUDA is present,
one DSM step and the score RMSE on the GPU against the CPU (the same CPU-drawn data, float tolerance)."""
import math

import pytest
import torch

from fdlf_core import devices, diagnostics, runner, teachers, training
from fdlf_core.experiments.fdlf2d import SweepBudget, sweep_run
from fdlf_core.models import LocalCNN

CUDA = torch.cuda.is_available()
TINY = SweepBudget(steps=3, batch_size=2, eval_n=2, response_n=2, seeds=(0,), width=4)


def test_device_names():
    assert devices.resolve_device("cpu") == torch.device("cpu") == devices.resolve_device(" CPU ")
    assert devices.resolve_device(torch.device("cpu")) == torch.device("cpu")
    assert devices.resolve_device("auto") == torch.device("cuda" if CUDA else "cpu")
    assert devices.check_device("cuda:3") == "cuda:3"  # a name a dask worker may resolve, whatever this machine has
    for bad in ("gpu", "cuda:", "cuda:x", "cuda:\u00b2", "mps", ""):
        with pytest.raises(ValueError, match="device must be one of"):
            devices.resolve_device(bad)
    with pytest.raises(TypeError, match="device must be a str"):
        devices.resolve_device(0)
    if not CUDA:
        with pytest.raises(ValueError, match="does not have"):
            devices.resolve_device("cuda")
    with pytest.raises(ValueError, match="CUDA device|does not have"):
        devices.resolve_device("cuda:99")


def test_a_cpu_run_records_its_device_and_matches_the_default(tmp_path):
    spec = sweep_run("simple_local", 1, 8, TINY, 0, (8,), (), experiment="test", profile="tiny")
    default = runner.execute_run(spec, None)
    named = runner.execute_run(spec, tmp_path, device="cpu")
    assert [r["score_rmse"] for r in named["rows"]] == [r["score_rmse"] for r in default["rows"]]
    assert {r["device"] for r in named["rows"]} == {"cpu"}
    with pytest.raises(ValueError, match="device must be one of"):
        runner.execute_run(spec, None, device="tpu")


@pytest.mark.skipif(CUDA, reason="checks the refusal on a machine without CUDA")
def test_a_local_dask_cluster_is_not_started_for_a_device_this_machine_lacks(tiny_fig1, tmp_path):
    from fdlf_core import experiments as ex

    with pytest.raises(ValueError, match="does not have"):
        ex.run_experiment("fig1", "quick", out=tmp_path, executor="dask", device="cuda", progress=False)
    assert not any((tmp_path / "fig1" / "quick").glob("runs.jsonl"))


@pytest.mark.skipif(not CUDA, reason="needs a CUDA device; CI has none, the lent GPU machine runs it")
def test_one_dsm_step_and_the_score_rmse_agree_on_cuda_and_cpu(tmp_path):
    teacher = teachers.make("medium_range", seed=0)
    cfg = training.TrainConfig(L=16, steps=1, batch_size=4, lr=1e-3, seed=3, antithetic=True)
    cpu = training.train_dsm(teacher, LocalCNN(2, 16, seed=1), cfg, progress=False)
    gpu = training.train_dsm(teacher, LocalCNN(2, 16, seed=1).to("cuda"), cfg, progress=False)
    assert math.isclose(cpu.losses[0], gpu.losses[0], rel_tol=1e-4)
    # Adam's first step moves each weight by ~lr sign(g): a gradient at float noise may flip its sign, so the
    # weights agree to 2 lr, and the gradients themselves, where they are not noise, to float tolerance
    for (name, a), b in zip(cpu.model.state_dict().items(), gpu.model.state_dict().values()):
        torch.testing.assert_close(b.cpu(), a, rtol=0, atol=2 * cfg.lr + 1e-6, msg=name)
    x = teacher.sample(2, 16, generator=torch.Generator().manual_seed(0)).float()
    same = LocalCNN(2, 16, seed=1)
    grads = []
    for model in (same, LocalCNN(2, 16, seed=1).to("cuda")):  # one backward pass on identical weights
        model(x, 0.1).pow(2).sum().backward()
        grads.append(torch.cat([p.grad.flatten().cpu() for p in model.parameters()]))
    torch.testing.assert_close(grads[1], grads[0], rtol=1e-3, atol=1e-4)
    answer = gpu.model(x, 0.1)  # CPU input: computed on the GPU, answered on the CPU
    assert answer.device.type == "cpu"
    torch.testing.assert_close(answer, cpu.model(x, 0.1), rtol=1e-4, atol=1e-5)
    rmse = [diagnostics.score_rmse(m, teacher, 16, n=2, seed=5) for m in (cpu.model, gpu.model)]
    assert math.isclose(*rmse, rel_tol=1e-4)
    training.save_checkpoint(tmp_path / "gpu.pt", gpu)  # stored on the CPU: loads on a machine without CUDA
    loaded = training.load_checkpoint(tmp_path / "gpu.pt")
    assert all(t.device.type == "cpu" for t in loaded.model.state_dict().values())
    spec = sweep_run("simple_local", 1, 8, TINY, 0, (8,), (), experiment="test", profile="tiny")
    rows = [runner.execute_run(spec, None, device=d)["rows"][0] for d in ("cpu", "cuda")]
    assert rows[1]["device"].startswith("cuda") and math.isclose(rows[0]["score_rmse"], rows[1]["score_rmse"],
                                                                  rel_tol=1e-3)
