"""`depth-anything-ros`: the command-line entry point; sub-commands live in `commands/`."""
from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

from depth_anything_ros.large_buffers import keep_large_buffers

# Sub-command modules, in the order `--help` lists them.
COMMANDS = ("predict", "info", "bag", "bags", "mount", "export", "demo", "train")


class UserError(Exception):
    """A problem with the user's input: printed as one line, exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="depth-anything-ros",
        description="Metric depth from one camera with Depth Anything (DINOv2 + DPT).",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"depth_anything_ros.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"depth_anything_ros.commands.{name}":
                raise
            continue  # sub-command not built yet
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["train"]:  # every argument after `train` (even --help) is the trainer's
        from depth_anything_ros.commands.train import run_training

        return run_training(argv[1:])
    args = build_parser().parse_args(argv)
    keep_large_buffers()  # frames, tensors and clouds of megabytes: no mmap churn (module doc)
    try:
        return int(args.func(args) or 0)
    except UserError as exc:
        print(f"depth-anything-ros {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # `python -m`: run the imported module's main, so the UserError the
    from depth_anything_ros.cli import main as _main  # commands raise is the one caught
    sys.exit(_main())
