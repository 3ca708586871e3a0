"""The one K/P rescaling rule shared by the node and the bag tool (geometry.camera_model)."""
import numpy as np

from depth_anything_ros.geometry.camera import intrinsics_from_matrices
from depth_anything_ros.geometry.camera_model import Calibration, resolve_camera

K = [500.0, 0.0, 320.0, 0.0, 520.0, 240.0, 0.0, 0.0, 1.0]
P = [500.0, 0.0, 320.0, -25.0, 0.0, 520.0, 240.0, 5.0, 0.0, 0.0, 1.0, 0.0]


def calibration(width, height):
    return Calibration(width, height, "plumb_bob", (0.0,) * 5, tuple(K), p=tuple(P))


def test_halving_the_image_halves_focal_lengths_principal_point_and_baseline_terms():
    camera = resolve_camera(calibration(640, 480), 320, 240, "K")
    np.testing.assert_allclose(camera.k, [250, 0, 160, 0, 260, 120, 0, 0, 1])
    np.testing.assert_allclose(camera.p, [250, 0, 160, -12.5, 0, 260, 120, 2.5, 0, 0, 1, 0])
    intr = intrinsics_from_matrices(camera.k, camera.p, 320, 240, use_rectified=False)
    assert (intr.fx, intr.fy, intr.cx, intr.cy) == (250, 260, 160, 120)
    info = camera.info_fields()
    assert (info.width, info.height) == (320, 240)


def test_same_size_or_unknown_source_size_leaves_the_matrices_untouched():
    for src in ((640, 480), (0, 0)):
        camera = resolve_camera(calibration(*src), 640, 480, "K")
        assert list(camera.k) == K and list(camera.p) == P
