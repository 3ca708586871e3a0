"""`depth-anything-ros demo`: the real depth node on a live synthetic camera.

The pieces, one concept each:

- ``frames``       — the moving synthetic camera: RGB, ground-truth depth and intrinsics per frame
  (ROS-free; rendered by the training data engine's scene).
- ``node_process`` — starting and stopping the real ``depth_node`` as a child process on its own
  DDS domain, with its log captured.
- ``camera``       — an rclpy node publishing the frames as Image + CameraInfo at a steady rate.
- ``recorder``     — an rclpy node receiving depth/image, depth/camera_info and depth/points,
  scoring each depth image against the ground truth of the frame with the same stamp.
- ``session``      — one run in phases: node start-up (warm-up frames until the first depth image),
  the measured run, draining what is in flight, stopping the node.
- ``summary``      — summary.json: counts, rates, latency, error against the ground truth.
- ``preview``      — preview.png: RGB | predicted depth | ground-truth depth | bird's-eye cloud.
- ``atomic``       — write-then-rename, so no output is ever half written.

The command (argument checks, Ctrl-C, exit status) is ``depth_anything_ros.commands.demo``.
"""
