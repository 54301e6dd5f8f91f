"""The link against a fake mesh over real gRPC: answers, refusals, deadlines, newest-only, outages."""

from __future__ import annotations

import time

import grpc
import pytest
from robot_fakes import FakeMesh

from robotclient.clock import ManualClock
from robotclient.link import Answer, Failure, LinkSettings, MeshLink, OutgoingFrame
from support.waiting import wait_for

JPEG = b"\xff\xd8fake\xff\xd9"


def frame(number: int) -> OutgoingFrame:
    return OutgoingFrame(number=number, capture_time_s=time.monotonic(), jpeg=JPEG)


@pytest.mark.parametrize("protocol", ["v1", "legacy"])
def test_answer_carries_boxes_host_and_rtt(fake_mesh: FakeMesh, protocol: str) -> None:
    # The link's clock stands still at 100 s; the frame says it was captured 250 ms earlier and
    # the mesh echoes that, so the round trip is exactly the difference.
    clock = ManualClock(100.0)
    with MeshLink(LinkSettings(address=fake_mesh.address, protocol=protocol), clock) as link:
        link.submit(OutgoingFrame(number=1, capture_time_s=99.75, jpeg=JPEG))
        answer = link.wait_outcome(1, 5.0)
    assert isinstance(answer, Answer)
    assert answer.frame_number == 1
    assert answer.served_by_host == "edge-a" and answer.served_by_address == "10.0.0.7"
    assert (answer.capture_time_s, answer.received_s) == (99.75, 100.0)
    assert answer.rtt_s == pytest.approx(0.25)
    assert link.stats.last_rtt_s() == pytest.approx(0.25)
    assert list(answer.detections.label) == ["person"]
    assert answer.detections.xyxy.tolist() == [[280, 120, 360, 320]]
    assert answer.detections.color_rgb.tolist() == [[10, 20, 30]]
    assert link.served_by_host == "edge-a"
    if protocol == "v1":
        assert answer.engines == {"face": (True, 7.5), "yolo": (True, 21.0)}


@pytest.mark.parametrize(
    ("code", "outage"),
    [
        (grpc.StatusCode.RESOURCE_EXHAUSTED, False),  # oversize frame: drop it, not an outage
        (grpc.StatusCode.INVALID_ARGUMENT, False),  # undecodable frame: drop it
        (grpc.StatusCode.UNAVAILABLE, True),  # the mesh says it cannot serve
    ],
)
@pytest.mark.parametrize("protocol", ["v1", "legacy"])
def test_refused_frame(fake_mesh: FakeMesh, code: grpc.StatusCode, outage: bool, protocol: str) -> None:
    fake_mesh.script.refuse[2] = code
    settings = LinkSettings(address=fake_mesh.address, protocol=protocol, backoff_initial_s=0.05)
    with MeshLink(settings) as link:
        outcomes = []
        for number in (1, 2, 3):
            link.submit(frame(number))
            outcomes.append(link.wait_outcome(number, 5.0))
    assert [type(o) for o in outcomes] == [Answer, Failure, Answer]
    assert outcomes[1].code == code.name
    assert link.stats.failures_by_code == {code.name: 1}
    assert link.stats.outages == int(outage)
    assert not link.in_outage  # frame 3 was answered: the outage, if any, is over


def test_a_refused_frame_ends_only_its_own_stream(fake_mesh: FakeMesh) -> None:
    """The refusal ends stream 1; its request iterator, still waiting for an answer that will
    never come, must not wake at the deadline and cancel stream 2 (it once did, failing a good
    frame with DEADLINE_EXCEEDED and opening a third stream)."""
    fake_mesh.script.refuse[1] = grpc.StatusCode.RESOURCE_EXHAUSTED
    fake_mesh.script.delay_s = 0.01
    settings = LinkSettings(address=fake_mesh.address, deadline_s=0.5)
    with MeshLink(settings) as link:
        link.submit(frame(1))
        assert isinstance(link.wait_outcome(1, 5.0), Failure)
        refused_at = time.monotonic()
        number = 1
        # Frames in lock-step well past the dead stream's deadline: one is nearly always in flight.
        while time.monotonic() - refused_at < 1.5 * settings.deadline_s:
            number += 1
            link.submit(frame(number))
            outcome = link.wait_outcome(number, 5.0)
            assert isinstance(outcome, Answer), outcome
    assert link.stats.failures_by_code == {"RESOURCE_EXHAUSTED": 1}
    assert fake_mesh.servicer.streams == 2


