"""Named classes that checkpoints refer to: score models and data-source configs.

A module that defines a model class or a data source's config dataclass registers it with
``@registry.model`` or ``@registry.data_config``; a checkpoint stores the class's name and module, and
``resolve`` finds the class again. So ``training`` loads checkpoints of every data source and model without
importing any of them, and a new data source (the 3D hard-valid teacher, a user's own) plugs in by
registering itself, nothing else.

Only modules of this package are imported on ``resolve`` (a checkpoint cannot name arbitrary code).
"""
from __future__ import annotations

import importlib

PACKAGE = __name__.rsplit(".", 1)[0]  # "fdlf_core"
KINDS = ("model", "data_config")
_REGISTERED: dict[str, dict[str, type]] = {kind: {} for kind in KINDS}
# checkpoints written before the registry named classes without their module
_LEGACY_MODULES = {"TeacherConfig": f"{PACKAGE}.teachers", "IsingPoolConfig": f"{PACKAGE}.ising.pool",
                   "LocalCNN": f"{PACKAGE}.models"}


def _register(kind: str, cls: type) -> type:
    known = _REGISTERED[kind].get(cls.__name__)
    if known is not None and known is not cls:
        raise ValueError(f"two {kind} classes are named {cls.__name__!r} ({known.__module__} and {cls.__module__})")
    _REGISTERED[kind][cls.__name__] = cls
    return cls


def model(cls: type) -> type:
    """Class decorator: a score model that checkpoints can name (``from_config(dict)``, ``config``)."""
    return _register("model", cls)


def data_config(cls: type) -> type:
    """Class decorator: the config dataclass of a data source that checkpoints can name."""
    return _register("data_config", cls)


def name_of(obj: object) -> dict[str, str]:
    """``{"name", "module"}`` of ``obj``'s class, as a checkpoint stores it; ``TypeError`` if unregistered."""
    cls = type(obj)
    if not any(_REGISTERED[kind].get(cls.__name__) is cls for kind in KINDS):
        raise TypeError(f"{cls.__name__} is not registered; decorate it with fdlf_core.registry.model or "
                        f"fdlf_core.registry.data_config")
    return {"name": cls.__name__, "module": cls.__module__}


def resolve(kind: str, name: str, module: str | None = None) -> type:
    """The registered ``kind`` class called ``name``, importing ``module`` (of this package) first if needed."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}; got {kind!r}")
    if name not in _REGISTERED[kind]:
        module = module or _LEGACY_MODULES.get(name)
        if module is None or not (module == PACKAGE or module.startswith(PACKAGE + ".")):
            raise ValueError(f"unknown {kind} class {name!r} (module {module!r} is not part of {PACKAGE})")
        importlib.import_module(module)
    try:
        return _REGISTERED[kind][name]
    except KeyError:
        raise ValueError(f"unknown {kind} class {name!r}: {module} does not register it") from None
