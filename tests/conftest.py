import pytest
import torch


@pytest.fixture(autouse=True)
def _two_threads():
    # CI machines have 2 cores; fixed thread count keeps CPU results reproducible across runs.
    torch.set_num_threads(2)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)
