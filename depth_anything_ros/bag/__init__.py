"""Offline depth for ROS 2 bags with rosbags (no ROS install): `process.process_bag` and the
`depth-anything-ros bag` command. Modules: topics (names), reader (input), messages (rosbags
message ↔ numpy), camera_info (pairing), pipeline + writer_thread (the ordered job), staging
(all-or-nothing outputs), export (per-frame files), options (what to do, what was done)."""
