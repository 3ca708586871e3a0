"""Log through rclpy at a severity chosen at run time, from one call site per severity.

rclpy's logger remembers the severity each calling source line used (its once/throttle
bookkeeping) and raises ``ValueError: Logger severity cannot be changed between calls.`` when
the same line logs at another one. A helper that forwards warnings and errors through one
``getattr(logger, level)(text)`` line therefore fails on the second severity it sees: in the
depth worker that exception ended the thread. `log_at` calls each severity from its own line.
"""
from __future__ import annotations

__all__ = ["log_at"]


def log_at(logger, level: str, text: str) -> None:
    """`logger.<level>(text)` for level fatal, error, warn/warning, info or debug."""
    if level == "fatal":
        logger.fatal(text)
    elif level == "error":
        logger.error(text)
    elif level in ("warn", "warning"):
        logger.warning(text)
    elif level == "info":
        logger.info(text)
    else:
        logger.debug(text)
