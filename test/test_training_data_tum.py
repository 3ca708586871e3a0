"""TUM RGB-D sequences: pairs by timestamp, depth in metres, and a split by time whose held-out
tail never reaches training."""
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from depth_anything_ros.training.data import DatasetSpecError, open_dataset
from depth_anything_ros.geometry.camera import CameraIntrinsics
from depth_anything_ros.scale import pixel_rays
from depth_anything_ros.scale.ground_plane import ray_down
from depth_anything_ros.training.data.tum import (TUM_DEPTH_REGISTRATION_INTRINSICS,
                                                  TUM_FR1_INTRINSICS, TumDataset, TumDatasetError,
                                                  TumFloor, default_tum_dir, split_pairs)

T0 = 1305031229.5


def write_sequence(root: Path, count: int = 20, period: float = 0.1, name="rgbd_fr1_tiny") -> Path:
    """A TUM-layout folder: colour JPEGs, uint16 depth PNGs (5000/m), lists with comments; the
    depth stamps lag the colour ones by 3 ms, and one extra depth frame has no colour partner."""
    folder = root / name
    (folder / "rgb").mkdir(parents=True)
    (folder / "depth").mkdir()
    rgb_lines, depth_lines = ["# color images", "# timestamp filename"], ["# depth maps"]
    for i in range(count):
        t = T0 + i * period
        cv2.imwrite(str(folder / "rgb" / f"{t:.6f}.jpg"), np.full((6, 8, 3), i * 10, np.uint8))
        raw = np.full((6, 8), 5000 + 500 * i, np.uint16)
        raw[0, 0] = 0  # no measurement
        cv2.imwrite(str(folder / "depth" / f"{t + 0.003:.6f}.png"), raw)
        rgb_lines.append(f"{t:.6f} rgb/{t:.6f}.jpg")
        depth_lines.append(f"{t + 0.003:.6f} depth/{t + 0.003:.6f}.png")
    depth_lines.append(f"{T0 + 100:.6f} depth/orphan.png")
    (folder / "rgb.txt").write_text("\n".join(rgb_lines) + "\n")
    (folder / "depth.txt").write_text("\n".join(depth_lines[::-1]) + "\n")  # order must not matter
    return folder


def test_pairs_are_matched_by_stamp_and_depth_is_metres_with_nan_for_zero(tmp_path):
    data = TumDataset(write_sequence(tmp_path))
    assert len(data) == 20 and data.labeled
    sample = data[3]
    assert sample["image"].shape == (6, 8, 3)
    assert np.isnan(sample["depth"][0, 0]) and not sample["valid"][0, 0]
    assert sample["depth"][2, 3] == pytest.approx((5000 + 1500) / 5000)
    np.testing.assert_allclose(sample["intrinsics"], TUM_FR1_INTRINSICS)
    assert np.isnan(sample["camera_height"])


def test_split_by_time_train_is_the_first_80_percent_and_test_the_rest(tmp_path):
    folder = write_sequence(tmp_path)
    train, test, every = (TumDataset(folder, split=s) for s in ("train", "test", "all"))
    assert len(train) + len(test) == len(every) == 20
    cut = T0 + 0.8 * 1.9  # 80 % of the time span of the colour stamps
    assert train.timestamps.max() < cut <= test.timestamps.min()
    assert len(test) == 4  # stamps 1.6, 1.7, 1.8 and 1.9 s in
    names = lambda d: {d[i]["name"] for i in range(len(d))}  # noqa: E731
    assert names(train).isdisjoint(names(test))
    assert names(train) | names(test) == names(every)


def test_a_frame_stamped_exactly_at_the_cut_is_test_only():
    # Stamps 0, 1, ..., 10 s: the cut 0 + 0.8·10 = 8.0 is exact in floating point, so the frame
    # at 8 s lies on it and must go to test alone; train and test share no frame.
    pairs = [(float(t), f"rgb/{t}.png", f"depth/{t}.png") for t in range(11)]
    train, test = split_pairs(pairs, "train"), split_pairs(pairs, "test")
    assert [p[0] for p in train] == [float(t) for t in range(8)]
    assert [p[0] for p in test] == [8.0, 9.0, 10.0]
    assert not set(train) & set(test)
    assert sorted(train + test) == pairs


