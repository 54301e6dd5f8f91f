"""`python -m objectdetection`: flags, start-up checks, logging, serve until SIGTERM (`service.py`)."""

from __future__ import annotations

import sys

from liquidedge.service import service_main
from objectdetection.service import build_parser, check_args, start


def main(argv: list[str] | None = None) -> int:
    return service_main("objectdetection", build_parser, check_args, start, argv)


if __name__ == "__main__":
    sys.exit(main())
