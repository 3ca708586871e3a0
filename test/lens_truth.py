"""Ground truth for lens tests: OpenCV's own undistortion, never our code."""
from __future__ import annotations

import cv2
import numpy as np


def opencv_rays(k, d, u_full, v_full) -> np.ndarray:
    """(x/z, y/z) of full-resolution pixel coordinates (arrays of any shape, last axis added),
    by `cv2.undistortPoints` iterated to convergence (its default 5 iterations are up to 3e-3
    off in the corners of strong lenses)."""
    u_full, v_full = np.asarray(u_full, np.float64), np.asarray(v_full, np.float64)
    pts = np.stack([u_full, v_full], -1).reshape(-1, 1, 2)
    k, d, eye = np.reshape(k, (3, 3)).astype(np.float64), np.asarray(d, np.float64), np.eye(3)
    criteria = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 200, 1e-14)
    if hasattr(cv2, "undistortPointsIter"):  # OpenCV 4
        out = cv2.undistortPointsIter(pts, k, d, eye, eye, criteria)
    else:  # OpenCV 5
        out = cv2.undistortPoints(pts, k, d, None, eye, eye, criteria)
    return out.reshape(*u_full.shape, 2)
