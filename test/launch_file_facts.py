"""What the launch file, setup.py and setup.cfg say, read without ROS's launch packages.

CI has no `launch`/`launch_ros`, so the launch file is read as source (ast) and its pure helpers
are compiled from that source; setup.py's `setup(...)` arguments are evaluated from its own
expressions (real `glob` in the repo root), without running setuptools.
"""
from __future__ import annotations

import ast
import configparser
import glob
import os
from pathlib import Path
from types import SimpleNamespace

import yaml

ROOT = Path(__file__).resolve().parent.parent
LAUNCH_FILE = ROOT / "launch" / "depth.launch.py"
RVIZ_FILE = ROOT / "config" / "depth.rviz"
PARAMS_FILE = ROOT / "config" / "depth.yaml"
PACKAGE = "depth_anything_ros"

# Names the launch file's pure helpers need; everything else in it needs launch/launch_ros.
HELPER_FUNCTIONS = ("resolve_topic", "full_namespace", "node_parameter_overrides",
                    "rviz_config_for")


def launch_tree() -> ast.Module:
    return ast.parse(LAUNCH_FILE.read_text(encoding="utf-8"), filename=str(LAUNCH_FILE))


def module_constants(tree: ast.Module) -> dict:
    """Top-level `NAME = <literal>` assignments of a module, evaluated as literals."""
    constants = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name):
                try:
                    constants[target.id] = ast.literal_eval(node.value)
                except ValueError:
                    continue
    return constants


def launch_helpers() -> SimpleNamespace:
    """The launch file's pure helper functions, compiled from its source with its constants."""
    tree = launch_tree()
    keep = [node for node in tree.body
            if (isinstance(node, ast.FunctionDef) and node.name in HELPER_FUNCTIONS)]
    missing = set(HELPER_FUNCTIONS) - {node.name for node in keep}
    if missing:
        raise AssertionError(f"{LAUNCH_FILE}: helper functions missing: {sorted(missing)}")
    namespace: dict = {"yaml": yaml, "os": os, **module_constants(tree)}
    exec(compile(ast.Module(body=keep, type_ignores=[]), str(LAUNCH_FILE), "exec"), namespace)
    return SimpleNamespace(**{name: namespace[name] for name in HELPER_FUNCTIONS},
                           constants=module_constants(tree))


def calls_named(tree: ast.AST, name: str) -> list[ast.Call]:
    """Every call `name(...)` or `x.name(...)` in the tree."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            called = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            if called == name:
                found.append(node)
    return found


def keyword_value(call: ast.Call, keyword: str, constants: dict):
    """A keyword argument's value: a literal, or a module constant it names; None if absent."""
    for kw in call.keywords:
        if kw.arg == keyword:
            if isinstance(kw.value, ast.Name):
                return constants.get(kw.value.id)
            try:
                return ast.literal_eval(kw.value)
            except ValueError:
                return None
    return None


def setup_argument(keyword: str):
    """One keyword argument setup.py passes to setup(), evaluated in the repo root."""
    source = (ROOT / "setup.py").read_text(encoding="utf-8")
    tree = ast.parse(source, filename="setup.py")
    namespace: dict = {"glob": glob.glob}
    for node in tree.body:
        if isinstance(node, ast.Assign):
            exec(compile(ast.Module(body=[node], type_ignores=[]), "setup.py", "exec"), namespace)
    setup_call = next(call for call in calls_named(tree, "setup"))
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        value = next(kw.value for kw in setup_call.keywords if kw.arg == keyword)
        return eval(compile(ast.Expression(value), "setup.py", "eval"), namespace)
    finally:
        os.chdir(cwd)


def console_scripts() -> dict:
    """console script name -> 'module:function' from setup.py."""
    scripts = {}
    for line in setup_argument("entry_points")["console_scripts"]:
        name, target = (part.strip() for part in line.split("=", 1))
        scripts[name] = target
    return scripts


def data_files() -> dict:
    """install directory -> set of repo-relative files setup.py installs there."""
    installed: dict = {}
    for directory, files in setup_argument("data_files"):
        installed.setdefault(directory, set()).update(files)
    return installed


def setup_cfg() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(ROOT / "setup.cfg")
    return parser


def rviz_config() -> dict:
    return yaml.safe_load(RVIZ_FILE.read_text(encoding="utf-8"))


def rviz_displays(config: dict) -> dict:
    """display Name -> display block of an RViz config."""
    return {display["Name"]: display for display in config["Visualization Manager"]["Displays"]}
