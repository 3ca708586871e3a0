"""launch/depth.launch.py: what CI can prove without ROS's launch packages, and more with them.

Always: the file parses, declares exactly the documented arguments and defaults, names only
executables and config files that setup.py/setup.cfg install, and its parameter handling keeps
the documented precedence. Where `launch`/`launch_ros` are importable (a real ROS 2 install),
the description is also built and run through its OpaqueFunction for real.
"""
import ast
import importlib.util
import re
import tempfile
from pathlib import Path

import pytest
import yaml

from launch_file_facts import (
    LAUNCH_FILE, PACKAGE, PARAMS_FILE, ROOT, calls_named, console_scripts, data_files,
    keyword_value, launch_helpers, launch_tree, module_constants, setup_cfg,
)

EXPECTED_ARGUMENTS = {
    "weights": "",
    "params_file": None,  # a substitution: <share>/config/depth.yaml
    "image": "image",
    "camera_info": "camera_info",
    "sparse_depth": "sparse_depth",
    "imu": "imu",
    "namespace": "",
    "device": "",
    "use_rviz": "false",
    "camera_frame": "camera_optical_frame",
    "use_sim_time": "false",
    "log_level": "info",
    "large_shm": "true",
}
LAUNCH_AVAILABLE = importlib.util.find_spec("launch") is not None \
    and importlib.util.find_spec("launch_ros") is not None


def _nodes(tree):
    """(package, executable) of every launch_ros Node(...) the file builds."""
    constants = module_constants(tree)
    return [(keyword_value(call, "package", constants), keyword_value(call, "executable", constants))
            for call in calls_named(tree, "Node")]


def test_launch_file_parses_and_defines_generate_launch_description():
    tree = launch_tree()
    functions = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
    assert "generate_launch_description" in functions
    assert LAUNCH_FILE.name.endswith(".launch.py")


def test_launch_file_declares_exactly_the_documented_arguments_and_defaults():
    arguments = module_constants(launch_tree())["ARGUMENTS"]
    declared = {name: default for name, default, _description in arguments}
    assert declared == EXPECTED_ARGUMENTS
    assert all(description.strip() for _, _, description in arguments), "every argument is described"


def test_params_file_default_is_config_depth_yaml_from_the_package_share():
    tree = launch_tree()
    joins = calls_named(tree, "PathJoinSubstitution")
    paths = [[ast.literal_eval(part) for part in join.args[0].elts[1:]] for join in joins]
    assert ["config", "depth.yaml"] in paths
    share_lookups = calls_named(tree, "FindPackageShare")
    assert share_lookups
    assert {ast.unparse(call.args[0]) for call in share_lookups} == {"PACKAGE"}
    assert module_constants(tree)["PACKAGE"] == PACKAGE


def test_every_own_executable_is_a_console_script_installed_into_lib_package():
    scripts = console_scripts()
    own = [exe for package, exe in _nodes(launch_tree()) if package == PACKAGE]
    assert own == ["depth_node"]
    for executable in own:
        assert executable in scripts, f"{executable} is not a console script in setup.py"
        module, function = scripts[executable].split(":")
        module_file = ROOT / (module.replace(".", "/") + ".py")
        assert module_file.is_file(), f"{scripts[executable]}: {module_file} does not exist"
        defined = {node.name for node in ast.parse(module_file.read_text(encoding="utf-8")).body
                   if isinstance(node, ast.FunctionDef)}
        assert function in defined, f"{scripts[executable]}: {module_file} defines no {function}()"
    # `ros2 run`/launch look for executables in <prefix>/lib/<package>.
    cfg = setup_cfg()
    assert cfg["develop"]["script_dir"] == f"$base/lib/{PACKAGE}"
    assert cfg["install"]["install_scripts"] == f"$base/lib/{PACKAGE}"


def test_rviz2_is_the_only_foreign_executable_and_stays_optional_in_package_xml():
    package_xml = (ROOT / "package.xml").read_text(encoding="utf-8")
    exec_depends = set(re.findall(r"<(?:exec_)?depend>([^<]+)</(?:exec_)?depend>", package_xml))
    foreign = {package for package, _ in _nodes(launch_tree()) if package != PACKAGE}
    assert foreign == {"rviz2"}
    assert {"launch", "launch_ros", "ament_index_python"} <= exec_depends
    # headless robots must not pull Qt/OGRE: the launch file copes without rviz2 instead
    assert "rviz2" not in exec_depends


