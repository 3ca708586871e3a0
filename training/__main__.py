"""``depth-anything-ros train <stage> --config FILE [section.key=value ...]``.

Also ``python -m depth_anything_ros.training ...``, and ``python -m training ...`` from a checkout.

Stages: teacher, pseudo_label, student, metric, pipeline (all of them in order), evaluate
(``--weights W --data SPEC [--num N] [--json]``), export (``--weights W --out FILE``) and
average (``--weights A B ... [--shares ...] --out FILE``: a model soup).
Under ``torchrun --nproc_per_node N`` the training stages run data-parallel (gloo on CPU, NCCL
on GPU); evaluate and export run on one process.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

TRAIN_STAGES = ("teacher", "pseudo_label", "student", "metric", "pipeline")


def _count(text: str) -> int:
    """A whole number ≥ 1 (argparse type: anything else is a usage error, exit 2)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value}: must be ≥ 1")
    return value


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="depth-anything-ros train",
        description="Depth Anything training: teacher -> pseudo_label -> student -> metric, "
                    "evaluate, export; pipeline runs them all from one config.")
    sub = p.add_subparsers(dest="stage", required=True)
    for name in TRAIN_STAGES:
        s = sub.add_parser(name, help=f"run the {name} stage")
        s.add_argument("--config", required=True, help="YAML config (training/configs/*.yaml)")
        s.add_argument("--out", help="output directory (overrides out_dir)")
        s.add_argument("--device", help="auto | cpu | cuda (overrides device)")
        s.add_argument("--seed", type=int, help="overrides seed")
        s.add_argument("--workers", type=int, help="data-loader workers (overrides data.workers)")
        s.add_argument("--no-resume", action="store_true", help="ignore existing training checkpoints (pseudo-label files are always reused)")
        s.add_argument("overrides", nargs="*", help="section.key=value, e.g. student.perturb=false")
    e = sub.add_parser("evaluate", help="score a checkpoint on a dataset")
    e.add_argument("--weights", required=True)
    e.add_argument("--data", required=True, help="dataset spec, e.g. synthetic:outdoor:test")
    e.add_argument("--num", type=_count, help="first N items (default: all)")
    e.add_argument("--json", action="store_true", help="print JSON instead of a table")
    e.add_argument("--device", default="auto")
    e.add_argument("--min-depth", type=float, help="scoring range in metres (default: 0.001)")
    e.add_argument("--max-depth", type=float, help="scoring range in metres (default: the "
                                                    "model's max_depth, else 80)")
    e.add_argument("--input-size", type=int, help="network input size (default: the model's)")
    e.add_argument("--figure", metavar="OUT.png",
                   help="also draw worst/median/best frames, the abs_rel histogram and (metric "
                        "models) the per-frame scale over time into this PNG")
    e.add_argument("--focal-correction", default="auto", choices=("auto", "on", "off"),
                   help="multiply metric depth by f/f_c from each sample's intrinsics when the "
                        "checkpoint declares its focal (auto: canonical-focal checkpoints only)")
    x = sub.add_parser("export", help="write our .safetensors with provenance and check it loads")
    x.add_argument("--weights", required=True)
    x.add_argument("--out", required=True)
    x.add_argument("--metrics", help="JSON file of evaluation metrics to store as provenance")
    x.add_argument("--dtype", default="float32", choices=("float32", "float16", "bfloat16"),
                   help="storage precision of the weights (float16 halves the file)")
    a = sub.add_parser("average", help="weighted mean of checkpoints fine-tuned from one model "
                                       "(a model soup), written and checked like export")
    a.add_argument("--weights", required=True, nargs="+", help="two or more checkpoints")
    a.add_argument("--shares", type=float, nargs="+", help="one per checkpoint, summing to 1 "
                   "(default: equal)")
    a.add_argument("--out", required=True)
    a.add_argument("--dtype", default="float32", choices=("float32", "float16", "bfloat16"),
                   help="storage precision of the weights (float16 halves the file)")
    return p


def _run_options(config, args):
    from depth_anything_ros.training.loop import RunOptions

    return RunOptions(seed=config.seed, device=config.device, amp=config.amp,
                      workers=config.data.workers, resume=not args.no_resume)


