"""registry: the classes checkpoints name, found again by name and module; only fdlf_core code is imported."""
import dataclasses
import subprocess
import sys

import pytest

from fdlf_core import registry
from fdlf_core.ising import IsingPoolConfig
from fdlf_core.models import LocalCNN, LocalCNNConfig
from fdlf_core.teachers import TeacherConfig


@pytest.fixture
def scratch(monkeypatch):
    """Registrations made in a test vanish after it."""
    for kind in registry.KINDS:
        monkeypatch.setitem(registry._REGISTERED, kind, dict(registry._REGISTERED[kind]))


def test_the_packages_classes_are_registered_under_their_names():
    assert registry.name_of(LocalCNN(1, 4)) == {"name": "LocalCNN", "module": "fdlf_core.models"}
    assert registry.name_of(TeacherConfig(family="simple_local")) == {"name": "TeacherConfig",
                                                                      "module": "fdlf_core.teachers"}
    assert registry.name_of(IsingPoolConfig(L=8, beta=0.4, n_samples=2)) == {"name": "IsingPoolConfig",
                                                                             "module": "fdlf_core.ising.pool"}
    assert registry.resolve("model", "LocalCNN", "fdlf_core.models") is LocalCNN
    assert registry.resolve("data_config", "TeacherConfig", "fdlf_core.teachers") is TeacherConfig
    assert registry.resolve("data_config", "IsingPoolConfig", "fdlf_core.ising.pool") is IsingPoolConfig


def test_legacy_names_resolve_without_a_module():
    assert registry.resolve("model", "LocalCNN") is LocalCNN
    assert registry.resolve("data_config", "TeacherConfig") is TeacherConfig
    assert registry.resolve("data_config", "IsingPoolConfig") is IsingPoolConfig


def test_resolve_imports_the_named_module_in_a_fresh_interpreter():
    # nothing but the registry is imported there: resolve must import the module (given or legacy)
    probe = ("import sys; from fdlf_core import registry; "
             "assert 'fdlf_core.ising.pool' not in sys.modules and 'fdlf_core.teachers' not in sys.modules; "
             "a = registry.resolve('data_config', 'IsingPoolConfig'); "
             "b = registry.resolve('data_config', 'TeacherConfig', 'fdlf_core.teachers'); "
             "print(a.__module__, b.__module__, 'fdlf_core.ising.pool' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["fdlf_core.ising.pool", "fdlf_core.teachers", "True"]


def test_a_new_class_plugs_in_by_registering(scratch):
    @registry.data_config
    @dataclasses.dataclass(frozen=True)
    class MyConfig:
        n: int = 1

    assert registry.name_of(MyConfig()) == {"name": "MyConfig", "module": __name__}
    assert registry.resolve("data_config", "MyConfig", "anything.at.all") is MyConfig  # registered: no import
    assert registry.data_config(MyConfig) is MyConfig  # registering the same class again is harmless
    with pytest.raises(ValueError, match="unknown model class 'MyConfig'"):  # kinds are separate
        registry.resolve("model", "MyConfig", "fdlf_core.models")


def test_two_classes_with_one_name_are_refused(scratch):
    @registry.model
    class Twin:
        pass

    first = Twin

    class Twin:  # noqa: F811 - another class of the same name
        pass

    with pytest.raises(ValueError, match="two model classes are named 'Twin'"):
        registry.model(Twin)
    assert registry.resolve("model", "Twin") is first
    with pytest.raises(ValueError, match="two model classes are named 'LocalCNN'"):
        registry.model(type("LocalCNN", (), {}))


def test_unregistered_objects_have_no_name():
    with pytest.raises(TypeError, match="LocalCNNConfig is not registered; decorate it with fdlf_core.registry"):
        registry.name_of(LocalCNNConfig())
    with pytest.raises(TypeError, match="dict is not registered"):
        registry.name_of({"name": "LocalCNN"})

    class LocalCNN:  # the name of a registered class is not enough: it must be that class
        pass
    with pytest.raises(TypeError, match="LocalCNN is not registered"):
        registry.name_of(LocalCNN())


def test_only_modules_of_the_package_are_imported(tmp_path, monkeypatch):
    # two importable modules outside fdlf_core, one with a confusable name; resolving must import neither
    for name in ("fdlf_probe_outside", "fdlf_core_outside"):
        (tmp_path / f"{name}.py").write_text("import sys\nsys.IMPORTED_BY_RESOLVE = True\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    for module in ("fdlf_probe_outside", "fdlf_core_outside", "os", "subprocess"):
        with pytest.raises(ValueError, match=f"module '{module}' is not part of fdlf_core"):
            registry.resolve("model", "Payload", module)
    assert not hasattr(sys, "IMPORTED_BY_RESOLVE")
    assert "fdlf_probe_outside" not in sys.modules and "fdlf_core_outside" not in sys.modules


@pytest.mark.parametrize("args,match", [
    (("weights", "LocalCNN"), "kind must be one of"),
    (("model", "Nope"), r"unknown model class 'Nope' \(module None is not part of fdlf_core\)"),
    (("data_config", "Nope", "fdlf_core.lattice"), "unknown data_config class 'Nope': fdlf_core.lattice does not "
                                                   "register it"),
    (("model", "TeacherConfig"), "unknown model class 'TeacherConfig'"),
])
def test_bad_resolve(args, match):
    with pytest.raises(ValueError, match=match):
        registry.resolve(*args)

