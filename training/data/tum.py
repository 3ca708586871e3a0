"""TUM RGB-D sequences (Sturm et al., IROS 2012; CC BY 4.0) as a labeled dataset, split by time.

``tum:<folder>?split=train|test|all&every=k``. The folder is the standard TUM layout: ``rgb.txt``
and ``depth.txt`` (``timestamp filename``), 16-bit depth PNGs with 5000 units per metre (0 = no
measurement). Colour and depth frames are paired by nearest timestamp within 20 ms (the
dataset's own ``associate.py`` default).

**Split by time.** ``train`` is every pair whose colour stamp lies in the first 80 % of the
sequence's time span, ``test`` the last 20 %: consecutive frames of one sequence are nearly
identical, so a random split would test on frames the model was trained on. Nothing of the
test tail is ever in ``split=train``.

**Intrinsics.** The colour camera's calibration (freiburg1: fx 517.3, fy 516.5, cx 318.6,
cy 255.3), not the 525/319.5/239.5 defaults: the depth maps are registered pixel for pixel to
the colour image, so what matters for the focal correction is the lens that formed the colour
image the network sees (the defaults differ by 1.5 % in fx and only describe how the driver
re-projected depth). The colour images are **not undistorted** (plumb_bob, ≈ 6 % radial at the
corners); the pairs are used as recorded — the network meets raw images on a robot too, and
per-pixel depth stays aligned with the pixel it belongs to — while point clouds from them need
K + D (``TUM_FR1_DISTORTION``).

``folder`` may be ``default``: ``$DAR_TUM_DIR``, else ``<repo>/../shared/data/tum_fr1_rpy``.
"""
from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from depth_anything_ros.conversions.depth_files import DepthFileError, read_depth_file
from depth_anything_ros.training.data.samples import DepthDataset, Sample, make_sample

TUM_SPLITS = ("train", "test", "all")
TRAIN_FRACTION = 0.8
DEPTH_UNITS_PER_METRE = 5000.0
MAX_PAIR_GAP_S = 0.02
TUM_DIR_ENV = "DAR_TUM_DIR"
# freiburg1 colour camera, 640×480, from the dataset's documentation (shared data README).
TUM_FR1_INTRINSICS = (517.3, 516.5, 318.6, 255.3)
TUM_FR1_DISTORTION = (0.2624, -0.9531, -0.0054, 0.0026, 1.1633)  # k1 k2 p1 p2 k3 (plumb_bob)
# The driver registered depth to the colour image with its default pinhole: the dataset's
# advice for back-projecting depth pixels (e.g. to find which of them lie on the floor).
TUM_DEPTH_REGISTRATION_INTRINSICS = (525.0, 525.0, 319.5, 239.5)
# The Kinect accelerometer's frame in the colour camera's optical frame (URDF roll, pitch, yaw
# in degrees): it reads −x, −y, z (TumAccelerometer).
KINECT_ACCELEROMETER_RPY = (0.0, 0.0, 180.0)


class TumDatasetError(ValueError):
    """A TUM folder is malformed; the message names the file and the reason."""


def default_tum_dir() -> Path:
    """``$DAR_TUM_DIR`` if set, else ``<repo>/../shared/data/tum_fr1_rpy``."""
    env = os.environ.get(TUM_DIR_ENV)
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "tum_fr1_rpy"


def tum_folder(folder: str | Path) -> Path:
    """A sequence folder as specs name it: "default" means `default_tum_dir()`."""
    return default_tum_dir() if str(folder) == "default" else Path(folder)


def read_file_list(path: Path) -> list[tuple[float, str]]:
    """``timestamp filename`` lines of a TUM list (comments skipped), sorted by time."""
    if not path.is_file():
        raise TumDatasetError(f"{path}: no such file (a TUM sequence needs rgb.txt and depth.txt)")
    entries = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        try:
            entries.append((float(parts[0]), parts[1]))
        except (ValueError, IndexError):
            raise TumDatasetError(
                f"{path}:{number}: expected 'timestamp filename', got {line!r}"
            ) from None
    return sorted(entries)


