"""Launch the depth node on a camera, optionally with RViz showing depth and the coloured cloud.

    ros2 launch depth_anything_ros depth.launch.py \
        image:=/cam/image_raw camera_info:=/cam/camera_info weights:=/path/model.safetensors \
        use_rviz:=true camera_frame:=cam_optical_frame

Parameters come from `params_file` (default: the shipped config/depth.yaml, keys under `/**`)
and then from the launch arguments `weights` and `device`, which win because they come last and
are written under the node's fully qualified name (REFERENCE.md § 11). An empty `weights` or
`device` leaves the YAML value alone (the shipped YAML's empty `weights` = the shipped model).

RViz needs a fixed frame that exists without a TF tree, so it uses the camera optical frame:
the launch file writes a temporary copy of config/depth.rviz whose Fixed Frame is `camera_frame`
and whose topics follow `image` and `namespace`, and starts rviz2 on that copy.
"""
import os
import tempfile

import yaml
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.conditions import IfCondition
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
    ("namespace", "", "Namespace of the node; outputs are <namespace>/depth/*."),
    ("device", "", "Inference device: auto, cpu, cuda, cuda:N; empty = the YAML's value."),
    ("use_rviz", "false", "Start rviz2 with the shipped config showing depth and the cloud."),
    ("camera_frame", "camera_optical_frame",
     "RViz Fixed Frame: the camera optical frame id of the input images (no TF tree needed)."),
)


def resolve_topic(namespace: str, topic: str) -> str:
    """Absolute name of `topic` as a node in `namespace` resolves it (absolute topics stay)."""
    if topic.startswith("/"):
        return topic
    parts = [p for p in namespace.strip("/").split("/") if p] + [p for p in topic.split("/") if p]
    return "/" + "/".join(parts)


def node_parameter_overrides(weights: str, device: str) -> dict:
    """Launch-argument overrides; empty arguments are left out so the YAML value stays."""
    overrides = {}
    if weights:
        overrides["weights"] = weights
    if device:
        overrides["device"] = device
    return overrides


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


def _write_rviz_config(text: str) -> str:
    handle = tempfile.NamedTemporaryFile(
        "w", prefix="depth_anything_ros_", suffix=".rviz", delete=False)
    with handle:
        handle.write(text)
    return handle.name


def _launch_setup(context, *args, **kwargs):
    """Build the actions once the launch arguments are known (empty overrides are skipped)."""
    arg = {name: LaunchConfiguration(name).perform(context) for name, _, _ in ARGUMENTS}
    params_file = arg["params_file"]
    if not os.path.isfile(params_file):
        raise RuntimeError(f"params_file '{params_file}': no such file")
    namespace = arg["namespace"].strip("/")
    image = arg["image"]
    overrides = node_parameter_overrides(arg["weights"], arg["device"])
    depth_node = Node(
        package=PACKAGE,
        executable=NODE_EXECUTABLE,
        name=NODE_NAME,
        namespace=namespace,
        output="screen",
        emulate_tty=True,
        parameters=[params_file] + ([overrides] if overrides else []),
        remappings=[
            ("image", image),
            ("image/compressed", image.rstrip("/") + "/compressed"),
            ("camera_info", arg["camera_info"]),
        ],
    )
    actions = [depth_node]
    if IfCondition(arg["use_rviz"]).evaluate(context):
        share = FindPackageShare(PACKAGE).perform(context)
        with open(os.path.join(share, "config", RVIZ_CONFIG), encoding="utf-8") as template:
            rviz_text = rviz_config_for(
                template.read(), fixed_frame=arg["camera_frame"], namespace=namespace,
                image=image)
        actions.append(Node(
            package="rviz2",
            executable="rviz2",
            name="rviz2",
            output="screen",
            arguments=["-d", _write_rviz_config(rviz_text)],
        ))
    return actions


def generate_launch_description() -> LaunchDescription:
    default_params = PathJoinSubstitution([FindPackageShare(PACKAGE), "config", "depth.yaml"])
    declared = [
        DeclareLaunchArgument(
            name, default_value=default_params if default is None else default, description=text)
        for name, default, text in ARGUMENTS
    ]
    return LaunchDescription(declared + [OpaqueFunction(function=_launch_setup)])
