"""Hard-valid 3D explorer: one exact sample of a Fig. 3 teacher and how far its score responds."""
from __future__ import annotations

import functools

import ipywidgets as w
import plotly.graph_objects as go
import torch

from fdlf_core import plots
from fdlf_core.hardvalid import teacher as hv

from .base import Explorer
from .views import replace_figure


@functools.lru_cache(maxsize=16)
def _sample(family: str, L: int, seed: int) -> hv.State:
    return hv.make(family).sample(1, L, generator=torch.Generator().manual_seed(seed))


@functools.lru_cache(maxsize=16)
def _response(family: str, L: int, seed: int) -> tuple[tuple[int, int, int], torch.Tensor]:
    """The central probe of the sample and ``hv.response_magnitude`` there, ``(d_c, L, L, L)``."""
    state = _sample(family, L, seed)
    probe = hv.central_probe(state)
    return probe, hv.response_magnitude(hv.make(family), state, probe)


class HardValidExplorer(Explorer):
    """A family (``hv_local``, ``hv_medium``, ``hv_long``), a box size ``L`` and a sample ``seed``: the port
    network of one exact sample as 3D segments coloured by type label, occupied sites coloured by ``c_0``;
    and the exact response ``|d s_probe / d c_j|`` on the plane through the occupied site nearest the centre,
    with the model's receptive square ``R_eff``, and the share of it beyond ``R_eff``."""

    title = "Hard-valid 3D teacher (Fig. 3): one exact sample and its score response"

    def _controls(self, family: str = "hv_long", L: int = 10, seed: int = 0, R_eff: int = 4):
        style = {"description_width": "initial"}
        return {
            "family": w.Dropdown(value=family, options=list(hv.FAMILIES), description="teacher", style=style),
            "L": w.Dropdown(value=L, options=[6, 8, 10, 12, 14], description="box L", style=style),
            "seed": w.IntSlider(value=seed, min=0, max=9, description="sample seed", style=style),
            "R_eff": w.IntSlider(value=R_eff, min=2, max=10, step=2, description="model R_eff", style=style),
        }

    def _figures(self):
        return {"sample": go.Figure(), "response": go.Figure()}

    def update(self, family: str, L: int, seed: int, R_eff: int) -> str:
        state = _sample(family, L, seed)
        probe, row = _response(family, L, seed)
        replace_figure(self.figures["sample"], plots.hard_valid_sample(state.b[0], state.a[0], state.c[0],
                                                                  title=f"{family}, seed {seed}"))
        replace_figure(self.figures["response"], plots.hard_valid_response_slice(row, probe, R=R_eff,
                                                                            title=f"{family}: exact response at"))
        total = row.sum(0)
        beyond = float(total[hv.distance_map3(L, probe) > R_eff].sum() / total.sum())
        return f"probe {probe}: share of the response's total |ds/dc| beyond R_eff={R_eff}: {beyond:.3g}"
