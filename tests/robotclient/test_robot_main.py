"""The command line: flags with ROBOT_* twins, a full run on a folder of frames, the videoclip verb."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest
from robot_fakes import FakeMesh, write_frames

from robotclient.__main__ import main
from robotclient.cli import build_parser, settings_from


def test_every_flag_has_a_robot_env_twin() -> None:
    parser = build_parser()
    assert parser.env_names, "no flags registered"
    assert all(env.startswith("ROBOT_") for env in parser.env_names.values())
    assert parser.env_names["--mesh-addr"] == "ROBOT_MESH_ADDR"
    assert parser.parse_args([]).mesh_addr == "localhost:50051"


def test_env_twin_sets_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROBOT_MESH_ADDR", "edge:6000")
    monkeypatch.setenv("ROBOT_TARGET", "face, person")
    monkeypatch.setenv("ROBOT_LOOP", "true")
    monkeypatch.setenv("ROBOT_FOLLOW", " obama ")
    args = build_parser().parse_args([])
    assert args.mesh_addr == "edge:6000" and args.target == ("face", "person") and args.loop is True
    link, pilot, _ = settings_from(args)
    assert link.address == "edge:6000" and pilot.target_labels == ("face", "person")
    assert pilot.follow == "obama"
    assert settings_from(build_parser().parse_args(["--follow", ""]))[1].follow is None


def test_token_file_is_read(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("# robots\nabc123\n")
    link, _, _ = settings_from(build_parser().parse_args(["--token-file", str(token)]))
    assert link.token == "abc123"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--token-file", "/no/such/token"], "cannot read token file '/no/such/token'"),
        (["--deadline-s", "0"], "--deadline-s and --mesh-silence-s must be positive"),
        (["--target", ""], "--target needs at least one label"),
        (["--view-port", "70000"], "--view-port must be -1..65535, got 70000"),
        # a readable source, so that the driver is what is refused
        (["--driver", "sim", "--source", "{frames}"], "--driver sim needs --source sim"),
        (["--follow", "unknown"], "--follow needs a person's name"),
        (["--source", "sim:people", "--sim-photo-dir", "/no/such"], "cannot read the photo /no/such/"),
    ],
)
def test_bad_flags_exit_with_a_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    frames = write_frames(tmp_path / "frames", 1, size_wh=(64, 48))
    with pytest.raises(SystemExit) as exit_info:
        main([arg.format(frames=frames) for arg in argv])
    assert exit_info.value.code == 2
    assert f"robotclient: error: {message}" in capsys.readouterr().err


def test_run_on_a_folder_against_the_mesh(tmp_path: Path, fake_mesh: FakeMesh) -> None:
    fake_mesh.script.delay_s = 0.02  # so every round trip is at least 20 ms long
    frames = write_frames(tmp_path / "frames", 5)
    log = tmp_path / "robot.csv"
    argv = [
        "--source",
        str(frames),
        "--loop",
        "true",
        "--frames",
        "40",
        "--fps",
        "20",
        "--mesh-addr",
        fake_mesh.address,
        "--view-port",
        "-1",
        "--csv",
        str(log),
        "--log-format",
        "json",
    ]
    assert main(argv) == 0
    rows = list(csv.DictReader(log.open()))
    assert rows, "no answers were logged"
    assert {row["objects"] for row in rows} == {"1"}
    assert all(float(row["rtt_ms"]) >= 20.0 for row in rows)
    assert rows[-1]["state"] == "follow"


def test_sim_source_drives_the_sim_robot(tmp_path: Path, fake_mesh: FakeMesh) -> None:
    log = tmp_path / "robot.csv"
    argv = ["--source", "sim", "--driver", "sim", "--frames", "10", "--wakeup-s", "0"]
    assert main([*argv, "--mesh-addr", fake_mesh.address, "--view-port", "-1", "--csv", str(log)]) == 0
    rows = list(csv.DictReader(log.open()))
    assert rows, "no answers were logged"
    logged = [int(row["frame"]) for row in rows]
    assert logged == sorted(set(logged)) and set(logged) <= set(fake_mesh.servicer.seen) <= set(range(1, 11))
    # The pose comes from the simulated chassis (a driver without one logs nan), and the chassis
    # moves: the fake mesh's person is followed, so the robot drives towards it.
    assert all(math.isfinite(float(row[key])) for row in rows for key in ("x_m", "y_m", "heading_deg"))
    assert rows[-1]["state"] == "follow"
    assert float(rows[-1]["x_m"]) > float(rows[0]["x_m"]), [(row["x_m"], row["state"]) for row in rows]


def test_sim_people_source_follows_by_name(tmp_path: Path, fake_mesh: FakeMesh, photo_dir: Path) -> None:
    log = tmp_path / "robot.csv"
    argv = [
        "--source",
        "sim:people",
        "--sim-photo-dir",
        str(photo_dir),
        "--driver",
        "sim",
        "--follow",
        "obama",
    ]
    argv += ["--frames", "5", "--mesh-addr", fake_mesh.address, "--view-port", "-1", "--csv", str(log)]
    assert main(argv) == 0
    rows = list(csv.DictReader(log.open()))
    assert rows and all(math.isfinite(float(row["heading_deg"])) for row in rows)


def test_videoclip_verb(tmp_path: Path, fake_mesh: FakeMesh, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (64, 48))
    for _ in range(3):
        writer.write(np.zeros((48, 64, 3), np.uint8))
    writer.release()
    assert main(["videoclip", "--video", str(path), "--frames", "4", "--mesh-addr", fake_mesh.address]) == 0
    assert json.loads(capsys.readouterr().out)["frames_answered"] == 4


def test_docs_list_every_flag_and_env_twin() -> None:
    from robotclient.videoclip import build_parser as clip_parser

    docs = (Path(__file__).resolve().parents[2] / "docs" / "robotclient.md").read_text()
    for parser in (build_parser(), clip_parser()):
        for flag, env in parser.env_names.items():
            assert f"`{env}`" in docs, f"{env} is missing from docs/robotclient.md"
            if parser.prog == "robotclient":
                assert f"`{flag}`" in docs, f"{flag} is missing from docs/robotclient.md"
