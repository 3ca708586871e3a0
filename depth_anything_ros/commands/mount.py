"""`depth-anything-ros mount`: the camera's mount in a bag's /tf_static, as the node's
ground-plane parameters (the node does not read tf; the bag job's `--ground-frame` does)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = "the camera's height, pitch and roll from a bag's /tf_static, as the node's parameters"
DESCRIPTION = """\
Read the static transforms a bag recorded (robot_state_publisher and the camera driver latch
them on /tf_static) and print where the camera sits above the floor: its height, pitch and roll
from --ground-frame (a frame on the floor, z up: REP-120's base_footprint) to the camera's
optical frame, which is --camera-frame or the frame_id of the first message on --image-topic.
--out writes them as a parameters file for the node (scale_source: ground_plane), e.g.

  depth-anything-ros mount drive --ground-frame base_footprint --image-topic /cam/image_raw \\
      --out mount.yaml
  ros2 launch depth_anything_ros depth.launch.py params_file:=mount.yaml image:=/cam/image_raw \\
      camera_info:=/cam/camera_info
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("mount", help=HELP, description=DESCRIPTION,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("input", type=Path, metavar="BAG", help="bag (folder, .db3 or .mcap)")
    parser.add_argument("--ground-frame", required=True, metavar="FRAME",
                        help="the frame on the floor, z up (e.g. base_footprint)")
    camera = parser.add_mutually_exclusive_group(required=True)
    camera.add_argument("--image-topic", metavar="T",
                        help="the camera topic: its first message's frame_id is the camera")
    camera.add_argument("--camera-frame", metavar="FRAME", help="the camera's optical frame")
    parser.add_argument("--tf-static-topic", default="/tf_static", metavar="T",
                        help="the bag's static transforms (default: /tf_static)")
    parser.add_argument("--out", type=Path, default=None, metavar="FILE",
                        help="also write the node's parameters for this mount to FILE (YAML, "
                             "for params_file:=FILE)")
    parser.set_defaults(func=run)


def node_parameters(mount) -> dict:
    """The node's ground-plane parameters for a `CameraMount` (a params file's contents)."""
    pitch, roll = mount.pitch_roll_deg()
    return {"/**": {"ros__parameters": {
        "scale_source": "ground_plane", "camera_height": round(mount.camera_height, 4),
        "camera_pitch_deg": round(pitch, 3) + 0.0, "camera_roll_deg": round(roll, 3) + 0.0}}}


def run(args: argparse.Namespace) -> int:
    import yaml

    from depth_anything_ros.atomic_file import write_text_atomic
    from depth_anything_ros.bag.errors import BagError
    from depth_anything_ros.bag.metric_scale import static_transforms, topic_messages
    from depth_anything_ros.bag.reader import open_bag, topic_types
    from depth_anything_ros.bag.topics import IMAGE_TYPES, check_tf_static_topic
    from depth_anything_ros.cli import UserError
    from depth_anything_ros.commands.bag import require_rosbags

    require_rosbags()
    if args.out is not None and args.out.is_dir():
        raise UserError(f"--out {args.out}: is a directory; give a file name")
    if args.out is not None and not args.out.parent.is_dir():
        raise UserError(f"--out {args.out}: folder {args.out.parent} does not exist")
    try:
        with open_bag(args.input) as reader:
            types = topic_types(reader)
            check_tf_static_topic(types, args.tf_static_topic, f"bag {args.input}")
            tree = static_transforms(reader, args.tf_static_topic, args.ground_frame)
            camera = args.camera_frame
            if camera is None:
                if types.get(args.image_topic) not in IMAGE_TYPES:
                    raise UserError(f"--image-topic {args.image_topic}: bag {args.input} has "
                                    "no Image or CompressedImage topic of that name")
                first = next(topic_messages(reader, args.image_topic), None)
                camera = "" if first is None else str(first[1].header.frame_id)
                if not camera.strip("/"):
                    raise UserError(f"--image-topic {args.image_topic}: "
                                    + ("no readable message" if first is None else
                                       "its frames have no frame_id")
                                    + "; pass --camera-frame")
    except BagError as exc:
        raise UserError(str(exc)) from None
    try:
        mount = tree.camera_mount(args.ground_frame, camera)
    except LookupError as exc:
        raise UserError(f"{args.tf_static_topic}: {exc}") from None
    print(f"camera mount from {args.tf_static_topic}: {mount.describe()}")
    for hint in tree.warnings(args.ground_frame, camera):
        print(f"warning: {hint}", file=sys.stderr)
    text = yaml.safe_dump(node_parameters(mount), sort_keys=False)
    if args.out is not None:
        write_text_atomic(args.out, text)
        print(f"wrote {args.out}: the node's parameters for this mount (params_file:={args.out})")
    else:
        print(text, end="")
    return 0