def test_every_file_the_launch_file_names_exists_and_is_installed_to_the_share():
    source = LAUNCH_FILE.read_text(encoding="utf-8")
    named = set(re.findall(r"[\"']([\w.-]+\.(?:yaml|rviz|xml))[\"']", source))
    assert named == {"depth.yaml", "depth.rviz", "fastdds_large_shm.xml",
                     "fastdds_large_shm_localhost.xml"}
    installed = data_files()
    for name in named:
        assert (ROOT / "config" / name).is_file(), f"config/{name} is missing"
        assert f"config/{name}" in installed[f"share/{PACKAGE}/config"], \
            f"config/{name} is not installed by setup.py's data_files"
    assert "launch/depth.launch.py" in installed[f"share/{PACKAGE}/launch"]


def test_launch_argument_overrides_skip_empty_values_so_the_yaml_stays():
    helpers = launch_helpers()
    assert helpers.node_parameter_overrides("", "") == {}
    assert helpers.node_parameter_overrides("/m.safetensors", "") == {"weights": "/m.safetensors"}
    assert helpers.node_parameter_overrides("", "cuda:1") == {"device": "cuda:1"}
    assert helpers.node_parameter_overrides("", "", True) == {"use_sim_time": True}


def test_namespace_follows_an_enclosing_push_ros_namespace_like_launch_ros():
    full = launch_helpers().full_namespace
    assert full("", "") == "/"
    assert full("", "robot") == "/robot"
    assert full("/fleet/r1", "cam") == "/fleet/r1/cam"
    assert full("fleet", "") == "/fleet"
    assert full("/fleet", "/abs") == "/abs"  # an absolute namespace ignores the pushed one


def test_topics_resolve_like_a_node_in_the_namespace():
    resolve = launch_helpers().resolve_topic
    assert resolve("", "depth/points") == "/depth/points"
    assert resolve("/robot/cam/", "depth/points") == "/robot/cam/depth/points"
    assert resolve("robot", "/cam/image_raw") == "/cam/image_raw"


def test_rviz_copy_gets_the_camera_frame_and_the_node_topics():
    helpers = launch_helpers()
    template = (ROOT / "config" / "depth.rviz").read_text(encoding="utf-8")
    text = helpers.rviz_config_for(template, fixed_frame="front_cam_optical", namespace="robot",
                                   image="/front/image_raw")
    config = yaml.safe_load(text)
    manager = config["Visualization Manager"]
    assert manager["Global Options"]["Fixed Frame"] == "front_cam_optical"
    topics = {d["Name"]: d["Topic"]["Value"] for d in manager["Displays"] if "Topic" in d}
    assert topics == {"Input image": "/front/image_raw",
                      "Depth (colourised)": "/robot/depth/colored",
                      "Point cloud": "/robot/depth/points"}
    # The rest of the config (QoS, transformer) survives the rewrite.
    original = yaml.safe_load(template)["Visualization Manager"]["Displays"]
    assert [d.get("Topic", {}).get("Reliability Policy") for d in manager["Displays"]] == \
        [d.get("Topic", {}).get("Reliability Policy") for d in original]


def _params_module():
    from depth_anything_ros.ros import params  # ours: an ImportError is a failure, never a skip

    return params


def test_params_yaml_uses_the_wildcard_key_so_launch_overrides_win():
    # launch_ros writes its override dict under the node's full name; a YAML under `/**`
    # loses to it (full names beat wildcards) while a YAML under the full name would win.
    assert PARAMS_FILE.is_file(), f"{PARAMS_FILE} is missing: the launch file's default params_file"
    document = yaml.safe_load(PARAMS_FILE.read_text(encoding="utf-8"))
    assert list(document) == ["/**"], f"{PARAMS_FILE}: top-level keys {list(document)}"
    assert list(document["/**"]) == ["ros__parameters"]


