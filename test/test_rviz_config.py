"""config/depth.rviz: the displays a user needs, with QoS that can match, in a frame without TF."""
from launch_file_facts import launch_helpers, module_constants, launch_tree, rviz_config, rviz_displays

REQUIRED_CLASSES = {
    "Grid": "rviz_default_plugins/Grid",
    "Input image": "rviz_default_plugins/Image",
    "Depth (colourised)": "rviz_default_plugins/Image",
    "Point cloud": "rviz_default_plugins/PointCloud2",
}


def test_rviz_config_has_grid_input_image_colourised_depth_and_point_cloud():
    displays = rviz_displays(rviz_config())
    assert {name: d["Class"] for name, d in displays.items()} == REQUIRED_CLASSES
    assert all(d["Enabled"] is True for d in displays.values())


def test_rviz_topics_are_the_node_topics_and_every_display_is_named_in_the_launch_file():
    displays = rviz_displays(rviz_config())
    topic_of = {name: d["Topic"]["Value"] for name, d in displays.items() if "Topic" in d}
    helpers = launch_helpers()
    relative = module_constants(launch_tree())["RVIZ_DISPLAY_TOPICS"]
    assert set(topic_of) == set(relative), "the launch file rewrites exactly these displays"
    default_image = dict((n, d) for n, d, _ in module_constants(launch_tree())["ARGUMENTS"])["image"]
    for name, topic in relative.items():
        expected = helpers.resolve_topic("", default_image if topic == "<image>" else topic)
        assert topic_of[name] == expected


def test_outputs_are_subscribed_reliable_and_the_camera_best_effort():
    displays = rviz_displays(rviz_config())
    qos = {name: d["Topic"]["Reliability Policy"] for name, d in displays.items() if "Topic" in d}
    assert qos == {"Input image": "Best Effort", "Depth (colourised)": "Reliable",
                   "Point cloud": "Reliable"}
    for display in displays.values():
        if "Topic" in display:
            assert display["Topic"]["Durability Policy"] == "Volatile"
            assert display["Topic"]["History Policy"] == "Keep Last"
            assert display["Topic"]["Depth"] >= 1


def test_point_cloud_is_coloured_by_the_rgb_field_the_cloud_builder_writes():
    from depth_anything_ros.geometry import pointcloud

    cloud = rviz_displays(rviz_config())["Point cloud"]
    assert cloud["Color Transformer"] == "RGB8"
    assert cloud["Position Transformer"] == "XYZ"
    field_names = [field[0] for field in pointcloud.POINT_FIELDS]
    assert {"x", "y", "z", "rgb"} <= set(field_names), field_names


def test_fixed_frame_is_the_launch_default_camera_frame_and_views_follow_it():
    config = rviz_config()
    manager = config["Visualization Manager"]
    defaults = {n: d for n, d, _ in module_constants(launch_tree())["ARGUMENTS"]}
    assert manager["Global Options"]["Fixed Frame"] == defaults["camera_frame"]
    assert defaults["camera_frame"].endswith("optical_frame")  # REP-103: no TF tree needed
    assert manager["Views"]["Current"]["Target Frame"] == "<Fixed Frame>"
    assert rviz_displays(config)["Grid"]["Reference Frame"] == "<Fixed Frame>"
