"""`depth-anything-ros info`: what a checkpoint holds, without running it."""
from __future__ import annotations

import argparse
import json
from typing import Any

from .predict import add_model_arguments, one_line

HELP = "show a checkpoint's architecture, version, variant and size"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "info", help=HELP, description=HELP + " (the weights are checked, not run)."
    )
    add_model_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    parser.set_defaults(func=run)


def describe(args: argparse.Namespace) -> dict[str, Any]:
    """Everything `info` prints, as JSON-safe data."""
    import torch

    from depth_anything_ros.cli import UserError
    from depth_anything_ros.inference import network_size
    from depth_anything_ros.model import (DepthAnything, default_weights_path, inspect_checkpoint,
                                          read_provenance)

    path = args.weights if args.weights is not None else default_weights_path()
    if args.weights is None and not path.exists():
        raise UserError(f"{path}: the shipped default model is not installed; pass --weights PATH")
    overrides = {"version": args.version, "variant": args.variant, "max_depth": args.max_depth,
                 "input_size": args.input_size}
    export = None
    try:
        if path.suffix.lower() in (".onnx", ".xml"):
            export = _read_export(path, overrides)
            config = export.config
            provenance = json.loads(export.metadata.get("provenance", "{}"))
        else:
            config = inspect_checkpoint(path, **overrides)
            provenance = read_provenance(path)
    except (ValueError, OSError, ImportError) as exc:  # CheckpointError is a ValueError
        raise UserError(one_line(exc)) from exc
    try:
        network = network_size(480, 640, config.input_size)
    except ValueError as exc:  # e.g. --input-size 100: not a multiple of the patch size
        raise UserError(f"--input-size: {one_line(exc)}") from exc
    with torch.device("meta"):  # shapes only: counts parameters without allocating them
        model = DepthAnything(config)
    encoder = sum(p.numel() for p in model.pretrained.parameters())
    head = sum(p.numel() for p in model.depth_head.parameters())
    return {
        "weights": str(path),
        "config": config.to_dict(),
        "output": ("metric depth in metres" if config.variant == "metric"
                   else "relative disparity (no unit)"),
        "network_input_for_640x480": list(reversed(network)),
        "parameters": {"total": encoder + head, "encoder": encoder, "head": head},
        "provenance": provenance,
        **({} if export is None else {"export": {
            "input_shape": list(export.input_shape), "precision": export.precision,
            "our_metadata": export.ours, "canonical_focal": export.canonical_focal}}),
    }


def _read_export(path, overrides):
    """ExportInfo of an .onnx/.xml (needs the onnx or openvino extra)."""
    from depth_anything_ros.inference.runtimes import read_onnx, read_openvino

    reader = read_onnx if path.suffix.lower() == ".onnx" else read_openvino
    return reader(path, **{k: v for k, v in overrides.items() if v is not None})[0]


def _focal_text(c: dict[str, Any]) -> str:
    focal = c.get("canonical_focal")
    if focal is None:
        return "not declared (no focal correction)"
    if c.get("focal_origin") == "canonical":
        return (f"canonical {focal:.3f} (fx / shorter side): depth × f/{focal:.3f} with the "
                "camera's fx (focal_correction auto)")
    return (f"training camera {focal:.3f} (fx / shorter side): corrected only with "
            "focal_correction on")


def format_text(info: dict[str, Any]) -> str:
    c = info["config"]
    p = info["parameters"]
    variant = c["variant"] + (f", max_depth {c['max_depth']:g} m" if c["max_depth"] else "")
    w, h = info["network_input_for_640x480"]
    rows = [
        ("weights", info["weights"]),
        ("encoder", f"{c['encoder']} (dim {c['embed_dim']}, depth {c['depth']}, "
                    f"heads {c['num_heads']}, ffn {c['ffn']})"),
        ("taps", ", ".join(map(str, c["taps"]))),
        ("head", f"features {c['features']}, "
                 f"out_channels {', '.join(map(str, c['out_channels']))}"),
        ("version", c["version"]),
        ("variant", variant),
        ("output", info["output"]),
        ("input size", f"{c['input_size']} (a 640×480 frame runs at {w}×{h})"),
        ("focal", _focal_text(c)),
        ("parameters", f"{p['total']:,} (encoder {p['encoder'] / 1e6:.2f}M, "
                       f"head {p['head'] / 1e6:.2f}M)"),
        ("provenance", _provenance_text(info["provenance"])),
    ]
    if "export" in info:
        e = info["export"]
        shape = "x".join("?" if d is None else str(d) for d in e["input_shape"])
        rows.append(("export", f"input {shape}, {e['precision']}"
                     + ("" if e["our_metadata"] else ", no depth_anything_ros metadata")))
    return "\n".join(f"{name + ':':<12} {value}" for name, value in rows)


def _provenance_text(provenance: dict[str, Any]) -> str:
    """How the weights were made, one line per training run (an average lists its members);
    the full record (every config value, kilobytes for the shipped model) is in --json."""
    if not provenance:
        return "(none recorded)"
    return "\n".join([_run_text(provenance), *_member_lines(provenance, "  ")]) \
        + "\n  (all of it: info --json)"


def _member_lines(provenance: dict[str, Any], indent: str) -> list[str]:
    """One line per member of an average, each followed by its own members when it is an
    average too (a soup of a soup), indented one level deeper; for a run started from one of
    our checkpoints, one line for that checkpoint's own provenance (``init:``), and its lines."""
    lines = []
    init = provenance.get("init_provenance")
    if isinstance(init, dict) and init:
        lines.append(f"{indent}init: " + _run_text(init))
        lines += _member_lines(init, indent + "  ")
    for member in provenance.get("averaged_from", []):
        inner = member.get("provenance", {})
        share = member.get("share", "?")
        share = f"{share:.3g}" if isinstance(share, float) else share
        lines.append(f"{indent}{share} × {member.get('weights', '?')}: " + _run_text(inner))
        lines += _member_lines(inner, indent + "  ")
    return lines


def _run_text(provenance: dict[str, Any]) -> str:
    data = provenance.get("data", {})
    data = data if isinstance(data, dict) else {}
    parts = [f"{key} {provenance[key]}" for key in ("stage", "steps", "seed", "purpose")
             if key in provenance]
    parts += [f"{key}={data[key]}" for key in ("metric_train", "metric_mix", "labeled", "init")
              if key in data]
    rest = sorted(set(provenance) - {"stage", "steps", "seed", "purpose", "data", "config",
                                     "averaged_from", "init_provenance"})
    parts += [f"{key}={provenance[key]}" if isinstance(provenance[key], (str, int, float))
              else key for key in rest]
    return ", ".join(parts) or "(recorded, no summary)"


def run(args: argparse.Namespace) -> int:
    info = describe(args)
    print(json.dumps(info, indent=2, sort_keys=True) if args.json else format_text(info))
    return 0