def test_params_yaml_sets_exactly_the_parameters_the_node_declares():
    params = _params_module()
    document = yaml.safe_load(PARAMS_FILE.read_text(encoding="utf-8"))
    in_yaml = set(_flatten(document["/**"]["ros__parameters"]))
    declared = set(_declared_parameter_names(params))
    assert in_yaml == declared, (f"only in YAML: {sorted(in_yaml - declared)}; "
                                 f"only declared: {sorted(declared - in_yaml)}")
    launch_overrides = set(launch_helpers().node_parameter_overrides("w", "d"))
    assert launch_overrides <= declared


def test_params_yaml_values_have_the_declared_types_so_rclpy_accepts_them():
    # rclpy refuses a YAML `max_depth: 0` for a double parameter: types must match exactly.
    params = _params_module()
    document = yaml.safe_load(PARAMS_FILE.read_text(encoding="utf-8"))
    values = document["/**"]["ros__parameters"]
    specs = {spec.name: spec for spec in params.SPECS}
    assert specs, f"{params.__name__}.SPECS is empty: no defaults to compare types against"
    wrong = {name: (type(values[name]).__name__, type(spec.default).__name__)
             for name, spec in specs.items()
             if name in values and type(values[name]) is not type(spec.default)}
    assert not wrong, f"{PARAMS_FILE}: (yaml type, declared type) differ: {wrong}"


def _flatten(tree, prefix=""):
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            yield from _flatten(value, name + ".")
        else:
            yield name


def _declared_parameter_names(params):
    for attribute in ("PARAMETER_NAMES", "PARAMETERS", "PARAMETER_SPECS", "SPECS"):
        value = getattr(params, attribute, None)
        if value:
            return [getattr(item, "name", item) for item in value]
    pytest.fail(f"{params.__name__} exposes no list of parameter names "
                "(expected PARAMETER_NAMES, PARAMETERS or PARAMETER_SPECS)")


@pytest.mark.skipif(not LAUNCH_AVAILABLE, reason="launch/launch_ros are not installed here "
                    "(no ROS 2 install; not on PyPI): the real run is documented in docs/interfaces.md")
def test_launch_description_builds_and_expands_into_the_node_and_rviz(tmp_path, monkeypatch):
    from ament_index_python.packages import PackageNotFoundError, get_package_share_directory
    from launch import LaunchContext
    from launch.actions import DeclareLaunchArgument, OpaqueFunction

    try:
        get_package_share_directory(PACKAGE)
    except (PackageNotFoundError, OSError) as error:
        pytest.skip(f"{PACKAGE} is not in the ament index (not built/installed here): {error}")

    spec = importlib.util.spec_from_file_location("depth_launch", LAUNCH_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    description = module.generate_launch_description()
    declared = {e.name: e for e in description.entities if isinstance(e, DeclareLaunchArgument)}
    assert set(declared) == set(EXPECTED_ARGUMENTS)
    context = LaunchContext()
    for name, default in EXPECTED_ARGUMENTS.items():
        context.launch_configurations[name] = default if default is not None \
            else str(PARAMS_FILE)
    context.launch_configurations["use_rviz"] = "true"
    context.launch_configurations["camera_frame"] = "front_optical"
    monkeypatch.setenv("ROS_HOME", str(tmp_path))  # where the rviz copy is written
    try:
        get_package_share_directory("rviz2")
        rviz_installed = True
    except PackageNotFoundError:
        rviz_installed = False
    opaque = next(e for e in description.entities if isinstance(e, OpaqueFunction))
    actions = opaque.execute(context)
    executables = [a.node_executable for a in actions if hasattr(a, "node_executable")]
    assert executables == ["depth_node"] + (["rviz2"] if rviz_installed else [])
    if rviz_installed:
        (rviz_copy,) = tmp_path.rglob("*.rviz")
        manager = yaml.safe_load(rviz_copy.read_text())["Visualization Manager"]
        assert manager["Global Options"]["Fixed Frame"] == "front_optical"


# ---- the real _launch_setup, run against launch stand-ins (test/fake_launch.py) ---------------

def _setup_actions(tmp_path, monkeypatch, *, rviz_installed: bool, **arguments):
    """Run the launch file's `_launch_setup` with a real ament index under tmp_path."""
    from fake_launch import FakeContext, ament_prefix, load_launch_file

    packages = {PACKAGE: {"config/depth.rviz": (ROOT / "config" / "depth.rviz").read_text()}}
    if rviz_installed:
        packages["rviz2"] = {}
    monkeypatch.setenv("AMENT_PREFIX_PATH", str(ament_prefix(tmp_path / "prefix", packages)))
    ros_home = tmp_path / "ros_home"
    monkeypatch.setenv("ROS_HOME", str(ros_home))  # where an rviz copy would go
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "no_tmp"))  # must stay unused
    module = load_launch_file(LAUNCH_FILE, monkeypatch)
    configurations = {name: default for name, default in EXPECTED_ARGUMENTS.items()}
    configurations["params_file"] = str(PARAMS_FILE)
    configurations.update(arguments)
    return module._launch_setup(FakeContext(configurations)), ros_home


