"""ROS-free geometry: camera intrinsics, point clouds, disparity scale (see docs/interfaces.md)."""
