"""The in-face placement's instrument (`make bench`, people:in-face) starts from its own command line.

Its parser is the face service's plus the recognition flags; when the face service gained the
store flags, a second `--model-store` stopped this parser at build time and the bench case with
it. Here the parser builds, reads its flags, and passes the face service's own checks.
"""

from __future__ import annotations

from facedetection.service import check_args
from meshtools.bench.face_with_recognition import build_parser


def test_the_instrument_parses_its_flags_and_the_face_services_checks() -> None:
    parser = build_parser()
    defaults = parser.parse_args([])
    assert (defaults.model_store, defaults.embed_workers) == ("var/modelstore", 1)
    args = parser.parse_args(["--model-store", "/tmp/store", "--embed-workers", "2", "--scale-factor", "1.2"])
    check_args(parser, args)
    assert (args.model_store, args.embed_workers, args.scale_factor) == ("/tmp/store", 2, 1.2)