def _kind(action) -> str:
    return type(action).__name__


def _files(folder: Path) -> list:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def test_use_rviz_without_rviz2_starts_the_node_alone_and_says_why(tmp_path, monkeypatch):
    actions, ros_home = _setup_actions(tmp_path, monkeypatch, rviz_installed=False,
                                       use_rviz="true")
    assert [_kind(a) for a in actions] == ["Node", "LogInfo"]
    assert actions[0].executable == "depth_node"
    warning = actions[1].msg
    assert "rviz2 is not installed" in warning and "without RViz" in warning
    assert _files(ros_home) == [], "no RViz config is written when RViz cannot start"


def test_use_rviz_starts_rviz_on_one_reused_copy_under_ros_home(tmp_path, monkeypatch):
    arguments = dict(use_rviz="true", namespace="cam", ros_namespace="/fleet/r1",
                     camera_frame="front_optical")
    actions, ros_home = _setup_actions(tmp_path, monkeypatch, rviz_installed=True, **arguments)
    assert [_kind(a) for a in actions] == ["Node", "Node"]
    rviz = actions[1]
    assert (rviz.package, rviz.executable) == ("rviz2", "rviz2")
    assert rviz.parameters == []  # no use_sim_time dict: launch_ros would write it to /tmp
    copy = Path(rviz.arguments[rviz.arguments.index("-d") + 1])
    assert copy.parent == ros_home / PACKAGE / "rviz" and copy.is_file()
    manager = yaml.safe_load(copy.read_text())["Visualization Manager"]
    assert manager["Global Options"]["Fixed Frame"] == "front_optical"
    topics = {d["Name"]: d["Topic"]["Value"] for d in manager["Displays"] if "Topic" in d}
    # the pushed namespace (PushRosNamespace) and the namespace argument both apply
    assert topics["Point cloud"] == "/fleet/r1/cam/depth/points"
    again, _ = _setup_actions(tmp_path, monkeypatch, rviz_installed=True, **arguments)
    assert again[1].arguments == rviz.arguments, "the same arguments reuse the same file"
    other, _ = _setup_actions(tmp_path, monkeypatch, rviz_installed=True,
                              **{**arguments, "camera_frame": "rear_optical"})
    assert other[1].arguments != rviz.arguments
    assert len(_files(ros_home)) == 2 and not (tmp_path / "no_tmp").exists()


def test_an_absolute_namespace_replaces_the_pushed_one_for_node_and_rviz(tmp_path, monkeypatch):
    actions, _ = _setup_actions(tmp_path, monkeypatch, rviz_installed=True, use_rviz="true",
                                namespace="/abs/", ros_namespace="/fleet")
    node, rviz = actions
    assert node.namespace == "/abs"
    copy = Path(rviz.arguments[rviz.arguments.index("-d") + 1])
    manager = yaml.safe_load(copy.read_text())["Visualization Manager"]
    topics = {d["Name"]: d["Topic"]["Value"] for d in manager["Displays"] if "Topic" in d}
    assert topics["Point cloud"] == "/abs/depth/points"


def test_sim_time_and_log_level_reach_the_node_and_rviz(tmp_path, monkeypatch):
    actions, _ = _setup_actions(tmp_path, monkeypatch, rviz_installed=True, use_rviz="true",
                                use_sim_time="true", log_level="DEBUG")
    node, rviz = actions
    assert node.parameters == [str(PARAMS_FILE), {"use_sim_time": True}]
    assert node.ros_arguments == rviz.ros_arguments == ["--log-level", "debug"]
    assert rviz.parameters == [{"use_sim_time": True}]


