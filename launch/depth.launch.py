"""Launch the depth node on a camera, optionally with RViz showing depth and the coloured cloud.

    ros2 launch depth_anything_ros depth.launch.py \
        image:=/cam/image_raw camera_info:=/cam/camera_info weights:=/path/model.safetensors \
        use_rviz:=true camera_frame:=cam_optical_frame

Parameters come from `params_file` (default: the shipped config/depth.yaml, keys under `/**`)
and then from the launch arguments `weights`, `device` and `use_sim_time`, which win because they
come last and are written under the node's fully qualified name (REFERENCE.md § 11). An empty
`weights` or `device` leaves the YAML value alone (the shipped YAML's empty `weights` = the
shipped model). `log_level` sets the node's (and RViz's) logger level. `large_shm` (default true)
runs the node's process with config/fastdds_large_shm.xml (its _localhost variant when
ROS_LOCALHOST_ONLY=1 or the discovery range is LOCALHOST) unless a Fast DDS profile is already
set or another RMW is chosen: on stock Fast DDS best-effort subscribers of its clouds lose most
of them (README, Transport).

RViz is optional (package.xml does not depend on it, so headless robots do not pull Qt/OGRE):
with `use_rviz:=true` on a machine without rviz2 the node starts alone and the launch says why.
RViz needs a fixed frame that exists without a TF tree, so it uses the camera optical frame:
the launch file writes a copy of config/depth.rviz whose Fixed Frame is `camera_frame` and whose
topics follow `image` and the node's full namespace (`namespace` under any enclosing
PushRosNamespace). The copy lives in `$ROS_HOME/depth_anything_ros/rviz/` (default `~/.ros`),
named by its content: the same arguments reuse one file, so nothing accumulates in /tmp even when
the launch is killed, and rviz2 keeps its config for as long as it runs.
"""
import hashlib
import os
from pathlib import Path

import yaml
from ament_index_python.packages import PackageNotFoundError, get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, LogInfo, OpaqueFunction
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

PACKAGE = "depth_anything_ros"
NODE_EXECUTABLE = "depth_node"
NODE_NAME = "depth_node"
RVIZ_CONFIG = "depth.rviz"

# RViz display name -> topic relative to the node's namespace ("<image>" = the input topic).
RVIZ_DISPLAY_TOPICS = {
    "Input image": "<image>",
    "Depth (colourised)": "depth/colored",
    "Point cloud": "depth/points",
}

ARGUMENTS = (
    ("weights", "", "Model weights (.safetensors, official .pth or HF dir); empty = the YAML's value "
                    "(the shipped YAML leaves it empty = the shipped default model)."),
    ("params_file", None, "Node parameters YAML (default: config/depth.yaml in the package share)."),
    ("image", "image", "Input sensor_msgs/Image topic (its `/compressed` sibling is remapped too)."),
    ("camera_info", "camera_info", "Input sensor_msgs/CameraInfo topic."),
    ("sparse_depth", "sparse_depth", "Metric anchors (sensor_msgs/Image, 32FC1 m or 16UC1 mm, "
                                     "registered to the camera) for scale_source: sparse_depth."),
    ("imu", "imu", "sensor_msgs/Imu whose accelerometer gives the floor's direction for "
                   "scale_source: ground_plane with ground_normal: imu."),
    ("namespace", "", "Namespace of the node; outputs are <namespace>/depth/*."),
    ("device", "", "Inference device: auto, cpu, cuda, cuda:N; empty = the YAML's value."),
    ("use_rviz", "false", "Start rviz2 with the shipped config showing depth and the cloud "
                          "(optional: without rviz2 installed the node starts alone, with a warning)."),
    ("camera_frame", "camera_optical_frame",
     "RViz Fixed Frame: the camera optical frame id of the input images (no TF tree needed)."),
    ("use_sim_time", "false", "Use /clock (true when replaying a bag with `ros2 bag play --clock`)."),
    ("log_level", "info", "Logger level of the node and RViz: debug, info, warn, error or fatal."),
    ("large_shm", "true", "Run the node with config/fastdds_large_shm.xml (Fast DDS: 32 MiB "
                          "shared-memory segments; the _localhost variant under "
                          "ROS_LOCALHOST_ONLY=1) unless a Fast DDS profile is already set: "
                          "best-effort subscribers of its clouds (Nav2) get every one."),
)
LOG_LEVELS = ("debug", "info", "warn", "error", "fatal")
FASTDDS_PROFILE = "fastdds_large_shm.xml"
FASTDDS_LOCALHOST_PROFILE = "fastdds_large_shm_localhost.xml"  # its UDPv4 on loopback only
PROFILE_VARIABLES = ("FASTRTPS_DEFAULT_PROFILES_FILE", "FASTDDS_DEFAULT_PROFILES_FILE")


