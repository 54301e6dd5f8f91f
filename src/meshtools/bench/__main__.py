"""`python -m meshtools.bench`: see `meshtools.bench.cli`."""

import sys

from meshtools.bench.cli import main

if __name__ == "__main__":
    sys.exit(main())
