"""Which way is up, from an IMU's accelerometer (or its orientation estimate): the floor's
normal for the ground plane on a camera that tilts (a hand-held or legged robot's camera, a
pan-tilt head).

At rest an accelerometer reads the specific force, about 9.81 m/s² pointing *up* (REP-145);
while the camera accelerates it reads that plus the acceleration. So readings are averaged
over time (an exponential average with a time constant, as the scale filter does) and a
reading whose magnitude is far from 1 g (a bump, a sharp turn) is skipped. The IMU's axes are
turned into the camera's optical frame (REP-103: x right, y down, z forward) by a fixed
rotation, given as the IMU frame's roll/pitch/yaw in the optical frame (URDF's convention,
R = Rz(yaw)·Ry(pitch)·Rx(roll)): all zero for an IMU published in the optical frame's axes
(RealSense's `*_imu_optical_frame`); yaw 180° for the Kinect of TUM RGB-D, whose
accelerometer reads (−x, −y, z) of the optical frame (measured against its motion capture:
test_scale_gravity.py).

An IMU driver or filter (an AHRS, imu_filter_madgwick) may also publish `orientation`: the IMU
frame's attitude in a world frame whose z points up (REP-103's ENU, REP-145). Up in the IMU
frame is then that rotation's inverse applied to world z, which, unlike the accelerometer, does
not lean while the camera accelerates. `GravityConfig.source = "orientation"` uses it (scaled
to 1 g, so the same average and rotation apply); a message that says it has no orientation
(`orientation_covariance[0] = -1`, REP-145) or carries no unit quaternion is skipped, with the
reason. Not the default: a driver that fills neither leaves the identity quaternion, which
would read as "level" whatever the camera does.
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["IMU_SOURCES", "STANDARD_GRAVITY", "GravityConfig", "GravityFilter", "imu_reading",
           "pitch_roll_of_up", "rotation_from_rpy", "up_of_orientation"]

STANDARD_GRAVITY = 9.80665  # m/s²
HISTORY = 2048  # averaged states kept, so a frame gets the one of its own stamp (2 s at 1 kHz)
IMU_SOURCES = ("acceleration", "orientation")  # which field of sensor_msgs/Imu says where up is


def rotation_from_rpy(roll_deg: float, pitch_deg: float, yaw_deg: float) -> np.ndarray:
    """3×3 rotation of a frame given by URDF roll/pitch/yaw (fixed axes x, then y, then z):
    v_parent = R · v_child."""
    r, p, y = (math.radians(a) for a in (roll_deg, pitch_deg, yaw_deg))
    rx = np.array([[1, 0, 0], [0, math.cos(r), -math.sin(r)], [0, math.sin(r), math.cos(r)]])
    ry = np.array([[math.cos(p), 0, math.sin(p)], [0, 1, 0], [-math.sin(p), 0, math.cos(p)]])
    rz = np.array([[math.cos(y), -math.sin(y), 0], [math.sin(y), math.cos(y), 0], [0, 0, 1]])
    return rz @ ry @ rx


def up_of_orientation(x: float, y: float, z: float, w: float) -> np.ndarray:
    """World z (up) in the frame whose attitude is the unit quaternion (x, y, z, w): the third
    row of its rotation matrix (v_world = R · v_frame)."""
    return np.array([2.0 * (x * z - w * y), 2.0 * (y * z + w * x), 1.0 - 2.0 * (x * x + y * y)])


def imu_reading(msg: Any, source: str = "acceleration") -> tuple[np.ndarray | None, str | None]:
    """(up-ish vector in the IMU frame, m/s², None) from a sensor_msgs/Imu message (rclpy's or
    a bag's), or (None, why it has none): its accelerometer, or its orientation scaled to 1 g."""
    if source == "acceleration":
        a = msg.linear_acceleration
        return np.array([float(a.x), float(a.y), float(a.z)]), None
    if float(msg.orientation_covariance[0]) == -1.0:
        return None, ("the IMU message says it has no orientation (orientation_covariance[0] "
                      "= -1, REP-145): read its accelerometer instead (imu_orientation false, "
                      "no --imu-orientation)")
    q = msg.orientation
    quaternion = (float(q.x), float(q.y), float(q.z), float(q.w))
    norm = math.sqrt(sum(v * v for v in quaternion))
    if not abs(norm - 1.0) <= 0.01:  # NaN fails too
        return None, (f"the IMU message's orientation {quaternion} is not a unit quaternion "
                      f"(norm {norm:.3g})")
    return STANDARD_GRAVITY * up_of_orientation(*(v / norm for v in quaternion)), None


def pitch_roll_of_up(up: Any) -> tuple[float, float]:
    """(pitch, roll) in degrees of a camera whose floor normal in its optical frame is `up`:
    the inverse of `GroundPlane.from_pitch_roll` (pitch positive looking down)."""
    x, y, z = (float(v) for v in up)
    return (math.degrees(math.asin(max(-1.0, min(1.0, -z)))),
            math.degrees(math.atan2(-x, -y)))


@dataclass(frozen=True)
class GravityConfig:
    rotation_rpy_deg: tuple[float, float, float] = (0.0, 0.0, 0.0)  # IMU frame in optical
    # averaging of readings; 0 = the latest reading as is. Chosen on TUM fr1_rpy's first 80 %
    # (a hand-held Kinect turning fast; angle to the motion capture's floor normal, median /
    # 90th percentile: 0 s 4.9° / 10.2°, 0.05 s 4.6° / 7.2°, 0.1 s 5.7° / 9.1°, 0.2 s
    # 9.2° / 14.4°: longer lags the turns). A camera that tilts slowly may smooth more.
    time_constant_s: float = 0.05
    tolerance: float = 0.15  # readings whose |a| is more than this share away from 1 g skip
    max_age_s: float = 0.5  # the average must have a reading this close to the image stamp
    source: str = "acceleration"  # or "orientation" (IMU_SOURCES; see the module docstring)

    @classmethod
    def from_options(cls, rotation_rpy_deg: Any, time_constant_s: float,
                     orientation: bool) -> GravityConfig:
        """From the node's parameters and the bag's flags alike (imu_roll/pitch/yaw,
        imu_smoothing, imu_orientation: a flag for the `source`)."""
        return cls(rotation_rpy_deg=tuple(float(a) for a in rotation_rpy_deg),
                   time_constant_s=time_constant_s,
                   source="orientation" if orientation else "acceleration")

    def problem(self) -> str | None:
        """Why this configuration cannot be used (one line), or None."""
        if not all(math.isfinite(a) for a in self.rotation_rpy_deg):
            return f"IMU rotation {self.rotation_rpy_deg} deg: must be finite"
        if not (math.isfinite(self.time_constant_s) and self.time_constant_s >= 0):
            return f"IMU smoothing {self.time_constant_s} s: must be ≥ 0"
        if self.source not in IMU_SOURCES:
            return f"IMU source {self.source!r}: use one of {', '.join(IMU_SOURCES)}"
        return None


class GravityFilter:
    """The averaged accelerometer reading (IMU frame) over time; `up` turns the average as it
    was at an image's stamp into the floor's upward normal in the optical frame. (A frame is
    fitted after inference, when the IMU has already sent newer readings: a camera turning
    meanwhile would otherwise get the floor of a later moment.)"""

    def __init__(self, config: GravityConfig = GravityConfig()) -> None:
        self.config = config
        # (stamp s, averaged reading) after each used reading, newest last
        self._history: deque[tuple[float, np.ndarray]] = deque(maxlen=HISTORY)
        # why the newest reading was skipped: a reason, or the |a| (m/s²) of one too far from
        # 1 g, worded only when asked (readings arrive at up to 1 kHz)
        self._skipped: str | float | None = None

    def add_imu(self, stamp_s: float, msg: Any) -> bool:
        """Feed one sensor_msgs/Imu message (its `config.source` field); False when skipped."""
        reading, why = imu_reading(msg, self.config.source)
        if reading is None:
            self._skipped = why
            return False
        return self.add(stamp_s, reading)

    def add(self, stamp_s: float, acceleration: Any) -> bool:
        """Feed one reading (m/s², IMU frame); False when it was skipped (not finite, or its
        magnitude not near 1 g). A stamp earlier than the last one restarts the average (a
        bag played again, sim time reset)."""
        a = np.asarray(acceleration, dtype=np.float64).reshape(3)
        norm = float(np.linalg.norm(a))
        if not (math.isfinite(stamp_s) and math.isfinite(norm)) or \
                abs(norm - STANDARD_GRAVITY) > self.config.tolerance * STANDARD_GRAVITY:
            self._skipped = norm
            return False
        self._skipped = None
        tau = self.config.time_constant_s
        if self._history and stamp_s < self._history[-1][0]:
            self._history.clear()
        mean = a
        if self._history and tau > 0:
            last_s, last = self._history[-1]
            mean = last + (1.0 - math.exp(-(stamp_s - last_s) / tau)) * (a - last)
        self._history.append((stamp_s, mean))
        return True

    def up(self, stamp_s: float) -> tuple[tuple[float, float, float] | None, str | None]:
        """(unit floor normal in the optical frame, None), or (None, why there is none)."""
        if not self._history:
            why = "no IMU reading received yet"
            return None, why + self._skipped_note()
        # the average as of the frame's stamp: the newest state not after it (else the oldest)
        at, mean = next((state for state in reversed(self._history) if state[0] <= stamp_s),
                        self._history[0])
        gap = abs(stamp_s - at)
        if gap > self.config.max_age_s:
            return None, (f"the nearest usable IMU reading is {gap:.2f} s from the image stamp "
                          f"(at most {self.config.max_age_s:g} s)" + self._skipped_note())
        up = rotation_from_rpy(*self.config.rotation_rpy_deg) @ mean
        norm = float(np.linalg.norm(up))
        if not norm > 0:  # opposite readings averaged out: no direction
            return None, "the averaged IMU readings cancel out: no direction of gravity"
        return tuple(float(v) for v in up / norm), None

    def _skipped_note(self) -> str:
        why = self._skipped
        if why is None:
            return ""
        if not isinstance(why, str):
            why = (f"|a| = {why:.3g} m/s², not within {self.config.tolerance:.0%} of 1 g "
                   f"({STANDARD_GRAVITY} m/s²)")
        return f"; the latest reading was skipped: {why}"
