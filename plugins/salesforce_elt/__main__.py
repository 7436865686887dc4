"""`python -m salesforce_elt ...` — the operator's command line (see `--help`)."""

from __future__ import annotations

import sys

from salesforce_elt.ops.cli import main

if __name__ == "__main__":
    sys.exit(main())
