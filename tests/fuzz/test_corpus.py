"""Replay the committed corpus of malformed images against the decoder and every service.

`make_corpus.py` wrote the files and `manifest.json` says what each must do. The decoder's
verdict is checked against the manifest, and every service must then agree with the decoder:
decoded -> OK, BadImageError -> INVALID_ARGUMENT, FrameTooLargeError -> RESOURCE_EXHAUSTED,
over the v1 API and the legacy one alike.
"""

from __future__ import annotations

import grpc
import pytest
from fuzz_support import FuzzTally, call, judge
from jpeg_strategies import CORPUS, corpus_manifest

from liquidedge.errors import BadImageError, FrameTooLargeError
from liquidedge.imaging import ImageLimits, decode_jpeg
from liquidedge.legacy import robot_pb2, robot_pb2_grpc
from liquidedge.v1 import detection_pb2, detection_pb2_grpc

EXPECTED_CODE = {
    "ok": grpc.StatusCode.OK,
    "bad": grpc.StatusCode.INVALID_ARGUMENT,
    "too_large": grpc.StatusCode.RESOURCE_EXHAUSTED,
}
NAMES = sorted(corpus_manifest())


def decoder_verdict(data: bytes) -> str:
    try:
        decode_jpeg(data, ImageLimits())
    except FrameTooLargeError:
        return "too_large"
    except BadImageError:
        return "bad"
    return "ok"


def test_the_corpus_is_what_the_manifest_says() -> None:
    on_disk = {path.name for path in CORPUS.iterdir()} - {"manifest.json"}
    assert on_disk == set(NAMES)
    assert sum((CORPUS / name).stat().st_size for name in NAMES) < 1024 * 1024
    assert {entry["expect"] for entry in corpus_manifest().values()} <= {*EXPECTED_CODE, "any"}


@pytest.mark.parametrize("name", NAMES)
def test_corpus_file(name: str, channels: dict[str, grpc.Channel], tally: FuzzTally) -> None:
    data = (CORPUS / name).read_bytes()
    expect = corpus_manifest()[name]["expect"]
    verdict = decoder_verdict(data)
    tally.add(f"corpus-decoder-{verdict}")
    assert verdict == expect or (expect == "any" and verdict in {"ok", "bad"}), verdict
    wanted = EXPECTED_CODE[verdict]

    answers = {}
    v1 = detection_pb2.DetectRequest(frame=detection_pb2.Frame(number=3, jpeg=data))
    for target in ("aggregator", "face", "yolo"):
        answers[target] = call(detection_pb2_grpc.DetectorStub(channels[target]).Detect, v1)
    legacy = robot_pb2.ObjectDetectionRequest(
        user_id=1, wantface=1, wantyolo=1, frame=robot_pb2.VideoFrame(number=3, timestamp=9, img=data)
    )
    answers["legacy"] = call(robot_pb2_grpc.ObjectDetectionStub(channels["aggregator"]).ObjectDetect, legacy)
    for target, outcome in answers.items():
        tally.add(f"corpus-{target}-{outcome.code.name}", judge(outcome, {wanted}, deadline_set=False))
    got = {target: outcome.code for target, outcome in answers.items()}
    assert got == dict.fromkeys(answers, wanted), {t: (o.code.name, o.details) for t, o in answers.items()}
