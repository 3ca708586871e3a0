"""Real frames of TUM RGB-D freiburg1_rpy (CC BY 4.0; Sturm et al., IROS 2012) for tests.

The data lives outside the repository: `$DAR_TUM_DIR`, else `../shared/data/tum_fr1_rpy` beside
the repository root (where CI has it). Calibration of the colour camera from the dataset's
README: plumb_bob, 640×480, not undistorted.
"""
from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

TUM_K = [517.3, 0.0, 318.6, 0.0, 516.5, 255.3, 0.0, 0.0, 1.0]
TUM_D = [0.2624, -0.9531, -0.0054, 0.0026, 1.1633]
DEPTH_SCALE = 5000.0  # uint16 / 5000 = metres, 0 = no measurement


def tum_dir() -> Path:
    env = os.environ.get("DAR_TUM_DIR")
    repo = Path(__file__).resolve().parents[1]
    root = Path(env) if env else repo / ".." / "shared" / "data" / "tum_fr1_rpy"
    if not (root / "rgb.txt").is_file():
        pytest.skip(f"needs the real TUM RGB-D frames (DAR_TUM_DIR or {root})")
    return root


def _listing(root: Path, name: str) -> list[tuple[float, str]]:
    rows = [line.split() for line in (root / name).read_text().splitlines()
            if line.strip() and not line.startswith("#")]
    return [(float(stamp), path) for stamp, path in rows]


def tum_frames(indices) -> list[tuple[float, np.ndarray, np.ndarray]]:
    """(timestamp, RGB uint8 640×480, depth float32 metres with NaN for no measurement)."""
    root = tum_dir()
    rgb_rows, depth_rows = _listing(root, "rgb.txt"), _listing(root, "depth.txt")
    frames = []
    for i in indices:
        stamp, rgb_path = rgb_rows[i]
        bgr = cv2.imread(str(root / rgb_path), cv2.IMREAD_COLOR)
        raw = cv2.imread(str(root / depth_rows[i][1]), cv2.IMREAD_UNCHANGED).astype(np.float32)
        depth = np.where(raw > 0, raw / DEPTH_SCALE, np.nan).astype(np.float32)
        frames.append((stamp, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), depth))
    return frames
