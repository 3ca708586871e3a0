"""Shared test set-up: DDS stays on this machine, each test session gets its own domain."""
import os

# Must happen before anything imports rclpy (REFERENCE.md § 13: default discovery multicasts).
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.setdefault("ROS_DOMAIN_ID", str(10 + os.getpid() % 80))
os.environ.setdefault("OMP_NUM_THREADS", "2")