@pytest.mark.parametrize("protocol", ["v1", "legacy"])
def test_every_frame_sent_is_booked_once(fake_mesh: FakeMesh, protocol: str) -> None:
    # Every third frame is refused, so a v1 stream ends and a new one opens every third frame;
    # the last frame is answered, so the mesh has seen the last stream open.
    frames = range(1, 62)
    refused = set(range(3, 61, 3))
    fake_mesh.script.refuse.update(dict.fromkeys(refused, grpc.StatusCode.INVALID_ARGUMENT))
    with MeshLink(LinkSettings(address=fake_mesh.address, protocol=protocol)) as link:
        outcomes = {}
        for number in frames:
            link.submit(frame(number))
            outcomes[number] = link.wait_outcome(number, 5.0)
    assert {n for n, o in outcomes.items() if isinstance(o, Failure)} == refused
    assert {n for n, o in outcomes.items() if isinstance(o, Answer)} == set(frames) - refused
    assert link.stats.sent == len(frames) == link.stats.answered + link.stats.failed
    assert fake_mesh.servicer.seen == list(frames)
    if protocol == "v1":
        assert fake_mesh.servicer.streams == len(refused) + 1


def test_per_frame_deadline_on_a_stream(fake_mesh: FakeMesh) -> None:
    fake_mesh.script.hang.add(2)
    settings = LinkSettings(address=fake_mesh.address, deadline_s=0.3, outage_after_timeouts=2)
    with MeshLink(settings) as link:
        results = []
        for number in (1, 2, 3):
            link.submit(frame(number))
            results.append(link.wait_outcome(number, 5.0))
    assert isinstance(results[1], Failure) and results[1].code == "DEADLINE_EXCEEDED"
    assert isinstance(results[2], Answer)
    assert link.stats.outages == 0  # one late frame is not an outage


def test_newest_frame_only_no_backlog(fake_mesh: FakeMesh) -> None:
    fake_mesh.script.delay_s = 0.3
    with MeshLink(LinkSettings(address=fake_mesh.address)) as link:
        link.submit(frame(1))
        wait_for(lambda: fake_mesh.servicer.seen == [1], what="frame 1 in flight")
        for number in range(2, 7):
            link.submit(frame(number))
        assert isinstance(link.wait_outcome(6, 5.0), Answer)
    # Frames 2..5 were replaced by newer ones while frame 1 was in flight; the mesh never saw them.
    assert fake_mesh.servicer.seen == [1, 6]
    assert link.stats.dropped == 4
    assert link.stats.sent == 2 == link.stats.answered


def test_unreachable_mesh_is_an_outage_and_recovers() -> None:
    mesh = FakeMesh().start()
    address = mesh.address
    mesh.stop()
    settings = LinkSettings(address=address, backoff_initial_s=0.05, backoff_max_s=0.2)
    with MeshLink(settings) as link:
        link.submit(frame(1))
        failure = link.wait_outcome(1, 5.0)
        assert isinstance(failure, Failure) and failure.code == "UNAVAILABLE"
        assert link.in_outage and link.stats.outages == 1
        mesh.start()
        try:
            answer = None
            for number in range(2, 200):
                link.submit(frame(number))
                answer = link.wait_outcome(number, 1.0)
                if isinstance(answer, Answer):
                    break
            assert isinstance(answer, Answer)
            assert not link.in_outage
        finally:
            mesh.stop()


@pytest.mark.parametrize("protocol", ["v1", "legacy"])
def test_bearer_token_is_sent(fake_mesh: FakeMesh, protocol: str) -> None:
    settings = LinkSettings(address=fake_mesh.address, protocol=protocol, token="s3cret")
    with MeshLink(settings) as link:
        link.submit(frame(1))
        assert isinstance(link.wait_outcome(1, 5.0), Answer)
    assert fake_mesh.servicer.metadata[0]["authorization"] == "Bearer s3cret"


def test_no_token_no_authorization_header(fake_mesh: FakeMesh) -> None:
    with MeshLink(LinkSettings(address=fake_mesh.address)) as link:
        link.submit(frame(1))
        assert isinstance(link.wait_outcome(1, 5.0), Answer)
    assert "authorization" not in fake_mesh.servicer.metadata[0]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"protocol": "v2"}, "protocol"),
        ({"deadline_s": 0}, "deadline"),
        ({"backoff_initial_s": 3.0, "backoff_max_s": 1.0}, "backoff"),
    ],
)
def test_settings_validation(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        LinkSettings(**kwargs)
