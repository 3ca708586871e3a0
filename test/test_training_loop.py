"""The shared training loop: learning, exact resume after a kill, DDP = one process, schedule."""
import json

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp
from torch import nn

from depth_anything_ros.training.config import OptimSection
from depth_anything_ros.training.loop import (RunOptions, Source, StageSpec, StepBatches,
                                              global_batch_indices, lr_factor, param_groups, train)

N_ITEMS = 24
W_TRUE = np.random.default_rng(42).normal(size=(6, 3)).astype(np.float32)


class Toy(nn.Module):
    """Two parameter groups like DepthAnything: ``pretrained`` (encoder) and a head."""

    def __init__(self, dropout: float = 0.0):
        super().__init__()
        torch.manual_seed(0)
        self.pretrained = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Dropout(dropout))
        self.head = nn.Linear(16, 3)

    def forward(self, x):
        return self.head(self.pretrained(x))


def _load(index, rng):
    x = np.random.default_rng(index).normal(size=6).astype(np.float32)
    noise = rng.normal(scale=0.01, size=3).astype(np.float32)  # an "augmentation": rng-keyed
    return {"x": x, "y": x @ W_TRUE + noise}


def _loss(model, batch):
    part = batch["toy"]
    loss = ((model(part["x"]) - part["y"]) ** 2).mean()
    return loss, {"loss_mse": loss.detach()}


def _spec(out_dir, steps=12, batch=4, dropout=0.0, checkpoint_every=4):
    optim = OptimSection(steps=steps, batch_size=batch, lr_encoder=1e-2, lr_decoder=5e-2,
                         schedule="poly", checkpoint_every=checkpoint_every, log_every=1)
    return StageSpec("toy", Toy(dropout), [Source("toy", N_ITEMS, _load, batch)], _loss, optim, out_dir)


def _state(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_loop_lowers_the_loss_and_writes_log_checkpoint_and_plot(tmp_path):
    train(_spec(tmp_path, steps=40), RunOptions(device="cpu", progress=False))
    records = [json.loads(ln) for ln in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == list(range(1, 41))
    assert records[-1]["loss"] < 0.5 * records[0]["loss"]
    assert records[0]["lr_encoder"] == pytest.approx(1e-2) and records[0]["lr_decoder"] == pytest.approx(5e-2)
    assert (tmp_path / "checkpoint.pt").is_file() and (tmp_path / "loss.png").stat().st_size > 1000
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert state["step"] == 40


def test_kill_after_a_checkpoint_then_resume_gives_bit_identical_weights(tmp_path):
    full = train(_spec(tmp_path / "full", dropout=0.3), RunOptions(device="cpu", progress=False))
    # "kill": stop after 5 steps (last checkpoint at 4), discard the in-memory model, resume.
    train(_spec(tmp_path / "killed", dropout=0.3), RunOptions(device="cpu", progress=False, stop_after=5))
    torch.manual_seed(123)  # whatever happened to the RNG in between must not matter
    np.random.seed(7)
    resumed = train(_spec(tmp_path / "killed", dropout=0.3), RunOptions(device="cpu", progress=False))
    a, b = _state(full), _state(resumed)
    assert all(torch.equal(a[k], b[k]) for k in a)
    log = [json.loads(ln)["step"] for ln in (tmp_path / "killed" / "metrics.jsonl").read_text().splitlines()]
    assert log == list(range(1, 13))  # steps 5 (lost with the kill) logged once, after the resume


def test_resume_drops_a_half_written_log_line_left_by_a_kill(tmp_path):
    train(_spec(tmp_path), RunOptions(device="cpu", progress=False, stop_after=5))
    with (tmp_path / "metrics.jsonl").open("a") as log:
        log.write('{"stage": "toy", "step": 6, "lo')  # killed in the middle of a write
    train(_spec(tmp_path), RunOptions(device="cpu", progress=False))
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(ln)["step"] for ln in lines] == list(range(1, 13))


def _ddp_worker(rank, world, store, out_dir, result_path):
    torch.distributed.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world)
    torch.set_num_threads(1)
    model = train(_spec(out_dir, steps=6, batch=4), RunOptions(device="cpu", progress=False))
    if rank == 0:
        torch.save(_state(model), result_path)
    torch.distributed.destroy_process_group()


def test_two_process_ddp_on_cpu_matches_one_process_on_the_same_global_batch(tmp_path):
    single = _state(train(_spec(tmp_path / "single", steps=6, batch=4), RunOptions(device="cpu", progress=False)))
    result = tmp_path / "ddp.pt"
    mp.spawn(_ddp_worker, args=(2, str(tmp_path / "store"), str(tmp_path / "ddp"), str(result)),
             nprocs=2, join=True)
    ddp = torch.load(result, weights_only=True)
    for k in single:
        torch.testing.assert_close(ddp[k], single[k], rtol=1e-5, atol=1e-6)
    assert not torch.equal(single["head.weight"], Toy().head.weight.detach())  # it did train
    # The logged losses are the mean over the ranks, as one process logs them: a sum would
    # show a 2-GPU run's loss curve at twice the height of the same run on one GPU.
    logs = [[json.loads(ln) for ln in (tmp_path / run / "metrics.jsonl").read_text().splitlines()]
            for run in ("single", "ddp")]
    assert [r["step"] for r in logs[1]] == [r["step"] for r in logs[0]] == list(range(1, 7))
    for one, two in zip(*logs):
        assert two["loss"] == pytest.approx(one["loss"], rel=1e-4)
        assert two["loss_mse"] == pytest.approx(one["loss_mse"], rel=1e-4)


