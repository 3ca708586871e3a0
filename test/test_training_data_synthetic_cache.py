"""SyntheticDataset and its disk cache: hits are identical and render nothing, writes are atomic."""

from pathlib import Path

import numpy as np
import pytest

from depth_anything_ros.training.data import open_dataset
from depth_anything_ros.training.data.cache import CACHE_ENV, cache_root, frame_dtype, load_shard, save_atomic
from depth_anything_ros.training.data.synthetic import render_frame
from depth_anything_ros.training.data.synthetic_dataset import SyntheticDataset


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_cache_root_follows_the_environment_variable(cache_dir):
    assert cache_root() == cache_dir


def test_cached_frames_equal_freshly_rendered_frames(cache_dir):
    ds = SyntheticDataset("outdoor", "test", num_frames=5, size=40, workers=1, shard_frames=2)
    assert len(ds) == 5 and ds.labeled
    shards = sorted(p.name for p in ds.cache_dir.iterdir())
    assert shards == [
        "frames_000000000_00002.npy",
        "frames_000000002_00002.npy",
        "frames_000000004_00001.npy",
    ]
    for index in (0, 3, 4, -1):
        sample = ds[index]
        fresh = render_frame("outdoor", "test", index % 5, 40, 40)
        np.testing.assert_array_equal(sample["image"], fresh.rgb)
        np.testing.assert_array_equal(sample["depth"], fresh.depth)
        np.testing.assert_array_equal(sample["valid"], np.isfinite(fresh.depth))
        np.testing.assert_array_equal(sample["intrinsics"], fresh.intrinsics)
    with pytest.raises(IndexError, match="out of range"):
        ds[5]


def test_cache_hit_returns_identical_arrays_and_renders_nothing(cache_dir, monkeypatch):
    from depth_anything_ros.training.data import synthetic_dataset

    rendered = []  # (first, count) of every shard rendered in this process (workers=1)
    real_render = synthetic_dataset.render_shard

    def counting_render(domain, split, first, count, *rest):
        rendered.append((first, count))
        return real_render(domain, split, first, count, *rest)

    monkeypatch.setattr(synthetic_dataset, "render_shard", counting_render)
    monkeypatch.setattr(synthetic_dataset, "render_frame",  # per-access rendering counts too
                        lambda *a, **k: rendered.append(("frame", a)) or render_frame(*a, **k))
    first = SyntheticDataset("indoor", "train", num_frames=6, size=48, workers=1)
    assert sum(count for _, count in rendered) == 6  # cold: every frame rendered once
    mtimes = {p: p.stat().st_mtime_ns for p in first.cache_dir.iterdir()}
    rendered.clear()
    second = SyntheticDataset("indoor", "train", num_frames=6, size=48, workers=1)
    for index in range(6):
        second[index]
    assert rendered == []  # warm: nothing rendered, at construction or on access
    assert {
        p: p.stat().st_mtime_ns for p in second.cache_dir.iterdir()
    } == mtimes  # nothing rewritten
    for index in range(6):
        a, b = first[index], second[index]
        for key in ("image", "depth", "intrinsics"):
            np.testing.assert_array_equal(a[key], b[key])


def test_parallel_generation_matches_serial_generation(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "serial"))
    serial = SyntheticDataset("indoor", "test", num_frames=4, size=32, workers=1, shard_frames=2)
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "parallel"))
    parallel = SyntheticDataset("indoor", "test", num_frames=4, size=32, workers=2, shard_frames=2)
    for index in range(4):
        np.testing.assert_array_equal(serial[index]["depth"], parallel[index]["depth"])
        np.testing.assert_array_equal(serial[index]["image"], parallel[index]["image"])


def test_uncached_dataset_renders_on_access_without_touching_disk(cache_dir):
    ds = SyntheticDataset("indoor", "train", num_frames=3, size=32, cache=False)
    np.testing.assert_array_equal(ds[1]["depth"], render_frame("indoor", "train", 1, 32, 32).depth)
    assert not cache_dir.exists()


