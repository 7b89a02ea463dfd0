"""Where models train and run: ``resolve_device`` turns ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"auto"``
into a ``torch.device``, refusing one this machine does not have.

The device is the model's only. Teachers, the Ising pools and every random draw stay on the CPU in float64
(the same numbers on any machine, from the same CPU generators); a batch moves to the model's device for
the forward and backward pass, and a model answers on its input's device (``models``), so evaluation code
written for the CPU runs unchanged. Checkpoints are stored on the CPU and load anywhere.
"""
from __future__ import annotations

import torch

from .catalog import DEVICES


def check_device(device: str | torch.device) -> str:
    """``device``'s name if it is one of ``DEVICES`` or ``cuda:N`` (whether or not this machine has it: a
    dask worker may); ``ValueError`` / ``TypeError`` naming the parameter otherwise."""
    if isinstance(device, torch.device):
        device = str(device)
    if not isinstance(device, str):
        raise TypeError(f"device must be a str ({', '.join(DEVICES)} or cuda:N) or a torch.device; got "
                        f"{type(device).__name__}")
    name = device.strip().lower()
    if name not in DEVICES and not (name.startswith("cuda:") and name[len("cuda:"):].isdecimal() and name[len("cuda:"):].isascii()):
        raise ValueError(f"device must be one of {DEVICES} or cuda:N; got {device!r}")
    return name


def resolve_device(device: str | torch.device = "cpu") -> torch.device:
    """``torch.device`` for ``device`` on this machine (``check_device``; ``"auto"``: CUDA if available, else
    the CPU); ``ValueError`` for CUDA on a machine without it, or a CUDA index it does not have."""
    name = check_device(device)
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise ValueError(f"device {device!r} asks for CUDA, which this machine does not have (torch "
                         f"{torch.__version__}); use device='cpu' or 'auto'")
    if name.startswith("cuda:") and int(name[len("cuda:"):]) >= torch.cuda.device_count():
        raise ValueError(f"device {device!r}: this machine has {torch.cuda.device_count()} CUDA device(s), "
                         f"cuda:0 to cuda:{torch.cuda.device_count() - 1}")
    return torch.device(name)


def model_device(model: torch.nn.Module) -> torch.device:
    """The device of ``model``'s parameters (the CPU for a parameter-free module)."""
    param = next(model.parameters(), None)
    return torch.device("cpu") if param is None else param.device