def resolve_topic(namespace: str, topic: str) -> str:
    """Absolute name of `topic` as a node in `namespace` resolves it (absolute topics stay)."""
    if topic.startswith("/"):
        return topic
    parts = [p for p in namespace.strip("/").split("/") if p] + [p for p in topic.split("/") if p]
    return "/" + "/".join(parts)


def full_namespace(pushed: str, namespace: str) -> str:
    """The namespace launch_ros gives Node(namespace=...) under PushRosNamespace(`pushed`).

    A relative `namespace` is appended to the pushed one, an absolute one replaces it (launch_ros
    prefix_namespace); the result is absolute, "/" for none.
    """
    if namespace.startswith("/"):
        combined = namespace
    else:
        combined = "/".join(p for p in (pushed.strip("/"), namespace.strip("/")) if p)
    return "/" + combined.strip("/")


def as_bool(text: str, name: str) -> bool:
    """A launch argument's true/false text as a bool; anything else is refused by name."""
    lowered = text.strip().lower()
    if lowered in ("true", "1", "yes", "on"):
        return True
    if lowered in ("false", "0", "no", "off"):
        return False
    raise RuntimeError(f"launch argument '{name}': {text!r} is not true or false")


def node_parameter_overrides(weights: str, device: str, use_sim_time: bool = False) -> dict:
    """Launch-argument overrides; empty arguments are left out so the YAML value stays."""
    overrides = {}
    if weights:
        overrides["weights"] = weights
    if device:
        overrides["device"] = device
    if use_sim_time:
        overrides["use_sim_time"] = True
    return overrides


def localhost_only(environ) -> bool:
    """Whether DDS is to stay on this machine, as rcl reads it: ROS_LOCALHOST_ONLY=1 (Humble's
    only switch, still honoured by Jazzy), or Jazzy's LOCALHOST discovery range without static
    peers on other hosts."""
    if environ.get("ROS_LOCALHOST_ONLY") == "1":
        return True
    return (environ.get("ROS_AUTOMATIC_DISCOVERY_RANGE") == "LOCALHOST"
            and not environ.get("ROS_STATIC_PEERS", "").strip())


def transport_environment(enabled: bool, environ, config_dir: str) -> dict:
    """Environment for the node's process that gives it the large shared-memory profile.

    With stock Fast DDS (512 KiB segments) a best-effort subscriber (Nav2's costmap layers,
    sensor-data QoS) got 14-39 % of the node's 4.9 MB clouds on one host, and reliable ones lost
    a few camera_info; with the profile in the node's process, every one (README, Transport).
    Where DDS stays on this machine the profile's UDPv4 is on loopback only: a profile's
    transports replace Fast DDS's own, and Humble's ROS_LOCALHOST_ONLY only adds a loopback one
    beside them. Empty when switched off, when the user already chose a Fast DDS profile, or
    when another RMW is selected (the variables would mean nothing to it)."""
    if not enabled or any(environ.get(name) for name in PROFILE_VARIABLES):
        return {}
    rmw = environ.get("RMW_IMPLEMENTATION", "")
    if rmw and not rmw.startswith("rmw_fastrtps"):
        return {}
    name = FASTDDS_LOCALHOST_PROFILE if localhost_only(environ) else FASTDDS_PROFILE
    profile = os.path.join(config_dir, name)
    return {**dict.fromkeys(PROFILE_VARIABLES, profile), "RMW_FASTRTPS_USE_QOS_FROM_XML": "0"}


def log_level_arguments(level: str) -> list:
    """`--log-level` ROS arguments for a launch `log_level`, refused by name when unknown."""
    lowered = level.strip().lower()
    if lowered not in LOG_LEVELS:
        raise RuntimeError(
            f"launch argument 'log_level': {level!r} is not one of {', '.join(LOG_LEVELS)}")
    return ["--log-level", lowered]


def rviz_share_or_reason(find_share) -> tuple:
    """(rviz2's share directory, "") when it is installed, else (None, the one-line reason)."""
    try:
        return find_share("rviz2"), ""
    except (PackageNotFoundError, LookupError, ValueError) as error:
        return None, (f"use_rviz:=true but rviz2 is not installed ({error}); starting depth_node "
                      "without RViz (install ros-$ROS_DISTRO-rviz2 to see depth and the cloud)")


def rviz_config_for(template_text: str, *, fixed_frame: str, namespace: str, image: str) -> str:
    """The shipped RViz config with `fixed_frame` as Fixed Frame and topics as the node uses them."""
    config = yaml.safe_load(template_text)
    visualization = config["Visualization Manager"]
    visualization["Global Options"]["Fixed Frame"] = fixed_frame
    for display in visualization["Displays"]:
        relative = RVIZ_DISPLAY_TOPICS.get(display.get("Name"))
        if relative is None:
            continue
        topic = image if relative == "<image>" else relative
        display["Topic"]["Value"] = resolve_topic(namespace, topic)
    return yaml.safe_dump(config, sort_keys=False)


