"""depth/colored over DDS: the one colour convention, and the optional scale bar."""
import numpy as np
from picture_helpers import FAR_BGR, NEAR_BGR
from rclpy.parameter import Parameter
from ros_helpers import (  # noqa: F401 — fixtures
    harness_factory,
    make_image,
    random_rgb,
    ros_context,
    save_plane_model,
    tiny_weights,
)

from depth_anything_ros.scale_bar import scale_bar


def received_bgr(msg) -> np.ndarray:
    assert msg.encoding == "bgr8" and msg.step == msg.width * 3
    return np.frombuffer(msg.data, np.uint8).reshape(msg.height, msg.width, 3)


def test_colored_depth_is_near_red_far_blue_by_default_and_can_carry_a_scale_bar(
        harness_factory, tmp_path):
    # A real model whose depth is 2 m everywhere: nearer than a 2.5–5 m range, farther than 0.5–1.5.
    weights = save_plane_model(tmp_path / "plane.safetensors", depth_m=2.0)
    h = harness_factory({"publish_colored": True, "colored_min": 2.5, "colored_max": 5.0},
                        weights=weights, subscribe=("colored",))
    h.image_pub.publish(make_image(random_rgb(), stamp=(80, 0)))
    near = received_bgr(h.wait_stamp("colored", (80, 0)))
    assert near.shape == (24, 32, 3)  # no bar unless asked
    assert (near == np.array(NEAR_BGR, np.uint8)).all()

    result = h.node.set_parameters([Parameter("colored_min", value=0.5),
                                    Parameter("colored_max", value=1.5),
                                    Parameter("colored_scale_bar", value=True)])
    assert all(r.successful for r in result)
    h.image_pub.publish(make_image(random_rgb(), stamp=(81, 0)))
    far = received_bgr(h.wait_stamp("colored", (81, 0)))
    bar = scale_bar(24, 0.5, 1.5)
    assert far.shape == (24, 32 + bar.shape[1], 3)
    assert (far[:, :32] == np.array(FAR_BGR, np.uint8)).all()
    np.testing.assert_array_equal(far[:, 32:], bar)

    # a range from 0 m (the default colored_min) is a fixed range too: 2 m is beyond 0–1 m
    result = h.node.set_parameters([Parameter("colored_min", value=0.0),
                                    Parameter("colored_max", value=1.0)])
    assert all(r.successful for r in result)
    h.image_pub.publish(make_image(random_rgb(), stamp=(82, 0)))
    from_zero = received_bgr(h.wait_stamp("colored", (82, 0)))
    assert (from_zero[:, :32] == np.array(FAR_BGR, np.uint8)).all()
    np.testing.assert_array_equal(from_zero[:, 32:], scale_bar(24, 0.0, 1.0))
