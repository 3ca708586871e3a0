"""What every picture test checks: the one colour convention (README § Pictures).

Near is the warm end of the default colormap (DA2's Spectral_r): ColorBrewer #9e0142, dark red;
far is its cold end #5e4fa2, violet-blue. Written out here as plain numbers, so a changed
convention fails the tests instead of silently following the code.
"""
from __future__ import annotations

import numpy as np

NEAR_BGR = (0x42, 0x01, 0x9E)  # #9e0142
FAR_BGR = (0xA2, 0x4F, 0x5E)  # #5e4fa2
# viridis ends (cv2 COLORMAP_VIRIDIS): 0 error → dark purple, ≥ ERROR_VMAX → yellow
ERROR_LOW_BGR = (84, 1, 68)
ERROR_HIGH_BGR = (37, 231, 253)


def assert_colour(pixel, expected, tolerance: int = 2, what: str = "pixel") -> None:
    pixel = np.asarray(pixel, dtype=int)
    assert np.abs(pixel - np.asarray(expected)).max() <= tolerance, \
        f"{what}: {tuple(pixel)} is not {tuple(expected)}"


def assert_near_red_far_blue(depth_bgr: np.ndarray, depth: np.ndarray, what: str = "") -> None:
    """The nearest pixel of ``depth`` is drawn dark red and the farthest violet-blue.

    Holds for any range rule that clips its ends (the 2nd/98th percentile or a fixed range
    inside the values): the extreme pixels sit at or beyond the range's ends.
    """
    near = np.unravel_index(np.nanargmin(depth), depth.shape)
    far = np.unravel_index(np.nanargmax(depth), depth.shape)
    assert_colour(depth_bgr[near], NEAR_BGR, what=f"{what} nearest pixel {near}")
    assert_colour(depth_bgr[far], FAR_BGR, what=f"{what} farthest pixel {far}")


def panel(picture: np.ndarray, height: int, width: int, index: int, factor: int = 1,
          left: int = 0) -> np.ndarray:
    """Panel ``index`` (0 = leftmost, each ``width·factor`` wide, starting at column ``left``)
    of a titled preview row, sampled back to ``height``×``width`` (block centres)."""
    top = picture.shape[0] - height * factor  # the title strip is above the panels
    rows = top + np.arange(height) * factor + factor // 2
    cols = left + index * width * factor + np.arange(width) * factor + factor // 2
    return picture[np.ix_(rows, cols)]