def test_every_input_topic_is_remapped_from_its_launch_argument(tmp_path, monkeypatch):
    (node,) = _setup_actions(tmp_path, monkeypatch, rviz_installed=False, image="/cam/raw",
                             camera_info="/cam/info", sparse_depth="/lidar/depth_registered",
                             imu="/camera/imu")[0]
    assert node.remappings == [("image", "/cam/raw"), ("image/compressed", "/cam/raw/compressed"),
                               ("camera_info", "/cam/info"),
                               ("sparse_depth", "/lidar/depth_registered"),
                               ("imu", "/camera/imu")]


LOCALHOST = {"ROS_LOCALHOST_ONLY": "1"}


@pytest.mark.parametrize("environ, large_shm, profile", [
    (LOCALHOST, "true", "fastdds_large_shm_localhost.xml"),
    ({**LOCALHOST, "RMW_IMPLEMENTATION": "rmw_fastrtps_cpp"}, "true",
     "fastdds_large_shm_localhost.xml"),
    # Jazzy's range: loopback only unless static peers on other hosts are named
    ({"ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST"}, "true", "fastdds_large_shm_localhost.xml"),
    ({"ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST", "ROS_STATIC_PEERS": "192.168.1.7"}, "true",
     "fastdds_large_shm.xml"),
    ({}, "true", "fastdds_large_shm.xml"),  # a robot talking to other hosts
    ({"ROS_LOCALHOST_ONLY": "0", "ROS_AUTOMATIC_DISCOVERY_RANGE": "SUBNET"}, "true",
     "fastdds_large_shm.xml"),
    (LOCALHOST, "false", None),
    ({**LOCALHOST, "FASTRTPS_DEFAULT_PROFILES_FILE": "/robot/my_profile.xml"}, "true",
     None),  # theirs wins
    ({**LOCALHOST, "RMW_IMPLEMENTATION": "rmw_cyclonedds_cpp"}, "true",
     None),  # means nothing to Cyclone
])
def test_the_node_runs_with_the_large_shared_memory_profile_unless_told_otherwise(
        tmp_path, monkeypatch, environ, large_shm, profile):
    """With stock Fast DDS a best-effort subscriber (Nav2) got 14-39 % of the node's clouds;
    with the profile in the node's process, all of them (README, Transport). Where DDS stays on
    the machine, the variant whose UDPv4 is on loopback only (Humble's ROS_LOCALHOST_ONLY does
    not restrict a profile's own transports)."""
    for name in ("FASTRTPS_DEFAULT_PROFILES_FILE", "FASTDDS_DEFAULT_PROFILES_FILE",
                 "RMW_IMPLEMENTATION", "ROS_LOCALHOST_ONLY", "ROS_AUTOMATIC_DISCOVERY_RANGE",
                 "ROS_STATIC_PEERS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    (node,) = _setup_actions(tmp_path, monkeypatch, rviz_installed=False, large_shm=large_shm)[0]
    if profile is None:
        assert node.additional_env is None
        return
    chosen = node.additional_env["FASTRTPS_DEFAULT_PROFILES_FILE"]
    assert chosen.endswith(f"share/{PACKAGE}/config/{profile}")
    assert node.additional_env == {"FASTRTPS_DEFAULT_PROFILES_FILE": chosen,
                                   "FASTDDS_DEFAULT_PROFILES_FILE": chosen,
                                   "RMW_FASTRTPS_USE_QOS_FROM_XML": "0"}


@pytest.mark.parametrize("name, value", [("log_level", "loud"), ("use_sim_time", "maybe"),
                                         ("use_rviz", "sure"), ("large_shm", "big")])
def test_a_bad_launch_argument_is_refused_by_name_before_anything_starts(
        tmp_path, monkeypatch, name, value):
    arguments = {"use_rviz": "true", name: value}
    with pytest.raises(RuntimeError, match=f"'{name}'"):
        _setup_actions(tmp_path, monkeypatch, rviz_installed=True, **arguments)
    assert _files(tmp_path / "ros_home") == []
