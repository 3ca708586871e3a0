"""Shared test set-up: DDS stays on this machine, each test session gets its own domain."""
import os
import random

# Must happen before anything imports rclpy (REFERENCE.md § 13: default discovery multicasts).
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ["ROS_LOCALHOST_ONLY"] = "1"  # Humble reads only this one
os.environ.setdefault("ROS_DOMAIN_ID", str(random.SystemRandom().randint(1, 100)))
os.environ.setdefault("OMP_NUM_THREADS", "2")
