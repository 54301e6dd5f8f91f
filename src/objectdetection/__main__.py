"""`python -m objectdetection`: check the flags, then serve until SIGTERM (see `service.py`)."""

from __future__ import annotations

import sys

from liquidedge.logs import configure_logging
from liquidedge.service import run_until_signalled

# DEFAULT_* re-exported only for tests that still read them here (tests/deploy/deploy_checks.py,
# tests/test_readme.py, tests/fuzz/test_soak_smoke.py); import `objectdetection.service` instead.
from objectdetection.service import DEFAULT_METRICS_PORT, DEFAULT_PORT, build_parser, check_args, start

__all__ = ["DEFAULT_METRICS_PORT", "DEFAULT_PORT", "build_parser", "check_args", "main", "start"]


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    check_args(parser, args)
    configure_logging("objectdetection", args.log_level, args.log_format)
    return run_until_signalled("objectdetection", lambda: start(args), args.shutdown_grace_s)


if __name__ == "__main__":
    sys.exit(main())