def test_held_out_tail_is_never_in_train_whatever_every_says(tmp_path):
    folder = write_sequence(tmp_path)
    tail = set(TumDataset(folder, split="test").timestamps)
    for k in (1, 2, 3, 7):
        picked = TumDataset(folder, split="train", every=k).timestamps
        assert not tail & set(picked)
        assert list(picked) == sorted(picked)
    assert len(TumDataset(folder, split="all", every=4)) == 5


def test_spec_opens_it_and_bad_folders_are_named(tmp_path):
    folder = write_sequence(tmp_path)
    data = open_dataset(f"tum:{folder}?split=test&every=2")
    assert len(data) == 2
    other = write_sequence(tmp_path, name="my_camera")
    with pytest.raises(TumDatasetError, match="freiburg1.*K=fx,fy,cx,cy"):
        open_dataset(f"tum:{other}")
    assert open_dataset(f"tum:{other}?K=500,501,320,240")[0]["intrinsics"][1] == 501
    with pytest.raises(TumDatasetError, match="no such TUM sequence folder"):
        open_dataset(f"tum:{tmp_path / 'missing'}")
    (folder / "rgb.txt").write_text("1305031229.5\n")
    with pytest.raises(TumDatasetError, match="rgb.txt:1: expected 'timestamp filename'"):
        TumDataset(folder)
    with pytest.raises(DatasetSpecError, match="every must be an integer"):
        open_dataset(f"tum:{folder}?every=x")


def test_the_shared_fr1_rpy_sequence_splits_by_time(monkeypatch):
    folder = default_tum_dir()
    assert folder.is_dir(), f"the shared TUM data is missing at {folder} (set $DAR_TUM_DIR)"
    train = open_dataset("tum:default?split=train")
    test = open_dataset("tum:default?split=test")
    assert (len(train), len(test)) == (274, 73)
    assert train.timestamps.max() < test.timestamps.min()
    sample = test[0]
    assert sample["image"].shape == (480, 640, 3)
    valid = sample["depth"][sample["valid"]]
    assert 0.3 < valid.min() and valid.max() < 10.0
    monkeypatch.setenv("DAR_TUM_DIR", os.fspath(folder))
    assert default_tum_dir() == folder


def test_the_mocap_gives_each_frame_its_camera_height_and_floor_normal():
    """On a real frame that sees the floor, the sensor depth's points at camera_height below
    the camera along the mocap's floor normal are a large share of the view (the floor), and
    none lie far below it; a stamp with no pose within 20 ms gets None."""
    dataset = TumDataset(default_tum_dir(), split="all")
    floor = TumFloor(default_tum_dir())
    rays = pixel_rays(CameraIntrinsics(*TUM_DEPTH_REGISTRATION_INTRINSICS, 640, 480), 480, 640)
    shares = []
    for index in range(0, len(dataset), 10):
        height, up = floor.at(float(dataset.timestamps[index]))
        assert 1.2 < height < 1.8 and abs(np.linalg.norm(up) - 1) < 1e-9
        depth = dataset[index]["depth"]
        below = depth * ray_down(rays, up)  # metres below the optical centre
        valid = np.isfinite(below)
        shares.append(float(np.mean(np.abs(below[valid] - height) < 0.05)))
        assert np.mean(below[valid] > height + 0.15) < 0.01  # nothing under the floor
    assert max(shares) > 0.2  # some frames look down at the floor ...
    assert min(shares) < 0.01  # ... others only at the desk
    assert floor.at(float(dataset.timestamps[0]) - 3600.0) is None


def test_a_tum_spec_reaching_into_the_held_out_tail_is_named_for_training():
    from depth_anything_ros.training.data.registry import held_out_note

    assert "includes the held-out last 20 %" in held_out_note("tum:default")  # split=all
    assert "split=test" in held_out_note("tum:default?split=test&every=4")
    assert held_out_note("tum:default?split=train") is None
    assert held_out_note("synthetic:indoor:train") is None
