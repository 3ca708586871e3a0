"""`depth-anything-ros mount`: the camera's mount in a bag's /tf_static printed, and written as
the node's parameters; bad bags, frames and arguments are one-line errors (exit 2)."""
import numpy as np
import pytest
import yaml

from bag_helpers import FLOOR_FRAME, write_tf_bag
from depth_anything_ros.cli import main
from depth_anything_ros.commands.mount import node_parameters
from depth_anything_ros.scale import GroundPlane
from depth_anything_ros.scale.mount import CameraMount


def _mount(capsys, *argv):
    code = main(["mount", *map(str, argv)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_mount_prints_the_cameras_mount_and_writes_it_as_the_nodes_parameters(tmp_path, capsys):
    write_tf_bag(tmp_path / "drive", 0.8, pitch_deg=20.0, yaw_deg=30.0, frames=1)
    out = tmp_path / "mount.yaml"
    code, stdout, _ = _mount(capsys, tmp_path / "drive", "--ground-frame", FLOOR_FRAME,
                             "--image-topic", "/cam/image_raw", "--out", out)
    assert code == 0
    assert ("camera mount from /tf_static: base_footprint → cam_optical_frame: camera_height "
            "0.800 m, camera_pitch_deg 20.0, camera_roll_deg 0.0") in stdout
    params = yaml.safe_load(out.read_text())["/**"]["ros__parameters"]
    assert params["scale_source"] == "ground_plane"
    assert params["camera_height"] == pytest.approx(0.8, abs=1e-4)
    assert params["camera_pitch_deg"] == pytest.approx(20.0, abs=1e-3)
    assert params["camera_roll_deg"] == pytest.approx(0.0, abs=1e-3)
    assert all(isinstance(params[k], float) for k in ("camera_height", "camera_pitch_deg",
                                                      "camera_roll_deg"))  # ROS doubles
    # the camera named directly, and printed instead of written
    code, stdout, _ = _mount(capsys, tmp_path / "drive", "--ground-frame", "base_link",
                             "--camera-frame", "cam_optical_frame")
    assert code == 0 and "camera_height 0.700 m" in stdout
    assert yaml.safe_load(stdout.split("\n", 1)[1])["/**"]["ros__parameters"][
        "camera_height"] == pytest.approx(0.7, abs=1e-4)


@pytest.mark.parametrize("up", [(0.0, 1.0, 0.0), (0.3, -0.8, -0.52), (-0.6, 0.2, -0.77)])
def test_the_written_angles_give_the_mounts_floor_back_even_upside_down(up):
    up = tuple(np.asarray(up) / np.linalg.norm(up))
    params = node_parameters(CameraMount("f", "c", 1.0, up))["/**"]["ros__parameters"]
    plane = GroundPlane.from_pitch_roll(1.0, params["camera_pitch_deg"], params["camera_roll_deg"])
    np.testing.assert_allclose(plane.up, up, atol=1e-4)
    assert -90 <= params["camera_pitch_deg"] <= 90 and -180 <= params["camera_roll_deg"] <= 180


def test_bad_bags_frames_and_arguments_are_one_line_errors(tmp_path, capsys):
    write_tf_bag(tmp_path / "drive", 1.0, frames=1, optical=False)
    args = (tmp_path / "drive", "--ground-frame", FLOOR_FRAME)
    code, _, err = _mount(capsys, *args, "--image-topic", "/cam/image_raw")
    assert code == 2 and err.count("\n") == 1
    assert "no chain of static transforms from 'base_footprint' to 'cam_optical_frame'" in err
    code, _, err = _mount(capsys, tmp_path / "drive", "--ground-frame", "odom",
                          "--camera-frame", "camera_link")
    assert code == 2 and "--ground-frame odom: no transform on /tf_static names it" in err
    code, _, err = _mount(capsys, *args, "--image-topic", "/cam/camera_info")
    assert code == 2 and "no Image or CompressedImage topic of that name" in err
    code, _, err = _mount(capsys, *args, "--camera-frame", "x", "--tf-static-topic", "/tf")
    assert code == 2 and "has no topic '/tf'" in err and "TFMessage topics are: /tf_static" in err
    code, _, err = _mount(capsys, *args, "--camera-frame", "camera_link", "--out", tmp_path)
    assert code == 2 and "is a directory" in err
    code, _, err = _mount(capsys, *args, "--camera-frame", "camera_link", "--out",
                          tmp_path / "nope" / "m.yaml")
    assert code == 2 and err.count("\n") == 1 and "folder" in err and "does not exist" in err
    assert "only static transforms are read" in _mount(capsys, *args, "--camera-frame", "x")[2]
    # the camera's body frame given for its optical one: printed, with a warning
    write_tf_bag(tmp_path / "full", 1.0, frames=1)
    code, _, err = _mount(capsys, tmp_path / "full", "--ground-frame", FLOOR_FRAME,
                          "--camera-frame", "camera_link")
    assert code == 0 and "'camera_link' is not an optical frame" in err
    assert "'cam_optical_frame'" in err
    code, _, err = _mount(capsys, tmp_path / "full", "--ground-frame", "base_link",
                          "--camera-frame", "cam_optical_frame")
    assert code == 0 and "'base_link' hangs from 'base_footprint'" in err

    with pytest.raises(SystemExit) as exc:  # the camera must be named one way or the other
        main(["mount", *map(str, args)])
    assert exc.value.code == 2


def test_run_as_python_m_a_users_mistake_is_one_line_not_a_traceback(tmp_path):
    """`python -m depth_anything_ros.cli` runs the module as __main__: the commands' UserError
    must still be the one caught (exit 2, one line)."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "depth_anything_ros.cli", "mount",
                           str(tmp_path / "nope"), "--ground-frame", "a", "--camera-frame", "b"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert done.stderr == (f"depth-anything-ros mount: error: input bag {tmp_path / 'nope'} "
                           "does not exist\n")
