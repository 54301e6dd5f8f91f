"""`cameragateway`: flags in, the gateway served until SIGTERM or Ctrl-C."""

from __future__ import annotations

import sys

from cameragateway.service import build_parser, check_args, start
from liquidedge.logs import configure_logging


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    check_args(parser, args)
    configure_logging("cameragateway", args.log_level, args.log_format)
    start(args).serve_until_signalled(args.shutdown_grace_s)
    return 0


if __name__ == "__main__":
    sys.exit(main())
