"""CameraInfo pairing in bag jobs: the info with the frame's own header stamp, whatever the
recording order; only without one the latest recorded at or before the frame."""
from depth_anything_ros.bag.camera_info import CameraInfoTable


def test_a_frame_gets_the_camera_info_with_its_own_stamp_even_when_recorded_late():
    # (bag time, header stamp, info): the info for stamp 20 was recorded after the one for 30.
    table = CameraInfoTable([(100, 10, "cam", "info@10"), (262, 20, "cam", "info@20"),
                            (258, 30, "cam", "info@30")])
    assert table.lookup(20, 259) == "info@20"  # by bag time: info@30 (recorded at 258)
    assert table.lookup(30, 263) == "info@30"  # by bag time: info@20 (recorded at 262)
    assert len(table) == 3


def test_without_its_stamp_the_latest_info_recorded_before_the_frame_else_the_first():
    table = CameraInfoTable([(100, 10, "cam", "info@10"), (200, 20, "cam", "info@20")])
    assert table.lookup(25, 250) == "info@20"
    assert table.lookup(15, 150) == "info@10"
    assert table.lookup(5, 50) == "info@10"
    assert CameraInfoTable([]).lookup(10, 100) is None


def test_a_topic_carrying_two_cameras_pairs_each_frame_with_its_own_cameras_info():
    table = CameraInfoTable([(100, 10, "left", "left@10"), (101, 10, "right", "right@10"),
                             (200, 20, "left", "left@20"), (201, 20, "right", "right@20")])
    assert table.lookup(20, 202, "left") == "left@20"  # same stamp, both cameras
    assert table.lookup(10, 300, "right") == "right@10"
    assert table.lookup(25, 250, "left") == "left@20"  # latest before it: its own camera's
    assert table.lookup(25, 250, "right") == "right@20"
    # an image whose frame_id no info names still gets one (a driver naming frames unlike its
    # info, as depth_image_proc tolerates): the latest recorded before it
    assert table.lookup(25, 250, "camera_optical") == "right@20"


def test_an_info_recorded_at_the_same_bag_time_as_the_frame_counts_as_before_it():
    # a driver writing image and camera_info in one callback: same recording time, the info's
    # stamp off by a little (no exact match)
    table = CameraInfoTable([(100, 10, "cam", "old"), (200, 21, "cam", "new")])
    assert table.lookup(20, 200, "cam") == "new"
