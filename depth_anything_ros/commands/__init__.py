"""Sub-commands of `depth-anything-ros`, one module each.

Each module defines `register(subparsers) -> None`, which adds its parser and sets
`func=run` where `run(args) -> int` returns the exit status. Modules import heavy
libraries (torch, rosbags) inside `run`, so `--help` stays fast.
"""
