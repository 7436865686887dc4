"""`python -m salesforce_elt ...` in a process of its own, as an operator runs it."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.support.databases import REPO


def run_cli(*args: str, env: dict[str, str | None], timeout: float = 180) -> subprocess.CompletedProcess:
    """The command's result; ``env`` changes this process's environment for it (None: unset)."""
    full_env = {**os.environ, **env}
    return subprocess.run(
        [sys.executable, "-m", "salesforce_elt", *args],
        cwd=REPO,
        env={key: value for key, value in full_env.items() if value is not None},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