def test_atomic_save_keeps_the_old_file_and_leaves_no_partial_file_when_writing_fails(tmp_path):
    target = tmp_path / "shard.npy"
    save_atomic(target, np.arange(3))
    with pytest.raises(ValueError):  # object arrays cannot be saved without pickle: fails mid-write
        save_atomic(target, np.array([{"not": "an array"}], dtype=object))
    assert [p.name for p in tmp_path.iterdir()] == ["shard.npy"]
    np.testing.assert_array_equal(np.load(target), np.arange(3))


def test_a_corrupt_shard_is_reported_by_path(tmp_path):
    path = tmp_path / "frames_000000000_00002.npy"
    save_atomic(path, np.zeros(3, dtype=frame_dtype(8, 8)))
    with pytest.raises(ValueError, match=f"{path}.*expected \\(2,\\)"):
        load_shard(path, frame_dtype(8, 8), 2)
    path.write_bytes(b"garbage")
    with pytest.raises(ValueError, match=f"{path}.*unreadable"):
        load_shard(path, frame_dtype(8, 8), 2)


def test_a_shard_of_another_record_layout_is_refused_by_path(tmp_path):
    """A shard written with an older record layout (here: before `camera_height` was added)
    can hold the expected number of records; read as the new layout its bytes would land in
    the wrong fields, so it must be refused, naming the file to delete."""
    path = tmp_path / "frames_000000000_00002.npy"
    older = np.dtype([field for field in frame_dtype(8, 8).descr if field[0] != "camera_height"])
    save_atomic(path, np.zeros(2, dtype=older))
    with pytest.raises(ValueError, match=f"{path}.*expected \\(2,\\) of.*delete it"):
        load_shard(path, frame_dtype(8, 8), 2)


def test_a_shard_is_memory_mapped_not_read_whole(tmp_path):
    """A shuffled DataLoader must touch only the frames it reads: a shard is opened as a
    read-only memory map of its file, not copied into every worker's memory."""
    path = tmp_path / "frames_000000000_00003.npy"
    records = np.zeros(3, dtype=frame_dtype(8, 8))
    records["seed"] = [5, 6, 7]
    save_atomic(path, records)
    shard = load_shard(path, frame_dtype(8, 8), 3)
    assert isinstance(shard, np.memmap) and Path(shard.filename) == path
    assert not shard.flags.writeable
    np.testing.assert_array_equal(shard["seed"], [5, 6, 7])


def test_without_the_variable_the_cache_is_the_repository_cache_folder(monkeypatch):
    """The default root is `<repo>/.cache/depth_anything_ros` (git-ignored), not a folder
    inside the training package, which is installed and shipped; an empty variable counts as
    unset."""
    default = Path(__file__).resolve().parents[1] / ".cache" / "depth_anything_ros"
    monkeypatch.delenv(CACHE_ENV, raising=False)
    assert cache_root() == default
    monkeypatch.setenv(CACHE_ENV, "")
    assert cache_root() == default


def test_spec_opens_the_same_frames_as_the_constructor(cache_dir):
    ds = open_dataset("synthetic:outdoor:train?n=3&size=32", workers=1)
    assert isinstance(ds, SyntheticDataset) and (ds.domain, ds.split, len(ds), ds.size) == (
        "outdoor",
        "train",
        3,
        32,
    )
    np.testing.assert_array_equal(ds[2]["image"], render_frame("outdoor", "train", 2, 32, 32).rgb)
    assert open_dataset(ds.spec, workers=1).spec == ds.spec


def test_pickled_dataset_reopens_its_shards_instead_of_copying_them(cache_dir):
    import pickle

    ds = SyntheticDataset("indoor", "train", num_frames=2, size=32, workers=1)
    expected = ds[1]["depth"]
    payload = pickle.dumps(ds)
    assert len(payload) < 2 * 32 * 32  # far smaller than the frames it serves
    np.testing.assert_array_equal(pickle.loads(payload)[1]["depth"], expected)
