"""Folder datasets: round trips of PNG-millimetre and .npy-metre depth, intrinsics, clear errors."""

import json

import cv2
import numpy as np
import pytest

from depth_anything_ros.bag.export import FrameExporter
from depth_anything_ros.geometry.camera import CameraIntrinsics
from depth_anything_ros.training.data import open_dataset
from depth_anything_ros.training.data.folders import FolderDataset, FolderDatasetError


def _write_frame(root, stem, rgb, depth=None, depth_format="npy", suffix=".png"):
    (root / "rgb").mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(root / "rgb" / f"{stem}{suffix}"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if depth is None:
        return
    (root / "depth").mkdir(exist_ok=True)
    if depth_format == "npy":
        np.save(root / "depth" / f"{stem}.npy", depth.astype(np.float32))
    else:
        mm = np.where(np.isfinite(depth), np.round(depth * 1000), 0).astype(np.uint16)
        cv2.imwrite(str(root / "depth" / f"{stem}.png"), mm)


def _random_frame(rng, h=12, w=16):
    rgb = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    depth = rng.uniform(0.3, 20.0, (h, w)).astype(np.float32)
    depth[0, :3] = np.nan
    return rgb, depth


def test_png_millimetre_and_npy_metre_depth_read_back_within_a_millimetre(tmp_path):
    rng = np.random.default_rng(0)
    frames = {"a": _random_frame(rng), "b": _random_frame(rng)}
    _write_frame(tmp_path, "a", *frames["a"], depth_format="png")
    _write_frame(tmp_path, "b", *frames["b"], depth_format="npy")
    ds = open_dataset(f"folder:{tmp_path}")
    assert isinstance(ds, FolderDataset) and ds.labeled and len(ds) == 2
    for index, stem in enumerate(("a", "b")):
        sample = ds[index]
        rgb, depth = frames[stem]
        assert sample["name"] == stem
        np.testing.assert_array_equal(sample["image"], rgb)  # PNG is lossless, RGB order kept
        np.testing.assert_array_equal(sample["valid"], np.isfinite(depth))
        np.testing.assert_array_equal(np.isnan(sample["depth"]), np.isnan(depth))
        tolerance = 0.0005 if stem == "a" else 0.0
        np.testing.assert_allclose(
            sample["depth"][sample["valid"]], depth[np.isfinite(depth)], atol=tolerance
        )
        assert np.isnan(sample["intrinsics"]).all()


def test_depth_scale_converts_png_units(tmp_path):
    rgb = np.zeros((4, 5, 3), np.uint8)
    (tmp_path / "depth").mkdir()
    _write_frame(tmp_path, "f", rgb)
    cv2.imwrite(str(tmp_path / "depth" / "f.png"), np.full((4, 5), 250, np.uint16))
    assert open_dataset(f"folder:{tmp_path}?depth_scale=100")[0]["depth"] == pytest.approx(2.5)


def test_npy_is_preferred_when_both_depth_files_exist(tmp_path):
    rgb = np.zeros((4, 5, 3), np.uint8)
    _write_frame(tmp_path, "f", rgb, np.full((4, 5), 1.2345, np.float32), "npy")
    cv2.imwrite(str(tmp_path / "depth" / "f.png"), np.full((4, 5), 9000, np.uint16))
    np.testing.assert_allclose(FolderDataset(tmp_path)[0]["depth"], 1.2345)


def test_intrinsics_come_from_per_frame_json_or_camera_json_rescaled_to_the_image(tmp_path):
    rgb = np.zeros((10, 20, 3), np.uint8)
    _write_frame(tmp_path, "own", rgb)
    _write_frame(tmp_path, "shared", rgb, suffix=".jpg")
    (tmp_path / "intrinsics").mkdir()
    (tmp_path / "intrinsics" / "own.json").write_text(
        json.dumps({"fx": 11, "fy": 12, "cx": 9.5, "cy": 4.5})
    )
    (tmp_path / "camera.json").write_text(
        json.dumps({"fx": 40, "fy": 40, "cx": 19.5, "cy": 9.5, "width": 40, "height": 20})
    )
    ds = FolderDataset(tmp_path)
    assert not ds.labeled
    assert "depth" not in ds[0] and "valid" not in ds[0]
    np.testing.assert_allclose(ds[0]["intrinsics"], [11, 12, 9.5, 4.5])
    np.testing.assert_allclose(ds[1]["intrinsics"], [20, 20, 9.5, 4.5])  # half-size camera.json


def test_unpaired_files_are_named_in_the_error(tmp_path):
    rgb, depth = _random_frame(np.random.default_rng(1))
    _write_frame(tmp_path, "has_depth", rgb, depth)
    _write_frame(tmp_path, "no_depth", rgb)
    np.save(tmp_path / "depth" / "orphan.npy", depth)
    with pytest.raises(FolderDatasetError, match="no_depth.png") as error:
        FolderDataset(tmp_path)
    assert "orphan.npy" in str(error.value)
    assert len(FolderDataset(tmp_path, use_depth=False)) == 2  # as unlabeled images it is fine


def test_mismatched_depth_shape_names_both_files(tmp_path):
    _write_frame(tmp_path, "x", np.zeros((8, 8, 3), np.uint8), np.ones((4, 4), np.float32))
    with pytest.raises(FolderDatasetError, match=r"x\.npy.*4x4 but x\.png is 8x8"):
        FolderDataset(tmp_path)[0]


def test_bad_depth_files_are_named(tmp_path):
    _write_frame(tmp_path, "c", np.zeros((4, 4, 3), np.uint8))
    (tmp_path / "depth").mkdir()
    cv2.imwrite(str(tmp_path / "depth" / "c.png"), np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(
        FolderDatasetError, match=r"c\.png: depth PNG must be single-channel 16-bit"
    ):
        FolderDataset(tmp_path)[0]


def test_missing_rgb_folder_is_reported(tmp_path):
    with pytest.raises(FolderDatasetError, match="no rgb/ folder"):
        open_dataset(f"folder:{tmp_path}")


def test_reads_the_bag_exporters_layout(tmp_path):
    """The bag tools' --export-dir writes rgb/, depth/<stem>.png (mm) and .npy, intrinsics/."""
    rgb, depth = _random_frame(np.random.default_rng(2))
    writer = FrameExporter(tmp_path)
    intrinsics = CameraIntrinsics(fx=30.0, fy=31.0, cx=7.5, cy=5.5, width=16, height=12)
    writer.write(writer.unique_name("5_000000001"), rgb, depth, intrinsics, "cam")
    sample = FolderDataset(tmp_path)[0]
    assert sample["name"] == "5_000000001"
    np.testing.assert_array_equal(sample["image"], rgb)
    np.testing.assert_array_equal(sample["depth"], depth)  # the exact .npy wins over the mm PNG
    np.testing.assert_allclose(sample["intrinsics"], [30, 31, 7.5, 5.5])


def test_hidden_files_such_as_macos_appledouble_junk_are_ignored(tmp_path):
    # A dataset copied off a Mac carries `._<name>` AppleDouble files next to every real one;
    # they are not images, and counting them would break pairing or crash the first epoch.
    rgb, depth = _random_frame(np.random.default_rng(3))
    _write_frame(tmp_path, "a", rgb, depth)
    (tmp_path / "rgb" / "._a.png").write_bytes(b"\x00\x05\x16\x07 Mac OS X AppleDouble junk")
    (tmp_path / "depth" / "._a.npy").write_bytes(b"\x00\x05\x16\x07 Mac OS X AppleDouble junk")
    ds = FolderDataset(tmp_path)
    assert ds.stems == ["a"] and len(ds) == 1
    sample = ds[0]
    assert sample["name"] == "a"
    np.testing.assert_array_equal(sample["image"], rgb)
    np.testing.assert_array_equal(sample["valid"], np.isfinite(depth))


def test_intrinsics_for_another_resolution_are_rescaled_per_axis(tmp_path):
    # A camera.json calibrated at 40x20 used with images squeezed to 20x20 (a non-uniform
    # resize): fx must follow the width and fy the height, or metric depth is off by 2x.
    _write_frame(tmp_path, "f", np.zeros((20, 20, 3), np.uint8))
    (tmp_path / "camera.json").write_text(
        json.dumps({"fx": 40, "fy": 30, "cx": 19.5, "cy": 9.5, "width": 40, "height": 20})
    )
    np.testing.assert_allclose(FolderDataset(tmp_path)[0]["intrinsics"], [20, 30, 9.5, 9.5])


def test_npy_depth_of_zero_negative_or_infinite_metres_is_invalid(tmp_path):
    """.npy ground truth marks missing depth in several ways (0, -1, ±inf after a divide by
    zero); none is a distance, so each reads as NaN and stays out of the loss and metrics."""
    from depth_anything_ros.conversions.depth_files import read_depth_file

    values = np.array([[0.0, -1.0, np.inf, -np.inf], [np.nan, 1.5, 1e-3, 20.0]], np.float32)
    np.save(tmp_path / "d.npy", values)
    depth = read_depth_file(tmp_path / "d.npy")
    assert depth.dtype == np.float32
    np.testing.assert_array_equal(np.isnan(depth), [[True] * 4, [True, False, False, False]])
    np.testing.assert_array_equal(depth[1, 1:], values[1, 1:])


def test_an_integer_npy_is_refused_not_read_as_metres(tmp_path):
    """A uint16 .npy of millimetres (a depth PNG's content saved with np.save) read as metres
    would put everything 1000× too far; the reader names the file and the type instead."""
    from depth_anything_ros.conversions.depth_files import DepthFileError, read_depth_file

    np.save(tmp_path / "mm.npy", np.full((4, 5), 1500, np.uint16))
    with pytest.raises(DepthFileError, match=r"mm\.npy: depth \.npy must be a 2-D float array "
                                             r"of metres, got uint16 \(4, 5\)"):
        read_depth_file(tmp_path / "mm.npy")
