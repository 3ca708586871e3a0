"""Dataset spec strings: parsing, overrides and errors that quote the spec."""

import pytest

from depth_anything_ros.training.data import DatasetSpecError, open_dataset, parse_spec


def test_parse_spec_splits_kind_target_and_query():
    spec = parse_spec("bag:/data/run 1?image=/cam/image_raw&depth=/cam/depth&tolerance=0.02")
    assert spec.kind == "bag" and spec.target == "/data/run 1"
    assert spec.params == {"image": "/cam/image_raw", "depth": "/cam/depth", "tolerance": "0.02"}
    assert parse_spec("synthetic:indoor:train").params == {}


def test_keyword_overrides_beat_query_values(tmp_path, monkeypatch):
    monkeypatch.setenv("DEPTH_ANYTHING_CACHE", str(tmp_path))
    ds = open_dataset("synthetic:indoor:test?n=50&size=64", n=2, size=16, cache=False)
    assert (len(ds), ds.size, ds.cached) == (2, 16, False)
    assert ds[1]["image"].shape == (16, 16, 3)


@pytest.mark.parametrize(
    "spec, message",
    [
        ("indoor", "must look like kind:target"),
        ("video:/x", "unknown kind 'video'"),
        ("folder:", "nothing after 'folder:'"),
        ("synthetic:indoor", "expected synthetic:<domain>:<split>"),
        ("synthetic:indoor:train?n=many", "n must be an integer, got 'many'"),
        (
            "synthetic:indoor:train?frames=3",
            "unknown key\\(s\\) frames; allowed: n, size, hfov, pitch, cache, workers",
        ),
        ("synthetic:indoor:train?cache=maybe", "cache must be 1/0 or true/false"),
        ("bag:/tmp/x?depth=/d", "bag datasets need image=<topic>"),
        ("folder:/tmp/x?depth_scale=mm", "depth_scale must be a number"),
        ("synthetic:indoor:test?hfov=wide", "hfov must be degrees like 60 or 40-110"),
        ("synthetic:indoor:test?hfov=110-40", "lo <= hi"),
        ("synthetic:indoor:test?hfov=190", "within 1..179"),
        ("synthetic:indoor:test?pitch=down", "pitch must be degrees like -10 or -45:15"),
        ("synthetic:indoor:test?pitch=10:-10", "lo <= hi"),
        ("synthetic:indoor:test?pitch=-95", "within -89..89"),
        ("tum:/tmp/x?split=val", "split must be one of train, test, all"),
        ("tum:/tmp/x?K=1,2,3", "K must be fx,fy,cx,cy"),
    ],
)
def test_malformed_specs_are_rejected_quoting_the_spec(spec, message):
    with pytest.raises(DatasetSpecError, match=message) as error:
        open_dataset(spec)
    assert repr(spec) in str(error.value) or spec == "indoor"


def test_unknown_domain_and_split_name_the_value():
    with pytest.raises(ValueError, match="unknown synthetic domain 'space'"):
        open_dataset("synthetic:space:train?n=1", cache=False)
    with pytest.raises(ValueError, match="unknown split 'val'"):
        open_dataset("synthetic:indoor:val?n=1", cache=False)


def test_folder_spec_with_depth_0_opens_the_images_without_their_depth(tmp_path):
    # `folder:<export>?depth=0` is how a bag export with (noisy, partial) depth is used as the
    # student's unlabeled set: its depth must not be read as labels, nor be required to be
    # complete and readable.
    import cv2
    import numpy as np

    (tmp_path / "rgb").mkdir()
    (tmp_path / "depth").mkdir()
    for stem in ("a", "b"):
        cv2.imwrite(str(tmp_path / "rgb" / f"{stem}.png"), np.full((8, 10, 3), 90, np.uint8))
    np.save(tmp_path / "depth" / "a.npy", np.full((8, 10), 2.0, np.float32))  # b has no depth
    unlabeled = open_dataset(f"folder:{tmp_path}?depth=0")
    assert len(unlabeled) == 2 and "depth" not in unlabeled[0]
    assert unlabeled[1]["image"].shape == (8, 10, 3)
    np.save(tmp_path / "depth" / "b.npy", np.full((8, 10), 3.0, np.float32))
    assert open_dataset(f"folder:{tmp_path}")[1]["depth"][0, 0] == 3.0  # depth=1, the default
