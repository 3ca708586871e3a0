"""Shared test set-up: DDS stays on this machine, each test session gets its own domain, and
`colcon test` runs the default subset (everything but training) unless DAR_TESTS=all."""
import os
import random

import pytest

# Must happen before anything imports rclpy (REFERENCE.md § 13: default discovery multicasts).
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ["ROS_LOCALHOST_ONLY"] = "1"  # Humble reads only this one
# Humble's generated messages always check field types (an int in a float[9] raises); Jazzy's
# only with this set, so CI on Jazzy wheels catches what would crash a Humble robot.
os.environ["ROS_PYTHON_CHECK_FIELDS"] = "1"
os.environ.setdefault("ROS_DOMAIN_ID", str(random.SystemRandom().randint(1, 100)))
os.environ.setdefault("OMP_NUM_THREADS", "2")

PACKAGE = "depth_anything_ros"
TRAINING_FILES = ("test_training_", "test_shipped_model")


def _default_subset(config) -> bool:
    """True for `colcon test` (it passes --junit-prefix=<package>) unless DAR_TESTS=all;
    DAR_TESTS=default asks for the subset anywhere."""
    suite = os.environ.get("DAR_TESTS", "")
    if suite in ("all", "default"):
        return suite == "default"
    return config.getoption("junitprefix", None) == PACKAGE


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.path.name.startswith(TRAINING_FILES):
            item.add_marker(pytest.mark.training)
    if not _default_subset(config):
        return
    deselected = [item for item in items if item.get_closest_marker("training")]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if not item.get_closest_marker("training")]


def pytest_report_header(config):
    if _default_subset(config):
        return ("depth_anything_ros: default subset (training tests deselected); "
                "DAR_TESTS=all runs everything")
    return None
