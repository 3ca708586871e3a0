"""Up from an IMU's accelerometer (scale/gravity.py): the rotation into the optical frame, the
average that skips bumps, staleness, and the real Kinect accelerometer of TUM fr1_rpy against
its motion capture."""
import math

import numpy as np
import pytest
from tum_data import tum_dir

from depth_anything_ros.scale import GroundPlane
from depth_anything_ros.scale.gravity import (STANDARD_GRAVITY, GravityConfig, GravityFilter,
                                              pitch_roll_of_up, rotation_from_rpy,
                                              up_of_orientation)

# An IMU in a REP-103 body frame (x forward, y left, z up) on the camera: its axes seen from
# the optical frame (x right, y down, z forward).
BODY_IN_OPTICAL = np.array([[0.0, -1.0, 0.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]])


def angle_deg(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    return math.degrees(math.acos(np.clip(a @ b / np.linalg.norm(a) / np.linalg.norm(b), -1, 1)))


def test_rotation_follows_urdf_roll_pitch_yaw_about_fixed_axes():
    # roll first, then pitch, then yaw, all about the parent's axes: R = Rz·Ry·Rx
    r = rotation_from_rpy(90.0, 0.0, 90.0)
    np.testing.assert_allclose(r @ [1, 0, 0], [0, 1, 0], atol=1e-12)
    np.testing.assert_allclose(r @ [0, 1, 0], [0, 0, 1], atol=1e-12)
    np.testing.assert_allclose(rotation_from_rpy(0.0, 0.0, 180.0), np.diag([-1.0, -1.0, 1.0]),
                               atol=1e-12)
    np.testing.assert_allclose(rotation_from_rpy(0.0, -90.0, 90.0), BODY_IN_OPTICAL, atol=1e-12)


@pytest.mark.parametrize("pitch, roll", [(0.0, 0.0), (25.0, 0.0), (-10.0, 7.0), (60.0, -20.0)])
def test_pitch_and_roll_of_up_invert_the_ground_planes_normal(pitch, roll):
    up = GroundPlane.from_pitch_roll(1.0, pitch, roll).up
    assert pitch_roll_of_up(up) == pytest.approx((pitch, roll), abs=1e-9)


def test_a_still_camera_gives_up_through_the_imus_rotation_and_bumps_are_skipped():
    truth = GroundPlane.from_pitch_roll(1.0, 20.0, 5.0).up  # the camera looks 20° down
    reading = STANDARD_GRAVITY * BODY_IN_OPTICAL.T @ truth  # at rest it reads 1 g upward
    gravity = GravityFilter(GravityConfig(rotation_rpy_deg=(0.0, -90.0, 90.0),
                                          time_constant_s=0.05))
    rng = np.random.default_rng(0)
    for i in range(200):  # 1 s at 200 Hz with 0.2 m/s² of noise
        assert gravity.add(i / 200, reading + rng.normal(0, 0.2, 3))
    up, why = gravity.up(1.0)
    assert why is None and angle_deg(up, truth) < 1.0
    # a bump: 2.5 g sideways is no gravity, skipped, and the estimate stays
    assert not gravity.add(1.005, reading + [20.0, 0.0, 0.0])
    assert angle_deg(gravity.up(1.005)[0], truth) < 1.0
    # without the rotation the same readings point elsewhere entirely
    plain = GravityFilter(GravityConfig(time_constant_s=0.05))
    plain.add(0.0, reading)
    assert angle_deg(plain.up(0.0)[0], truth) > 60


def test_no_reading_a_stale_one_and_skipped_ones_are_each_said():
    gravity = GravityFilter(GravityConfig(max_age_s=0.5))
    up, why = gravity.up(3.0)
    assert up is None and why == "no IMU reading received yet"
    assert not gravity.add(3.0, [0.0, 0.0, 0.0])  # a driver sending zeros
    assert gravity.up(3.0)[1] == ("no IMU reading received yet; the latest reading was skipped: "
                                  "|a| = 0 m/s², not within 15% of 1 g (9.80665 m/s²)")
    assert not gravity.add(3.0, [np.nan, 9.8, 0.0])
    assert gravity.add(3.0, [0.0, -9.8, 0.0])
    assert gravity.up(3.5) == ((0.0, -1.0, 0.0), None)  # 0.5 s old: still used
    up, why = gravity.up(3.6)
    assert up is None and why == ("the nearest usable IMU reading is 0.60 s from the image "
                                  "stamp (at most 0.5 s)")


def test_a_frame_gets_the_average_as_of_its_own_stamp_not_a_later_one():
    # the camera tips from level to straight down at t = 1 s; the frame of t = 0.9 s is fitted
    # after inference, when readings up to 1.2 s have arrived
    gravity = GravityFilter(GravityConfig(time_constant_s=0.0))
    for i in range(121):
        t = i / 100
        gravity.add(t, [0.0, -9.8, 0.0] if t < 1.0 else [0.0, 0.0, -9.8])
    assert gravity.up(0.9) == ((0.0, -1.0, 0.0), None)
    assert gravity.up(1.2) == ((0.0, 0.0, -1.0), None)
    assert gravity.up(-0.3)[0] == (0.0, -1.0, 0.0)  # before the first reading: the oldest


def test_a_stamp_going_back_restarts_the_average():
    gravity = GravityFilter(GravityConfig(time_constant_s=10.0))  # a very slow average
    gravity.add(100.0, [0.0, -9.8, 0.0])
    gravity.add(100.1, [0.0, 0.0, -9.8])
    assert angle_deg(gravity.up(100.1)[0], [0, -1, 0]) < 1  # barely moved in 0.1 s
    gravity.add(5.0, [0.0, 0.0, -9.8])  # the bag played again
    assert gravity.up(5.0) == ((0.0, 0.0, -1.0), None)


def test_the_real_kinect_accelerometer_gives_the_motion_captures_floor_normal():
    """TUM fr1_rpy, the held-out last 20 % of its colour frames: up from the Kinect's own
    accelerometer (yaw 180°: it reads −x, −y, z of the optical frame) against the floor normal
    from the motion capture, at each frame's stamp. The camera is hand-held and turning fast."""
    from depth_anything_ros.training.data.tum import TumAccelerometer, TumDataset, TumFloor

    accelerometer, floors = TumAccelerometer(tum_dir()), TumFloor(tum_dir())
    stamps = [float(t) for t in TumDataset(tum_dir(), split="test").timestamps]
    errors = {}
    for name, config in (("kinect", GravityConfig(rotation_rpy_deg=(0.0, 0.0, 180.0))),
                         ("no rotation", GravityConfig())):
        normals = accelerometer.floor_normals(stamps, config)
        assert None not in normals
        errors[name] = [angle_deg(up, floors.at(stamp)[1]) for up, stamp in zip(normals, stamps)]
    kinect = np.array(errors["kinect"])
    assert len(kinect) >= 60
    assert np.median(kinect) < 7.0 and np.percentile(kinect, 90) < 12.0, kinect
    assert np.median(errors["no rotation"]) > 60


def imu_message(up_in_imu, acceleration):
    """A sensor_msgs/Imu whose orientation puts world z along `up_in_imu` (a rotation about
    the IMU's x axis, so `up_in_imu` must have x = 0) and whose accelerometer reads
    `acceleration`."""
    from sensor_msgs.msg import Imu

    msg = Imu()
    angle = math.atan2(up_in_imu[1], up_in_imu[2])
    msg.orientation.x, msg.orientation.w = math.sin(angle / 2), math.cos(angle / 2)
    msg.linear_acceleration.x, msg.linear_acceleration.y, msg.linear_acceleration.z = (
        float(v) for v in acceleration)
    return msg


def test_the_orientation_source_does_not_lean_while_the_camera_accelerates():
    # A camera pitched 30° down, its IMU in the optical frame's axes, speeding up at 3 m/s²
    # along its heading: the accelerometer's "up" leans ~17° back; an IMU filter's orientation
    # still says where up is.
    true_up = np.array(GroundPlane.from_pitch_roll(1.0, 30.0).up)
    heading = np.array([0.0, 0.0, 1.0]) - true_up * true_up[2]  # optical z, made level
    reading = STANDARD_GRAVITY * true_up + 3.0 * heading / np.linalg.norm(heading)
    msg = imu_message(true_up, reading)
    by_source = {}
    for source in ("acceleration", "orientation"):
        gravity = GravityFilter(GravityConfig(source=source))
        assert gravity.add_imu(10.0, msg)
        by_source[source], why = gravity.up(10.0)
        assert why is None
    assert angle_deg(by_source["acceleration"], true_up) > 15.0
    assert angle_deg(by_source["orientation"], true_up) < 1e-6
    # world z in the frame of a quaternion: a quarter turn about y puts it along −x
    np.testing.assert_allclose(up_of_orientation(0.0, math.sqrt(0.5), 0.0, math.sqrt(0.5)),
                               [-1.0, 0.0, 0.0], atol=1e-12)


def test_a_message_without_a_usable_orientation_is_skipped_and_said():
    gravity = GravityFilter(GravityConfig(source="orientation"))
    msg = imu_message((0.0, -1.0, 0.0), (0.0, -STANDARD_GRAVITY, 0.0))
    msg.orientation_covariance[0] = -1.0  # REP-145: "no orientation"
    assert not gravity.add_imu(1.0, msg)
    assert "says it has no orientation (orientation_covariance[0] = -1" in gravity.up(1.0)[1]
    msg.orientation_covariance[0] = 0.0
    msg.orientation.x = msg.orientation.y = msg.orientation.z = msg.orientation.w = 0.0
    assert not gravity.add_imu(1.0, msg)
    assert "is not a unit quaternion (norm 0)" in gravity.up(1.0)[1]
    msg.orientation.w = 1.0  # level, and the accelerometer is never read
    msg.linear_acceleration.y = 0.0
    assert gravity.add_imu(1.0, msg)
    np.testing.assert_allclose(gravity.up(1.0)[0], [0.0, 0.0, 1.0], atol=1e-12)
    assert "IMU source 'attitude'" in GravityConfig(source="attitude").problem()