def rviz_config_path(text: str, ros_home: str) -> Path:
    """Where the RViz copy for `text` lives: `$ROS_HOME/depth_anything_ros/rviz/`, named by its
    content, so repeated launches reuse one file (nothing piles up in /tmp, whatever signal
    ends the launch) and rviz2 can read it for as long as it runs."""
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
    return Path(ros_home) / PACKAGE / "rviz" / f"depth_{digest}.rviz"


def _write_rviz_config(text: str) -> str:
    ros_home = os.environ.get("ROS_HOME") or os.path.join(os.path.expanduser("~"), ".ros")
    path = rviz_config_path(text, ros_home)
    path.parent.mkdir(parents=True, exist_ok=True)
    staged = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    staged.write_text(text, encoding="utf-8")
    os.replace(staged, path)  # atomic: a running rviz2 never reads half a file
    return str(path)


def _rviz_actions(arg: dict, namespace: str, pushed: str, ros_arguments: list,
                  use_sim_time: bool) -> list:
    """rviz2 on a copy of the shipped config made for these arguments, or a warning."""
    _, reason = rviz_share_or_reason(get_package_share_directory)
    if reason:
        return [LogInfo(msg="[WARNING] " + reason)]
    template_path = os.path.join(get_package_share_directory(PACKAGE), "config", RVIZ_CONFIG)
    with open(template_path, encoding="utf-8") as template:
        rviz_text = rviz_config_for(template.read(), fixed_frame=arg["camera_frame"],
                                    namespace=full_namespace(pushed, namespace),
                                    image=arg["image"])
    return [Node(package="rviz2", executable="rviz2", name="rviz2", output="screen",
                 arguments=["-d", _write_rviz_config(rviz_text)], ros_arguments=ros_arguments,
                 # only when needed: launch_ros writes every parameter dict to a /tmp file
                 parameters=[{"use_sim_time": True}] if use_sim_time else [])]


def _launch_setup(context, *args, **kwargs):
    """Build the actions once the launch arguments are known (empty overrides are skipped).

    Every argument is checked before any action is returned, so a bad one starts nothing.
    """
    arg = {name: LaunchConfiguration(name).perform(context) for name, _, _ in ARGUMENTS}
    params_file = arg["params_file"]
    if not os.path.isfile(params_file):
        raise RuntimeError(f"params_file '{params_file}': no such file")
    # launch_ros semantics: a relative namespace goes under an enclosing PushRosNamespace, an
    # absolute one ("/abs") replaces it; trailing slashes are dropped.
    raw_namespace = arg["namespace"].strip()
    namespace = ("/" if raw_namespace.startswith("/") else "") + raw_namespace.strip("/")
    pushed = context.launch_configurations.get("ros_namespace", "") or ""
    image = arg["image"]
    use_sim_time = as_bool(arg["use_sim_time"], "use_sim_time")
    use_rviz = as_bool(arg["use_rviz"], "use_rviz")
    ros_arguments = log_level_arguments(arg["log_level"])
    overrides = node_parameter_overrides(arg["weights"], arg["device"], use_sim_time)
    environment = transport_environment(
        as_bool(arg["large_shm"], "large_shm"), os.environ,
        os.path.join(get_package_share_directory(PACKAGE), "config"))
    depth_node = Node(
        package=PACKAGE,
        executable=NODE_EXECUTABLE,
        name=NODE_NAME,
        namespace=namespace,
        output="screen",
        emulate_tty=True,
        parameters=[params_file] + ([overrides] if overrides else []),
        ros_arguments=ros_arguments,
        remappings=[
            ("image", image),
            ("image/compressed", image.rstrip("/") + "/compressed"),
            ("camera_info", arg["camera_info"]),
            ("sparse_depth", arg["sparse_depth"]),
            ("imu", arg["imu"]),
        ],
        additional_env=environment or None,
    )
    actions = [depth_node]
    if use_rviz:
        actions += _rviz_actions(arg, namespace, pushed, ros_arguments, use_sim_time)
    return actions


def generate_launch_description() -> LaunchDescription:
    default_params = PathJoinSubstitution([FindPackageShare(PACKAGE), "config", "depth.yaml"])
    declared = [
        DeclareLaunchArgument(
            name, default_value=default_params if default is None else default, description=text)
        for name, default, text in ARGUMENTS
    ]
    return LaunchDescription(declared + [OpaqueFunction(function=_launch_setup)])