def test_batches_cover_each_item_once_per_epoch():
    steps_per_epoch = N_ITEMS // 4
    seen = [i for s in range(steps_per_epoch) for i in global_batch_indices(0, 0, N_ITEMS, s, 4)]
    assert sorted(seen) == list(range(N_ITEMS))
    assert global_batch_indices(0, 0, N_ITEMS, 0, 4) != global_batch_indices(1, 0, N_ITEMS, 0, 4)


@pytest.mark.parametrize("world", [2, 3])
def test_each_rank_loads_a_disjoint_shard_and_the_shards_make_the_global_batch(world):
    """A rank that loaded the whole global batch (or overlapped another) would still train the
    same weights under DDP — only at `world`× the compute — so check the shards themselves."""
    def load(index, rng):
        return {"index": np.int64(index), "draw": np.float64(rng.random())}

    batch = 6
    sources = [Source("toy", N_ITEMS, load, batch)]
    for step in (0, 5, 11):
        expected = global_batch_indices(0, 0, N_ITEMS, step, batch)
        single = StepBatches(sources, 0, 0, 1)[step]["toy"]
        shards = [StepBatches(sources, 0, rank, world)[step]["toy"] for rank in range(world)]
        for shard in shards:
            assert len(shard["index"]) == batch // world
        # Rank r holds positions r·B/W … (r+1)·B/W − 1 of the global batch, with the same
        # augmentation draws a single process makes for those positions.
        assert torch.cat([s["index"] for s in shards]).tolist() == expected
        torch.testing.assert_close(torch.cat([s["draw"] for s in shards]), single["draw"])
        held = [set(s["index"].tolist()) for s in shards]
        assert all(a.isdisjoint(b) for i, a in enumerate(held) for b in held[i + 1:])
    with pytest.raises(ValueError, match="'toy'.*batch size 6 not divisible by 4 ranks"):
        StepBatches(sources, 0, 0, 4)


def test_schedules_follow_their_formulas():
    assert lr_factor("poly", 50, 100) == pytest.approx(0.5**0.9)
    assert lr_factor("linear", 25, 100) == pytest.approx(0.75)
    assert lr_factor("onecycle", 50, 100) == pytest.approx(0.5)
    assert lr_factor("linear", 1, 100, warmup=4) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="schedule"):
        lr_factor("cosine-ish", 0, 10)


def test_encoder_and_decoder_get_their_own_learning_rates():
    groups = param_groups(Toy(), OptimSection(lr_encoder=1e-6, lr_decoder=1e-5))
    by_name = {g["name"]: g for g in groups}
    assert by_name["encoder"]["lr"] == 1e-6 and len(by_name["encoder"]["params"]) == 2
    assert by_name["decoder"]["lr"] == 1e-5 and len(by_name["decoder"]["params"]) == 2


def test_resuming_with_different_settings_fails_instead_of_mixing_runs(tmp_path):
    spec = _spec(tmp_path)
    spec.fingerprint = '{"lr": 1}'
    train(spec, RunOptions(device="cpu", progress=False, stop_after=4))
    other = _spec(tmp_path)
    other.fingerprint = '{"lr": 2}'
    with pytest.raises(RuntimeError, match="checkpoint.pt.*different toy settings"):
        train(other, RunOptions(device="cpu", progress=False))
    train(other, RunOptions(device="cpu", progress=False, resume=False))  # --no-resume starts over


def test_after_warmup_the_schedule_starts_from_the_full_learning_rate():
    # Warmup ramps up to the base lr; the decay must then run over the remaining steps from
    # the top. Counting the warmup steps as decay too would start every robot fine-tune
    # below the configured lr and end it at zero before its last step.
    assert lr_factor("linear", 3, 100, warmup=4) == pytest.approx(1.0)  # end of the ramp
    assert lr_factor("linear", 4, 100, warmup=4) == pytest.approx(1.0)
    assert lr_factor("linear", 52, 100, warmup=4) == pytest.approx(0.5)
    assert lr_factor("poly", 20, 20, warmup=10) == pytest.approx(0.0)


def test_grad_clip_bounds_the_gradient_norm_the_optimiser_steps_with(tmp_path):
    # grad_clip is what keeps one bad batch (a depth map full of outliers from a robot's
    # sensor) from throwing the weights away; the optimiser must see the clipped gradient.
    from torch.optim.optimizer import register_optimizer_step_pre_hook

    seen = []

    def record_grad_norm(optimizer, args, kwargs):  # a spy: reads the gradients, changes nothing
        grads = [p.grad for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
        seen.append(float(torch.linalg.vector_norm(torch.cat([g.flatten() for g in grads]))))

    spec = _spec(tmp_path, steps=4)
    spec.optim.grad_clip = 1e-3
    handle = register_optimizer_step_pre_hook(record_grad_norm)
    try:
        train(spec, RunOptions(device="cpu", progress=False))
    finally:
        handle.remove()
    records = [json.loads(ln) for ln in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert len(seen) == 4
    assert all(r["grad_norm"] > 1e-2 for r in records)  # the raw gradients were far larger
    assert max(seen) == pytest.approx(1e-3, rel=1e-4)


def test_each_sample_of_a_batch_gets_its_own_augmentation_draws():
    # The random crop, flip and perturbations of every image come from its generator: if all
    # images of a batch drew the same numbers, each batch would be cropped and flipped alike
    # and the robot's data would be seen with a fraction of the augmentation it should get.
    def load(index, rng):
        return {"draw": np.float64(rng.random())}

    sources = [Source("toy", N_ITEMS, load, 6)]
    for step in (0, 3):
        draws = StepBatches(sources, 0, 0, 1)[step]["toy"]["draw"].tolist()
        assert len(set(draws)) == 6
        # ... and repeat exactly for the same (seed, source, step, position): resume needs it
        assert StepBatches(sources, 0, 0, 1)[step]["toy"]["draw"].tolist() == draws
