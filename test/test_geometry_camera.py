"""The one K/P rescaling rule shared by the node and the bag tool."""
import numpy as np

from depth_anything_ros.geometry.camera import intrinsics_from_matrices, scale_camera_matrices

K = [500.0, 0.0, 320.0, 0.0, 520.0, 240.0, 0.0, 0.0, 1.0]
P = [500.0, 0.0, 320.0, -25.0, 0.0, 520.0, 240.0, 5.0, 0.0, 0.0, 1.0, 0.0]


def test_halving_the_image_halves_focal_lengths_principal_point_and_baseline_terms():
    k, p, scaled = scale_camera_matrices(K, P, 640, 480, 320, 240)
    assert scaled
    np.testing.assert_allclose(k, [250, 0, 160, 0, 260, 120, 0, 0, 1])
    np.testing.assert_allclose(p, [250, 0, 160, -12.5, 0, 260, 120, 2.5, 0, 0, 1, 0])
    intr = intrinsics_from_matrices(k, p, 320, 240, use_rectified=False)
    assert (intr.fx, intr.fy, intr.cx, intr.cy) == (250, 260, 160, 120)


def test_same_size_or_unknown_source_size_leaves_the_matrices_untouched():
    for src in ((640, 480), (0, 0)):
        k, p, scaled = scale_camera_matrices(K, P, *src, 640, 480)
        assert k == K and p == P and not scaled
