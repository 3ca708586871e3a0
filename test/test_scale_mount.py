"""The camera's mount from static transforms (scale/mount.py): a URDF-style chain
base_footprint → base_link → camera_link → camera_optical_frame gives the ground plane the
node's camera_height / camera_pitch_deg / camera_roll_deg would (GroundPlane.from_pitch_roll,
written independently), and unusable transforms are refused with the frames named."""
import math

import numpy as np
import pytest

from depth_anything_ros.scale import GroundPlane
from depth_anything_ros.scale.mount import CameraMount, StaticTransforms, quaternion_matrix

# camera_link (x forward, y left, z up) → its optical frame (x right, y down, z forward):
# URDF rpy (−90°, 0, −90°), the quaternion every ROS camera driver publishes
OPTICAL = (-0.5, 0.5, -0.5, 0.5)
IDENTITY = (0.0, 0.0, 0.0, 1.0)


def about(axis: str, degrees: float) -> tuple[float, float, float, float]:
    """Quaternion (x, y, z, w) of a rotation about one axis (right-handed)."""
    half = math.radians(degrees) / 2
    q = [0.0, 0.0, 0.0, math.cos(half)]
    q["xyz".index(axis)] = math.sin(half)
    return tuple(q)


def robot(pitch_deg=0.0, roll_deg=0.0, mast=0.3) -> StaticTransforms:
    """A wheeled robot: base_link 0.1 m above its footprint, the camera 0.2 m ahead on a mast,
    pitched down and rolled (URDF: positive pitch about y looks down, positive roll about x
    lowers the right side), then the optical frame."""
    tree = StaticTransforms()
    tree.add("base_footprint", "base_link", (0.0, 0.0, 0.1), IDENTITY)
    pitch, roll = quaternion_matrix(*about("y", pitch_deg)), quaternion_matrix(*about("x", roll_deg))
    q = _quaternion(pitch @ roll)
    tree.add("base_link", "camera_link", (0.2, 0.05, mast), q)
    tree.add("camera_link", "camera_optical_frame", (0.0, 0.0, 0.0), OPTICAL)
    return tree


def _quaternion(r: np.ndarray) -> tuple[float, float, float, float]:
    """(x, y, z, w) of a rotation matrix with trace > −1 (the angles used here)."""
    w = math.sqrt(1.0 + np.trace(r)) / 2
    return ((r[2, 1] - r[1, 2]) / (4 * w), (r[0, 2] - r[2, 0]) / (4 * w),
            (r[1, 0] - r[0, 1]) / (4 * w), w)


def test_the_optical_frame_quaternion_turns_forward_into_the_optical_axis():
    r = quaternion_matrix(*OPTICAL)  # columns: the optical axes in camera_link
    np.testing.assert_allclose(r[:, 2], [1, 0, 0], atol=1e-12)  # z forward = camera_link x
    np.testing.assert_allclose(r[:, 0], [0, -1, 0], atol=1e-12)  # x right = −y (y is left)
    np.testing.assert_allclose(r[:, 1], [0, 0, -1], atol=1e-12)  # y down = −z
    # a quaternion as published, rounded and not of unit length, is normalised
    np.testing.assert_allclose(quaternion_matrix(0.0, 0.0, 0.7072, 0.7072),
                               [[0, -1, 0], [1, 0, 0], [0, 0, 1]], atol=1e-9)


@pytest.mark.parametrize("pitch, roll", [(0.0, 0.0), (15.0, 0.0), (-10.0, 0.0), (0.0, 8.0),
                                         (25.0, -12.0)])
def test_a_urdf_chain_gives_the_ground_plane_of_its_pitch_and_roll(pitch, roll):
    mount = robot(pitch, roll).camera_mount("base_footprint", "camera_optical_frame")
    assert mount.camera_height == pytest.approx(0.4)  # base 0.1 + mast 0.3
    expected = GroundPlane.from_pitch_roll(0.4, pitch, roll).up
    np.testing.assert_allclose(mount.up, expected, atol=1e-9)
    assert f"camera_pitch_deg {pitch:.1f}, camera_roll_deg {roll:.1f}" in mount.describe()
    assert mount.describe().startswith("base_footprint → camera_optical_frame: camera_height "
                                       "0.400 m")


