"""The names the command line offers, importable without torch, so ``fdlf --help`` and usage errors answer
at once instead of after seconds of imports. ``teachers.FAMILIES`` and ``experiments.EXPERIMENTS`` are
keyed by these, in this order (``tests/test_cli.py`` checks it)."""

FAMILIES = ("simple_local", "complex_local", "medium_range", "complex_long", "complex_long_printed")
EXPERIMENTS = ("fig1", "floor", "fig2", "ablation", "fig3", "fig4", "table5", "fig1_attention", "fig2_attention",
               "sweep")
PROFILES = ("paper", "paper-2x", "quick", "sweep", "sweep-1seed")
DEVICES = ("cpu", "cuda", "auto")  # where models train (devices.resolve_device; also "cuda:N")
EXECUTORS = ("process", "dask")  # where runs execute: this machine (inline or a process pool), or dask
EXPLORERS = ("gaussian", "response", "ising", "extrapolation", "hardvalid", "generation")
# what `fdlf explore` serves: an explorer, or the teaching tour (all of them with the story between)
PAGES = (*EXPLORERS, "tour")
