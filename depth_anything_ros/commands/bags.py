"""`depth-anything-ros bags`: `bag` over every bag under a folder; shards across processes,
GPUs and machines when started by torchrun."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

HELP = "run `bag` on every bag under a folder (resumable; shards across GPUs and machines)"
DESCRIPTION = """\
Process every ROS 2 bag under IN_DIR (a folder with metadata.yaml, or a lone .db3/.mcap file)
exactly as `depth-anything-ros bag` would, into OUT_DIR/<relative path> (a lone file x.mcap
becomes the bag folder x). Every output appears by one atomic rename when its bag succeeded.

  resumable  a re-run skips bags whose outputs exist (--overwrite redoes them) and removes what
             a killed run left behind; an interrupted run leaves no half outputs
  failures   a broken bag is recorded and named, the others go on; exit status 1 if any bag
             failed (--strict: stop at the first failure)
  summary    OUT_DIR/summary.json: per bag its status, frames, time and error; the model

Several processes, GPUs or machines: start the same command with torchrun. Each rank takes a
share of the bags balanced by size, and uses cuda:LOCAL_RANK with --device cuda:

  torchrun --standalone --nproc_per_node 4 --no-python \\
      depth-anything-ros bags IN OUT --device cuda ...
  torchrun --nnodes 2 --nproc_per_node 8 --rdzv-backend c10d --rdzv-endpoint HOST:29400 \\
      --rdzv-id fleet1 --no-python depth-anything-ros bags IN OUT --device cuda ...
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    from depth_anything_ros.commands.bag import add_job_arguments

    parser = subparsers.add_parser("bags", help=HELP, description=DESCRIPTION,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("input", type=Path, metavar="IN_DIR", help="folder holding the bags")
    parser.add_argument("output", type=Path, metavar="OUT_DIR",
                        help="folder for the output bags (created; may hold earlier results)")
    add_job_arguments(parser)  # every option of `bag`, from the one definition
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from depth_anything_ros.commands.bag import job_options, require_rosbags, setup_logging

    require_rosbags()
    from depth_anything_ros.bag.ranks import join_ranks

    setup_logging(args.verbose)
    options = job_options(args)
    ranks = join_ranks()
    code = _run(args, options, ranks)  # Ctrl-C / SIGTERM: the process ends without a goodbye
    ranks.close()
    return code


def _run(args: argparse.Namespace, options, ranks) -> int:
    from tqdm import tqdm

    from depth_anything_ros.bag.errors import BagError
    from depth_anything_ros.bag.fleet_job import plan_fleet, run_shard
    from depth_anything_ros.bag.fleet_summary import (read_summary, summary_dict, table_lines,
                                                      write_summary)
    from depth_anything_ros.bag.process import require_metric
    from depth_anything_ros.bag.ranks import Counters, rank_device
    from depth_anything_ros.cli import UserError
    from depth_anything_ros.commands.bag import interrupt_on_sigterm, load_job_estimator
    from depth_anything_ros.commands.predict import one_line

    plan: object = None
    if ranks.rank == 0:
        try:
            plan = plan_fleet(args.input, args.output, options, ranks.world_size)
        except BagError as exc:
            plan = one_line(exc)
    plan = ranks.share(plan)  # every rank acts on rank 0's view of the folders
    if isinstance(plan, str):
        raise UserError(plan)
    todo = sum(len(shard) for shard in plan.shards)
    if ranks.rank == 0:
        if plan.swept:
            print(f"removed {plan.swept} leftovers of an interrupted run under {args.output}")
        if plan.already_done:
            print(f"{len(plan.already_done)} of {plan.total_bags} bags already done, skipping "
                  "them (--overwrite redoes them)")
        print(f"{todo} bag{'' if todo == 1 else 's'} to run ({plan.frames} frames) on "
              f"{ranks.world_size} "
              f"process{'es' if ranks.world_size > 1 else ''}")
    shard = plan.shards[ranks.rank]
    estimator = None
    if shard:  # a rank with nothing to do loads no model
        estimator = load_job_estimator(args, rank_device(args.device, ranks.local_rank))
        try:
            require_metric(estimator, options)
        except BagError as exc:
            raise UserError(one_line(exc)) from exc
    interrupt_on_sigterm()

    bar = tqdm(total=plan.frames, unit="frame", dynamic_ncols=True,
               disable=args.quiet or ranks.rank != 0 or not todo)

    def show(totals) -> None:
        bar.n = min(totals.frames_done, plan.frames)
        failed = f", {totals.failed} failed" if totals.failed else ""
        bar.set_description(f"bags {totals.bags_done}/{todo}{failed}", refresh=False)
        bar.refresh()

    counters = Counters()
    start = time.perf_counter()  # the run itself: no imports, planning or model loading
    ranks.start_progress(counters, show)
    records = run_shard(shard, args.input, args.output, estimator, options, ranks, counters)
    totals = ranks.finish_progress(counters)
    seconds = time.perf_counter() - start
    bar.close()
    gathered = ranks.gather((records, resolved_model(estimator)))
    if ranks.rank == 0:
        ran, resolved = merge_gathered(gathered)
        every = plan.already_done + ran
        # nothing ran: the summary this one replaces may still describe the outputs' model
        previous = read_summary(args.output).get("model") if resolved is None else None
        summary = summary_dict(every, in_dir=args.input, out_dir=args.output, options=options,
                               world_size=ranks.world_size, seconds=seconds)
        summary["model"] = job_model_record(args, resolved, previous)
        for line in table_lines(every, seconds):
            print(line)
        print(f"wrote {write_summary(args.output, summary)}")
        sys.stdout.flush()
    return 1 if totals.failed or totals.stop else 0


def merge_gathered(gathered: list[tuple[list, dict | None]]) -> tuple[list, dict | None]:
    """Every rank's (records, what its model resolved to) → all records, in rank order, and the
    resolved model of the lowest rank that loaded one (None when no rank did: nothing ran)."""
    records = [record for rank_records, _ in gathered for record in rank_records]
    return records, next((r for _, r in gathered if r is not None), None)


def job_model_record(args: argparse.Namespace, resolved: dict | None,
                     previous: object = None) -> dict:
    """Which model made a fleet's outputs: the file (and its sha256, so a retrained file at the
    same path is told apart), the options it ran with and, from the lowest rank that loaded it,
    what it resolved to. A run that loaded no model (every bag already done) made nothing: the
    previous summary's block, when it describes a model, still describes the outputs."""
    if resolved is None and isinstance(previous, dict) \
            and isinstance(previous.get("resolved"), dict):
        return previous
    from depth_anything_ros.model import default_weights_path, file_sha256

    weights = Path(args.weights if args.weights is not None else default_weights_path())
    record = {"weights": str(weights), "sha256": None, "backend": args.backend,
              "device": args.device, "precision": args.precision,
              "version": args.version, "variant": args.variant, "max_depth": args.max_depth,
              "input_size": args.input_size,
              "focal_correction": getattr(args, "focal_correction", None)}
    if weights.is_file():
        record["sha256"] = file_sha256(weights)
    if resolved is not None:
        record["resolved"] = resolved
    return record


def resolved_model(estimator) -> dict | None:
    """What a loaded model resolved to (None when this rank loaded none)."""
    if estimator is None:
        return None
    config = estimator.config
    return {"encoder": config.encoder, "version": config.version, "variant": config.variant,
            "max_depth": config.max_depth, "input_size": estimator.input_size,
            "canonical_focal": config.canonical_focal, "backend": estimator.backend,
            "precision": estimator.precision, "device": str(estimator.device)}
