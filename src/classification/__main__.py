"""`python -m classification`: flags, start-up checks, logging, serve until SIGTERM (`service.py`)."""

from __future__ import annotations

import sys

from classification.service import build_parser, check_args, start
from liquidedge.service import service_main


def main(argv: list[str] | None = None) -> int:
    return service_main("classification", build_parser, check_args, start, argv)


if __name__ == "__main__":
    sys.exit(main())