def _input_errors() -> tuple[type[Exception], ...]:
    """Errors that mean the user's input is wrong (a config key, a dataset spec or folder,
    weights): one line and exit status 2, as `bag` and `predict` do; anything else is a bug and
    keeps its traceback."""
    from depth_anything_ros.model.state_dicts import CheckpointError
    from depth_anything_ros.training.config import ConfigError
    from depth_anything_ros.training.data.bags import BagDatasetError
    from depth_anything_ros.training.data.folders import FolderDatasetError
    from depth_anything_ros.training.data.registry import DatasetSpecError
    from depth_anything_ros.training.data.tum import TumDatasetError
    from depth_anything_ros.training.loop import ResumeError

    return (ConfigError, DatasetSpecError, BagDatasetError, FolderDatasetError, TumDatasetError,
            CheckpointError, FileNotFoundError, ResumeError)


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    try:
        return _run_stage(parser, args)
    except KeyboardInterrupt:
        print(f"depth-anything-ros train {args.stage}: interrupted; the same command resumes "
              "from the last checkpoint", file=sys.stderr)
        return 130
    except Exception as exc:
        if not isinstance(exc, _input_errors()):
            raise
        return _report(args.stage, exc)


def _report(stage: str, error: Exception) -> int:
    """One line naming the stage and the problem, and exit status 2 (as `bag` and `predict`)."""
    print(f"depth-anything-ros train {stage}: error: {error}", file=sys.stderr)
    return 2


def _run_stage(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    if args.stage == "evaluate":
        from depth_anything_ros.training.stages.evaluate import evaluate_weights, format_table

        rng = (args.min_depth, args.max_depth)  # an end not given keeps its default
        figure = None
        if args.figure and not Path(args.figure).resolve().parent.is_dir():
            parser.error(f"--figure {args.figure}: its folder does not exist")
        if args.figure:
            from depth_anything_ros.training.figures import EvaluationFigure
            figure = EvaluationFigure()
        metrics = evaluate_weights(args.weights, args.data, num=args.num, device=args.device,
                                   depth_range=rng, input_size=args.input_size, on_frame=figure,
                                   focal_correction=args.focal_correction)
        print(json.dumps(metrics, indent=2) if args.json else format_table(metrics))
        if figure is not None:
            figure.save(args.figure, title=f"{Path(args.weights).name} on {args.data}")
            print(f"wrote {args.figure}", file=sys.stderr)
        return 0
    if args.stage == "average":
        from depth_anything_ros.training.stages.average import average_models

        try:
            print(average_models(args.weights, args.out, shares=args.shares, dtype=args.dtype))
        except (ValueError, OSError, RuntimeError) as exc:
            return _report("average", exc)
        return 0
    if args.stage == "export":
        from depth_anything_ros.training.stages.export import export_model

        extra = {"evaluation": json.loads(Path(args.metrics).read_text())} if args.metrics else {}
        print(export_model(args.weights, args.out, provenance=extra, dtype=args.dtype))
        return 0

    from depth_anything_ros.training.config import load_config
    from depth_anything_ros.training.loop import init_distributed

    overrides = list(args.overrides)
    for flag, key in (("out", "out_dir"), ("device", "device"), ("seed", "seed"), ("workers", "data.workers")):
        if getattr(args, flag) is not None:
            overrides.append(f"{key}={getattr(args, flag)}")
    config = load_config(args.config, overrides)
    init_distributed(config.device)
    run = _run_options(config, args)
    if args.stage == "teacher":
        from depth_anything_ros.training.stages.teacher import run_teacher
        print(run_teacher(config, run))
    elif args.stage == "pseudo_label":
        from depth_anything_ros.training.stages.pseudo_label import run_pseudo_label
        print(run_pseudo_label(config, device=config.device))
    elif args.stage == "student":
        from depth_anything_ros.training.stages.student import run_student
        print(run_student(config, run))
    elif args.stage == "metric":
        from depth_anything_ros.training.stages.metric import run_metric
        print(run_metric(config, run))
    elif args.stage == "pipeline":
        from depth_anything_ros.training.stages.pipeline import run_pipeline
        summary = run_pipeline(config, run)
        if summary:
            print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