def associate(
    rgb: list[tuple[float, str]], depth: list[tuple[float, str]], max_gap: float = MAX_PAIR_GAP_S
) -> list[tuple[float, str, str]]:
    """(rgb stamp, rgb file, depth file) pairs, each frame used once, closest stamps first."""
    depth_stamps = np.array([t for t, _ in depth], dtype=np.float64)
    candidates = []
    for i, (stamp, _) in enumerate(rgb):
        lo = int(np.searchsorted(depth_stamps, stamp - max_gap, side="left"))
        hi = int(np.searchsorted(depth_stamps, stamp + max_gap, side="right"))
        candidates += [(abs(stamp - depth_stamps[j]), i, j) for j in range(lo, hi)]
    used_rgb, used_depth, pairs = set(), set(), []
    for _gap, i, j in sorted(candidates):
        if i not in used_rgb and j not in used_depth:
            used_rgb.add(i)
            used_depth.add(j)
            pairs.append((rgb[i][0], rgb[i][1], depth[j][1]))
    return sorted(pairs)


def split_pairs(pairs: list[tuple[float, str, str]], split: str) -> list[tuple[float, str, str]]:
    """The pairs of ``split`` (time-sorted input): train = stamps in the first 80 % of the span."""
    if split not in TUM_SPLITS:
        raise ValueError(f"TUM split must be one of {TUM_SPLITS}, got {split!r}")
    if split == "all" or not pairs:
        return list(pairs)
    start, end = pairs[0][0], pairs[-1][0]
    cut = start + TRAIN_FRACTION * (end - start)
    if split == "train":
        return [p for p in pairs if p[0] < cut]
    return [p for p in pairs if p[0] >= cut]


def read_depth_png(path: Path) -> np.ndarray:
    """A TUM depth PNG as float32 metres, NaN where the sensor gave nothing (0)."""
    try:
        return read_depth_file(path, DEPTH_UNITS_PER_METRE)
    except DepthFileError as exc:
        raise TumDatasetError(str(exc)) from exc


class TumDataset(DepthDataset):
    """Labeled (RGB, metric depth) pairs of one TUM RGB-D sequence; see the module docstring."""

    labeled = True

    def __init__(
        self,
        folder: str | Path,
        split: str = "all",
        every: int = 1,
        intrinsics: tuple[float, float, float, float] | None = None,
    ) -> None:
        self.folder = tum_folder(folder)
        if not self.folder.is_dir():
            raise TumDatasetError(
                f"{self.folder}: no such TUM sequence folder"
                + (f" (set ${TUM_DIR_ENV})" if str(folder) == "default" else "")
            )
        if every < 1:
            raise ValueError(f"every must be >= 1, got {every}")
        if intrinsics is None:
            name = self.folder.resolve().name.lower()
            if "fr1" not in name and "freiburg1" not in name:
                raise TumDatasetError(
                    f"{self.folder}: not recognisably a freiburg1 sequence; pass the colour "
                    "camera's K=fx,fy,cx,cy"
                )
            intrinsics = TUM_FR1_INTRINSICS
        self.intrinsics = np.asarray(intrinsics, dtype=np.float32)
        pairs = associate(
            read_file_list(self.folder / "rgb.txt"), read_file_list(self.folder / "depth.txt")
        )
        if not pairs:
            raise TumDatasetError(f"{self.folder}: no rgb/depth pairs within {MAX_PAIR_GAP_S} s")
        self.split, self.every = split, int(every)
        self.pairs = split_pairs(pairs, split)[:: self.every]
        self.spec = f"tum:{folder}?split={split}&every={every}"

    @property
    def timestamps(self) -> np.ndarray:
        """Colour stamps (s) of the frames of this dataset, in order."""
        return np.array([p[0] for p in self.pairs], dtype=np.float64)

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> Sample:
        stamp, rgb_name, depth_name = self.pairs[self._check_index(index)]
        rgb_path = self.folder / rgb_name
        bgr = cv2.imread(str(rgb_path), cv2.IMREAD_COLOR)
        if bgr is None:
            raise TumDatasetError(f"{rgb_path}: cannot read as an image")
        depth = read_depth_png(self.folder / depth_name)
        if depth.shape != bgr.shape[:2]:
            raise TumDatasetError(
                f"{self.folder / depth_name}: depth {depth.shape} does not match "
                f"{rgb_path} {bgr.shape[:2]}"
            )
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        return make_sample(rgb, f"tum-{stamp:.6f}", depth, self.intrinsics)