def test_an_offset_after_a_tilt_moves_the_camera_along_the_tilted_axes():
    # the optical centre 0.1 m forward of camera_link, which looks 30° down: 5 cm lower
    tree = robot(30.0)
    tree.add("camera_link", "camera_optical_frame", (0.1, 0.0, 0.0), OPTICAL)  # replaces
    mount = tree.camera_mount("base_footprint", "camera_optical_frame")
    assert mount.camera_height == pytest.approx(0.4 - 0.1 * math.sin(math.radians(30)))


def test_poses_between_branches_go_through_their_common_parent():
    tree = robot()
    tree.add("/base_link", "/laser", (-0.1, 0.0, 0.25), about("z", 90.0))  # slashes dropped
    pose = tree.pose("camera_optical_frame", "laser")
    # the laser's origin, seen from the camera: 0.3 m behind, 0.05 m below, 0.05 m right
    point = pose @ np.array([0.0, 0.0, 0.0, 1.0])
    np.testing.assert_allclose(point[:3], [0.05, 0.05, -0.3], atol=1e-12)
    # its x axis (pointing left of the robot after the 90° turn) is −x in the optical frame
    np.testing.assert_allclose(pose[:3, :3] @ [1, 0, 0], [-1, 0, 0], atol=1e-12)
    np.testing.assert_allclose(tree.pose("laser", "camera_optical_frame"), np.linalg.inv(pose),
                               atol=1e-12)


def test_unusable_transforms_are_refused_naming_the_frames():
    tree = robot()
    with pytest.raises(LookupError, match="'odom' not in any transform .*frames: base_footprint, "
                       "base_link, camera_link, camera_optical_frame"):
        tree.camera_mount("odom", "camera_optical_frame")
    tree.add("map", "odom", (0.0, 0.0, 0.0), IDENTITY)
    with pytest.raises(LookupError, match="from 'map' to 'camera_optical_frame': they are in "
                       "separate trees"):
        tree.camera_mount("map", "camera_optical_frame")
    with pytest.raises(LookupError, match="'camera_optical_frame' -0.100 m above "
                       "'base_footprint': the floor frame must lie on the floor"):
        robot(mast=-0.2).camera_mount("base_footprint", "camera_optical_frame")
    with pytest.raises(ValueError, match="not a rotation"):
        tree.add("a", "b", (0, 0, 0), (0, 0, 0, 0))
    with pytest.raises(ValueError, match="translation .* is not finite"):
        tree.add("a", "b", (0, float("nan"), 0), IDENTITY)
    with pytest.raises(ValueError, match="two different, non-empty frame names"):
        tree.add("a", "/a", (0, 0, 0), IDENTITY)
    tree.add("camera_optical_frame", "base_footprint", (0, 0, 0), IDENTITY)
    with pytest.raises(LookupError, match="loop"):
        tree.camera_mount("base_footprint", "camera_optical_frame")


@pytest.mark.parametrize("noise", [(1e-12, 1e-12), (-1e-12, 1e-12), (3e-13, -2e-12)])
def test_a_camera_looking_straight_down_is_given_roll_zero_not_a_gimbal_locked_angle(noise):
    # straight down, every roll is a turn about the vertical: rounding in the transforms must
    # not print (or write for the node) a roll of −135° or 180°
    mount = CameraMount("base_footprint", "camera_optical_frame", 1.0, (*noise, -1.0))
    assert mount.pitch_roll_deg() == (pytest.approx(90.0), 0.0)
    assert mount.describe().endswith("camera_pitch_deg 90.0, camera_roll_deg 0.0")


def test_a_cameras_body_frame_taken_for_its_optical_frame_is_pointed_out():
    tree = robot(30.0)
    assert tree.not_optical("camera_optical_frame") is None
    assert tree.not_optical("base_link") is None  # no optical child
    assert "'camera_link' is not an optical frame" in tree.not_optical("/camera_link")


def test_a_floor_frame_that_hangs_from_another_is_pointed_out():
    tree = robot()
    assert tree.not_on_floor("base_footprint") is None  # the root
    hint = tree.not_on_floor("/base_link")
    assert "'base_link' hangs from 'base_footprint' in the static transforms, +0.100 m" in hint
