"""Stand-ins for the few `launch`/`launch_ros` names depth.launch.py uses.

`launch` and `launch_ros` are not installable here (no ROS 2 install, not on PyPI), so CI runs
the launch file's real `_launch_setup` against these recorders: each action keeps the keyword
arguments it was built with, and LaunchConfiguration reads the context's configurations as the
real one does. The real run (with launch installed) is documented in docs/interfaces.md.
"""
from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path


class Recorded:
    """An action or substitution that remembers how it was built."""

    def __init__(self, *args, **kwargs) -> None:
        self.args, self.kwargs = args, kwargs

    def __getattr__(self, name):
        try:
            return self.__dict__["kwargs"][name]
        except KeyError:
            raise AttributeError(name) from None


class LaunchConfiguration(Recorded):
    def perform(self, context) -> str:
        return context.launch_configurations[self.args[0]]


class FakeContext:
    """What `_launch_setup` reads of a LaunchContext: the launch configurations."""

    def __init__(self, configurations: dict) -> None:
        self.launch_configurations = dict(configurations)


def _module(name: str, **names) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__dict__.update(names)
    return module


def fake_launch_modules() -> dict[str, types.ModuleType]:
    """sys.modules entries for launch, launch_ros and the submodules the launch file imports."""
    kinds = {name: type(name, (Recorded,), {}) for name in (
        "LaunchDescription", "DeclareLaunchArgument", "LogInfo", "OpaqueFunction",
        "RegisterEventHandler", "OnShutdown", "PathJoinSubstitution", "Node",
        "FindPackageShare")}
    return {
        "launch": _module("launch", LaunchDescription=kinds["LaunchDescription"]),
        "launch.actions": _module("launch.actions", **{k: kinds[k] for k in (
            "DeclareLaunchArgument", "LogInfo", "OpaqueFunction", "RegisterEventHandler")}),
        "launch.event_handlers": _module("launch.event_handlers", OnShutdown=kinds["OnShutdown"]),
        "launch.substitutions": _module("launch.substitutions",
                                        LaunchConfiguration=LaunchConfiguration,
                                        PathJoinSubstitution=kinds["PathJoinSubstitution"]),
        "launch_ros": _module("launch_ros"),
        "launch_ros.actions": _module("launch_ros.actions", Node=kinds["Node"]),
        "launch_ros.substitutions": _module("launch_ros.substitutions",
                                            FindPackageShare=kinds["FindPackageShare"]),
    }


def load_launch_file(path: Path, monkeypatch) -> types.ModuleType:
    """Import the launch file with the stand-ins in sys.modules (undone by `monkeypatch`)."""
    for name, module in fake_launch_modules().items():
        monkeypatch.setitem(sys.modules, name, module)
    spec = importlib.util.spec_from_file_location("depth_launch_under_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def ament_prefix(root: Path, packages: dict[str, dict[str, str]]) -> Path:
    """A real ament prefix under `root`: each package's index marker and its share files."""
    index = root / "share" / "ament_index" / "resource_index" / "packages"
    index.mkdir(parents=True, exist_ok=True)
    for package, files in packages.items():
        (index / package).write_text("")
        (root / "share" / package).mkdir(parents=True, exist_ok=True)
        for relative, text in files.items():
            target = root / "share" / package / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
    return root
