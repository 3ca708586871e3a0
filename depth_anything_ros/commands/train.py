"""`depth-anything-ros train <stage> ...`: the training pipeline (`depth_anything_ros.training`).

The installed form of `python -m training` (which works only from a checkout): after `pip
install` or `colcon build` this is how the teacher → pseudo-label → student → metric stages,
evaluate and export are run (`ros2 run depth_anything_ros depth-anything-ros train ...`).
"""
from __future__ import annotations

import argparse

HELP = "train, evaluate or export a model (teacher, pseudo_label, student, metric, pipeline, ...)"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train", help=HELP, add_help=False,
        description=HELP + "; `depth-anything-ros train --help` lists the stages.")
    parser.add_argument("arguments", nargs=argparse.REMAINDER,
                        help="a stage and its arguments, e.g. pipeline --config FILE")
    parser.set_defaults(func=run)


def run_training(argv: list[str]) -> int:
    """Hand every argument to the trainer's own parser (cli.main routes `train ...` here)."""
    from depth_anything_ros.training.__main__ import main

    return main(argv)


def run(args: argparse.Namespace) -> int:
    return run_training(args.arguments)
