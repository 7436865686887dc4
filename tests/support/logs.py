"""Everything a test's code logged, read back as one text."""

from __future__ import annotations

from collections.abc import Callable


def captured_logs(caplog, capfd, level: int) -> Callable[[], str]:
    """caplog plus the captured stdout/stderr: Airflow's task/hook loggers print through structlog."""
    caplog.set_level(level)

    def text() -> str:
        captured = capfd.readouterr()
        return caplog.text + captured.out + captured.err

    return text
