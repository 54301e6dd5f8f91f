"""`python -m yolodetection`: flags, start-up checks, logging, serve until SIGTERM (`service.py`)."""

from __future__ import annotations

import sys

from liquidedge.service import service_main
from yolodetection.service import build_parser, check_args_and_files, start


def main(argv: list[str] | None = None) -> int:
    return service_main("yolodetection", build_parser, check_args_and_files, start, argv)


if __name__ == "__main__":
    sys.exit(main())
