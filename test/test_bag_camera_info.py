"""CameraInfo pairing in bag jobs: the info with the frame's own header stamp, whatever the
recording order; only without one the latest recorded at or before the frame."""
from depth_anything_ros.bag.camera_info import CameraInfoTable


def test_a_frame_gets_the_camera_info_with_its_own_stamp_even_when_recorded_late():
    # (bag time, header stamp, info): the info for stamp 20 was recorded after the one for 30.
    table = CameraInfoTable([(100, 10, "info@10"), (262, 20, "info@20"), (258, 30, "info@30")])
    assert table.lookup(20, 259) == "info@20"  # by bag time: info@30 (recorded at 258)
    assert table.lookup(30, 263) == "info@30"  # by bag time: info@20 (recorded at 262)
    assert len(table) == 3


def test_without_its_stamp_the_latest_info_recorded_before_the_frame_else_the_first():
    table = CameraInfoTable([(100, 10, "info@10"), (200, 20, "info@20")])
    assert table.lookup(25, 250) == "info@20"
    assert table.lookup(15, 150) == "info@10"
    assert table.lookup(5, 50) == "info@10"
    assert CameraInfoTable([]).lookup(10, 100) is None
