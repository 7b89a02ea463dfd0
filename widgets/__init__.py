"""fdlf explorers: ipywidgets views with live plotly figures over ``fdlf_core`` (they hold no science).

Each explorer is built with its settings as keyword arguments, shows itself when displayed in a notebook
(``explorer`` or ``explorer.widget``), and can be driven headlessly: ``explorer.set(sigma=2.0)`` runs the
same update a slider move runs, ``explorer.settings_line()`` is the line of Python that recreates the view,
and ``explorer.snapshot()`` returns static ``go.Figure`` copies (for papermill/nbval runs). Figures reach the
page through ``plot.Plot`` (why not plotly's ``FigureWidget``: see that module).
"""
from .base import Explorer
from .extrapolation import ExtrapolationExplorer
from .gaussian import GaussianExplorer
from .generation import GenerationExplorer
from .hardvalid import HardValidExplorer
from .ising import IsingExplorer
from .response import ResponseExplorer

EXPLORERS = {"gaussian": GaussianExplorer, "response": ResponseExplorer, "ising": IsingExplorer,
             "extrapolation": ExtrapolationExplorer, "hardvalid": HardValidExplorer, "generation": GenerationExplorer}

__all__ = ["EXPLORERS", "Explorer", "ExtrapolationExplorer", "GaussianExplorer", "GenerationExplorer", "HardValidExplorer",
           "IsingExplorer", "ResponseExplorer"]