def _timed_rows(path: Path, what: str, columns: str) -> np.ndarray:
    """A TUM ``timestamp ...`` table (``#`` comments), sorted by time; errors name the file,
    what it holds and the columns expected."""
    try:
        rows = np.loadtxt(path, comments="#", ndmin=2)
    except (OSError, ValueError) as error:
        raise TumDatasetError(f"{path}: cannot read the {what} ({error})") from None
    if rows.shape[1] != len(columns.split()) or not len(rows):
        raise TumDatasetError(f"{path}: expected '{columns}' rows")
    return rows[np.argsort(rows[:, 0])]


class TumFloor:
    """Where the floor is for each colour frame, from ``groundtruth.txt`` (motion capture,
    ``timestamp tx ty tz qx qy qz qw``: the colour camera's optical centre in the mocap world).

    The mocap world of freiburg1 has z up and the floor at z = 0 (checked on fr1_rpy: the
    sensor-depth points of frames that see the floor lie at z = 0.00), so a frame's camera
    height is tz and the floor's upward normal in the optical frame is the world z axis seen
    from the camera (the third row of the camera-to-world rotation): what a known mounting
    height plus an IMU's gravity would give a robot.
    """

    def __init__(self, folder: str | Path) -> None:
        self.path = tum_folder(folder) / "groundtruth.txt"
        self.rows = _timed_rows(self.path, "poses", "timestamp tx ty tz qx qy qz qw")

    def at(self, stamp: float) -> tuple[float, tuple[float, float, float]] | None:
        """(camera height m, upward floor normal in the optical frame) at the pose nearest to
        `stamp`, or None when no pose lies within MAX_PAIR_GAP_S."""
        i = int(np.clip(np.searchsorted(self.rows[:, 0], stamp), 1, len(self.rows) - 1))
        i = i - 1 if abs(self.rows[i - 1, 0] - stamp) <= abs(self.rows[i, 0] - stamp) else i
        if abs(self.rows[i, 0] - stamp) > MAX_PAIR_GAP_S:
            return None
        x, y, z, w = self.rows[i, 4:8] / np.linalg.norm(self.rows[i, 4:8])
        up = np.array([2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)])
        return float(self.rows[i, 3]), tuple(float(v) for v in up / np.linalg.norm(up))


class TumAccelerometer:
    """The Kinect's accelerometer, ``accelerometer.txt`` (``timestamp ax ay az``, m/s²): what
    an IMU gives the node's ``ground_normal: imu``. It reads −x, −y, z of the colour camera's
    optical frame (fitted to the motion capture), so its mounting is yaw 180°
    (`KINECT_ACCELEROMETER_RPY`)."""

    def __init__(self, folder: str | Path) -> None:
        self.rows = _timed_rows(tum_folder(folder) / "accelerometer.txt", "accelerometer",
                                "timestamp ax ay az")

    def floor_normals(self, stamps, config=None) -> list:
        """The floor's upward normal in the optical frame at each stamp (in time order), or
        None with no usable reading: every reading up to a stamp fed to the node's
        `GravityFilter` (default: the Kinect's mounting, the node's smoothing)."""
        from depth_anything_ros.scale.gravity import GravityConfig, GravityFilter

        gravity = GravityFilter(config or GravityConfig(rotation_rpy_deg=KINECT_ACCELEROMETER_RPY))
        i, out = 0, []
        for stamp in stamps:
            while i < len(self.rows) and self.rows[i, 0] <= stamp:
                gravity.add(self.rows[i, 0], self.rows[i, 1:])
                i += 1
            out.append(gravity.up(stamp)[0])
        return out
