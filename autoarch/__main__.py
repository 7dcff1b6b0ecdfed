"""``python -m autoarch``: the same as the ``autoarch`` command (see `autoarch.cli`)."""

import sys

from autoarch.cli import main

if __name__ == "__main__":
    sys.exit(main())
