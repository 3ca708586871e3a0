"""Python `logging` of the library (model loading, checkpoint notes, ...) → the node's logger.

The core logs with `logging` (it must not import rclpy); in the node those records would go
to stderr only, never to /rosout where `ros2 topic echo /rosout`, rqt_console and log
recorders look. `forward_library_logs` hangs a handler on the package's logger that re-logs
every record through the rclpy logger (console and /rosout), prefixed with the module name.
"""
from __future__ import annotations

import logging

from depth_anything_ros.ros.ros_logging import log_at

PACKAGE_LOGGER = "depth_anything_ros"
_METHODS = ((logging.CRITICAL, "fatal"), (logging.ERROR, "error"), (logging.WARNING, "warning"),
            (logging.INFO, "info"), (logging.DEBUG, "debug"))


class RosLogHandler(logging.Handler):
    """Forwards each record to an rclpy logger at the matching severity."""

    def __init__(self, ros_logger, level: int = logging.INFO) -> None:
        super().__init__(level)
        self._ros_logger = ros_logger

    def emit(self, record: logging.LogRecord) -> None:
        try:
            method = next(name for level, name in _METHODS if record.levelno >= level)
        except StopIteration:
            method = "debug"
        try:
            log_at(self._ros_logger, method, f"[{record.name}] {record.getMessage()}")
        except Exception:  # noqa: BLE001 — logging must never break the caller
            self.handleError(record)


def forward_library_logs(ros_logger, logger_name: str = PACKAGE_LOGGER) -> RosLogHandler:
    """Install a RosLogHandler on `logger_name` (INFO and above); returns it for removal."""
    library = logging.getLogger(logger_name)
    if library.level == logging.NOTSET or library.level > logging.INFO:
        library.setLevel(logging.INFO)
    handler = RosLogHandler(ros_logger)
    library.addHandler(handler)
    return handler


def stop_forwarding(handler: RosLogHandler, logger_name: str = PACKAGE_LOGGER) -> None:
    logging.getLogger(logger_name).removeHandler(handler)
