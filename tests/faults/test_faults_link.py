"""A bad network link to the YOLO hosts: latency and loss (netem), or a starved uplink (tbf).

Namespaces only: `tc` shapes a host's veth, which loopback has no equivalent of. Both YOLO
replicas' links are impaired (both directions), the face host's link is not, so the robot
should get every frame back within its deadline: whole when YOLO makes it, partial (face boxes,
YOLO's status DEADLINE_EXCEEDED or UNAVAILABLE) when it does not. Never a hang.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import pytest

from faults.fault_mesh import AGGREGATOR_ARGS, YOLO_REPLICAS, FaultMesh, switch_placements
from faults.fault_netns import Switch, qdisc_unavailable_reason
from faults.fault_report import figure
from faults.fault_robot import LockstepRobot
from liquidedge.lockstep import Outcome
from liquidedge.stats import percentile_ms
from meshtools.samples import SampleFrame

DEADLINE_S = 1.5
IMPAIRED_S = 6.0
# What the robot may wait past its deadline: scheduling on a 2-core CI machine, not the link.
MARGIN_S = 0.3
YOLO_FAILURES = {"DEADLINE_EXCEEDED", "UNAVAILABLE"}

IMPAIRMENTS = [
    # The brief's bad link: 200 ms each way and one packet in five dropped.
    pytest.param("netem", ("delay", "200ms", "loss", "20%"), id="netem-delay200ms-loss20"),
    # A starved uplink: 256 kbit/s, packets queued longer than 400 ms dropped. A 48 KB frame
    # needs 1.5 s on it, so YOLO cannot make the deadline; sch_tbf is in most kernels.
    pytest.param("tbf", ("rate", "256kbit", "burst", "16kb", "latency", "400ms"), id="tbf-256kbit"),
]


def yolo_ok(result: Outcome) -> bool:
    return result.answered and result.engine_ok("yolo")


def whole(result: Outcome) -> bool:
    return result.answered and not result.partial


@pytest.mark.netns
@pytest.mark.parametrize(("kind", "spec"), IMPAIRMENTS)
def test_a_bad_yolo_link_still_answers_every_frame_within_its_deadline(
    kind: str,
    spec: tuple[str, ...],
    netns_reason: str | None,
    model_dir: str,
    tmp_path: Path,
    frames: dict[str, SampleFrame],
) -> None:
    """Impair both YOLO hosts' links for 6 s, then heal them. The robot sees: an answer to every
    frame within its 1.5 s deadline (+0.3 s scheduling margin), the face engine OK in each, YOLO
    OK or marked DEADLINE_EXCEEDED/UNAVAILABLE (a partial answer, never a hang or a lost frame),
    and YOLO answering again within a few seconds of the link healing."""
    if netns_reason is not None:
        pytest.skip(f"link faults need network namespaces: {netns_reason}")
    reason = qdisc_unavailable_reason(kind, *spec)
    if reason is not None:
        pytest.skip(f"{kind} case skipped: {reason}")
    with Switch() as switch:
        mesh = FaultMesh(model_dir, switch_placements(switch), tmp_path, aggregator_args=AGGREGATOR_ARGS)
        try:
            mesh.start()
            run_impaired(mesh, switch, kind, spec, frames["camera"].jpeg)
        finally:
            mesh.stop()


def run_impaired(mesh: FaultMesh, switch: Switch, kind: str, spec: tuple[str, ...], jpeg: bytes) -> None:
    with LockstepRobot(mesh.edge, jpeg, deadline_s=DEADLINE_S) as robot:
        robot.wait_for(6, yolo_ok, timeout_s=30)
        impaired_at = time.monotonic()
        for name in YOLO_REPLICAS:
            switch.impair(name, kind, *spec)
        time.sleep(IMPAIRED_S)
        healed_at = time.monotonic()
        for name in YOLO_REPLICAS:
            switch.heal(name)
        back = robot.wait_for(1, lambda r: r.sent_s > healed_at and yolo_ok(r), timeout_s=20)
        back_after = back[0].done_s - healed_at
    during = [r for r in robot.results if impaired_at < r.sent_s < healed_at]
    outcomes = Counter("whole" if whole(r) else "partial" if r.answered else r.code for r in during)
    yolo_codes = Counter(r.engines["yolo"].code if "yolo" in r.engines else "-" for r in during)
    rtts = [r.rtt_s for r in during]
    figure(
        f"bad-link/{kind} {' '.join(spec)}",
        "netns",
        f"{len(during)} frames in {IMPAIRED_S:.0f} s: {outcomes['whole']} whole, {outcomes['partial']} partial, "
        f"{len(during) - outcomes['whole'] - outcomes['partial']} failed/lost; YOLO codes {dict(yolo_codes)}; "
        f"RTT p95 {percentile_ms(rtts, 95) or 0:.0f} ms, max {max(rtts, default=0):.2f} s "
        f"(deadline {DEADLINE_S} s); YOLO back {back_after:.2f} s after the link healed",
    )
    assert len(during) >= 3
    assert all(r.answered for r in during), dict(outcomes)
    assert all(r.engine_ok("face") for r in during), [r.engines for r in during if not r.engine_ok("face")]
    assert set(yolo_codes) <= {"OK", *YOLO_FAILURES}, dict(yolo_codes)
    assert max(rtts) <= DEADLINE_S + MARGIN_S, max(rtts)
    assert back_after < 10.0
