"""`python -m meshtools.soak`: see `meshtools.soak.cli`."""

import sys

from meshtools.soak.cli import main

if __name__ == "__main__":
    sys.exit(main())
