"""Put the repo root and plugins/ on the venv's sys.path (a .pth file), as Airflow does for plugins/."""

from __future__ import annotations

import sysconfig
from pathlib import Path

if __name__ == "__main__":
    root = Path(__file__).resolve().parents[1]
    pth = Path(sysconfig.get_paths()["purelib"]) / "salesforce_elt_project.pth"
    pth.write_text(f"{root}\n{root / 'plugins'}\n")
