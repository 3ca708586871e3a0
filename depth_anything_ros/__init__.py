"""depth_anything_ros: metric depth for ROS 2 from one camera with Depth Anything."""
__version__ = "0.1.0"
