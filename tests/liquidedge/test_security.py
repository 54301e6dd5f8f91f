"""TLS, mutual TLS and bearer tokens, on real servers with certificates made by openssl."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import grpc
import pytest

from liquidedge.legacy import robot_pb2, robot_pb2_grpc
from liquidedge.security import channel_credentials, read_tokens
from liquidedge.v1 import detection_pb2_grpc
from support.calls import SERVING, health_status, open_channel, request
from support.services import start_aggregator, start_face

TOKEN = "s3cret-robot-token"
UNAUTHENTICATED = grpc.StatusCode.UNAUTHENTICATED
AGGREGATOR_TOKEN = "aggregator-to-detectors"


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_ca(directory: Path, name: str) -> None:
    openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", f"{name}.key", "-out", f"{name}.pem", "-days", "2", "-subj", f"/CN={name}",
        cwd=directory,
    )  # fmt: skip


def make_cert(directory: Path, name: str, ca: str, san: str) -> None:
    openssl(
        "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}",
        cwd=directory,
    )  # fmt: skip
    (directory / f"{name}.ext").write_text(f"subjectAltName={san}\n")
    openssl(
        "x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key", "-CAcreateserial",
        "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext",
        cwd=directory,
    )  # fmt: skip


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("openssl") is None:
        pytest.fail("openssl is needed to make test certificates")
    directory = tmp_path_factory.mktemp("pki")
    make_ca(directory, "ca")
    make_ca(directory, "rogue-ca")
    make_cert(directory, "server", "ca", "DNS:localhost,DNS:detectors.edge,IP:127.0.0.1")
    make_cert(directory, "aggregator", "ca", "DNS:aggregator")
    make_cert(directory, "intruder", "rogue-ca", "DNS:intruder")
    (directory / "tokens").write_text(f"# robots\n{TOKEN}\n\nanother-token\n")
    (directory / "detector-tokens").write_text(f"{AGGREGATOR_TOKEN}\n")
    (directory / "aggregator-token").write_text(f"{AGGREGATOR_TOKEN}\n")
    (directory / "token-for-face").write_text(f"{TOKEN}\n")  # a token secure_face accepts
    return directory


def call(
    port: int, jpeg: bytes, credentials: grpc.ChannelCredentials | None, token: str | None
) -> grpc.StatusCode:
    metadata = (("authorization", f"Bearer {token}"),) if token else None
    with open_channel(f"localhost:{port}", credentials) as channel:
        try:
            detection_pb2_grpc.DetectorStub(channel).Detect(request(jpeg), timeout=10, metadata=metadata)
        except grpc.RpcError as error:
            return error.code()
    return grpc.StatusCode.OK


@pytest.fixture(scope="module")
def secure_face(pki: Path):
    handle = start_face(
        "--tls-cert", str(pki / "server.pem"), "--tls-key", str(pki / "server.key"),
        "--auth-tokens-file", str(pki / "tokens"),
    )  # fmt: skip
    yield handle
    handle.stop(0)


@pytest.mark.parametrize(
    ("case", "trust", "token", "expected"),
    [
        ("right CA and token", "ca", TOKEN, grpc.StatusCode.OK),
        ("second token in the file", "ca", "another-token", grpc.StatusCode.OK),
        ("no token", "ca", None, grpc.StatusCode.UNAUTHENTICATED),
        ("wrong token", "ca", "guess", grpc.StatusCode.UNAUTHENTICATED),
        ("token prefix", "ca", TOKEN[:-1], grpc.StatusCode.UNAUTHENTICATED),
        ("server not trusted", "rogue-ca", TOKEN, grpc.StatusCode.UNAVAILABLE),  # handshake fails
        ("plaintext to a TLS port", None, TOKEN, grpc.StatusCode.UNAVAILABLE),
    ],
)
def test_tls_and_tokens(
    secure_face, pki: Path, astronaut_jpeg: bytes, case: str, trust: str | None, token: str | None, expected
) -> None:
    credentials = None if trust is None else channel_credentials(str(pki / f"{trust}.pem"))
    assert call(secure_face.port, astronaut_jpeg, credentials, token) == expected, case


def test_health_stays_open_for_probes_without_a_token(secure_face, pki: Path, astronaut_jpeg: bytes) -> None:
    trust = channel_credentials(str(pki / "ca.pem"))
    assert call(secure_face.port, astronaut_jpeg, trust, None) == grpc.StatusCode.UNAUTHENTICATED
    assert health_status(f"localhost:{secure_face.port}", credentials=trust) == SERVING


def test_legacy_protocol_keeps_its_user_id_check_without_tokens(
    secure_face, pki: Path, astronaut_jpeg: bytes
) -> None:
    with open_channel(f"localhost:{secure_face.port}", channel_credentials(str(pki / "ca.pem"))) as channel:
        stub = robot_pb2_grpc.FaceDetectionStub(channel)
        reply = stub.FaceDetect(
            robot_pb2.FaceDetectionRequest(frame=robot_pb2.VideoFrame(img=astronaut_jpeg)), timeout=10
        )
    assert len(reply.faces) == 1


def test_mutual_tls_mesh_end_to_end(pki: Path, astronaut_jpeg: bytes) -> None:
    """Detectors demand a client certificate from our CA and a token; robots need TLS and their token."""
    face = start_face(
        "--tls-cert", str(pki / "server.pem"), "--tls-key", str(pki / "server.key"),
        "--tls-client-ca", str(pki / "ca.pem"), "--auth-tokens-file", str(pki / "detector-tokens"),
    )  # fmt: skip
    aggregator = start_aggregator(
        f"ipv4:127.0.0.1:{face.port}", "",
        "--tls-cert", str(pki / "server.pem"), "--tls-key", str(pki / "server.key"),
        "--auth-tokens-file", str(pki / "tokens"),
        "--backend-ca", str(pki / "ca.pem"), "--backend-cert", str(pki / "aggregator.pem"),
        "--backend-key", str(pki / "aggregator.key"), "--backend-server-name", "detectors.edge",
        "--backend-token-file", str(pki / "aggregator-token"),
    )  # fmt: skip
    try:
        robot = channel_credentials(str(pki / "ca.pem"))
        with open_channel(f"localhost:{aggregator.port}", robot) as channel:
            reply = detection_pb2_grpc.DetectorStub(channel).Detect(
                request(astronaut_jpeg), timeout=10, metadata=(("authorization", f"Bearer {TOKEN}"),)
            )
        assert [d.label for d in reply.detections] == ["face"] and reply.engines[0].ok
        # Straight to the detector: right CA but no client certificate, or one from another CA.
        for client in (
            robot,
            channel_credentials(*(str(pki / n) for n in ("ca.pem", "intruder.pem", "intruder.key"))),
        ):
            assert call(face.port, astronaut_jpeg, client, AGGREGATOR_TOKEN) == grpc.StatusCode.UNAVAILABLE
        # With the aggregator's certificate but a robot's token: the detector wants its own token.
        aggregator_cert = channel_credentials(
            *(str(pki / n) for n in ("ca.pem", "aggregator.pem", "aggregator.key"))
        )
        assert call(face.port, astronaut_jpeg, aggregator_cert, TOKEN) == grpc.StatusCode.UNAUTHENTICATED
        assert call(face.port, astronaut_jpeg, aggregator_cert, AGGREGATOR_TOKEN) == grpc.StatusCode.OK
    finally:
        aggregator.stop(0)
        face.stop(0)


def test_the_aggregator_demands_tls_and_tokens_except_for_health_and_legacy(
    pki: Path, secure_face, astronaut_jpeg: bytes
) -> None:
    """The asyncio aggregator applies the same token rule as the detectors, to unary calls and streams."""
    aggregator = start_aggregator(
        f"ipv4:127.0.0.1:{secure_face.port}", "",
        "--tls-cert", str(pki / "server.pem"), "--tls-key", str(pki / "server.key"),
        "--auth-tokens-file", str(pki / "tokens"), "--backend-ca", str(pki / "ca.pem"),
        "--backend-token-file", str(pki / "token-for-face"),
    )  # fmt: skip
    robot = channel_credentials(str(pki / "ca.pem"))
    try:
        for token, expected in (
            (TOKEN, grpc.StatusCode.OK),
            (None, UNAUTHENTICATED),
            ("guess", UNAUTHENTICATED),
        ):
            assert call(aggregator.port, astronaut_jpeg, robot, token) == expected, token
        assert call(aggregator.port, astronaut_jpeg, None, TOKEN) == grpc.StatusCode.UNAVAILABLE  # plaintext
        with open_channel(f"localhost:{aggregator.port}", robot) as channel:
            stub = detection_pb2_grpc.DetectorStub(channel)
            with pytest.raises(grpc.RpcError) as error:
                list(stub.DetectStream(iter([request(astronaut_jpeg)]), timeout=10))
            assert error.value.code() == UNAUTHENTICATED
            # Probes carry no token; the legacy robots keep their user_id check instead.
            assert health_status(channel) == SERVING
            legacy = robot_pb2_grpc.ObjectDetectionStub(channel).ObjectDetect(
                robot_pb2.ObjectDetectionRequest(
                    user_id=1, frame=robot_pb2.VideoFrame(number=1, img=astronaut_jpeg), wantface=1
                ),
                timeout=10,
            )
            assert [o.name for o in legacy.objects] == ["face"]
    finally:
        aggregator.stop(0)


@pytest.mark.parametrize(
    ("flags", "words"),
    [
        (["--host", "0.0.0.0"], "refusing plaintext"),
        (["--tls-cert", "/nonexistent.pem", "--tls-key", "/nonexistent.key"], "cannot read"),
        (["--tls-cert", "x.pem"], "go together"),
        (["--auth-tokens-file", "/nonexistent"], "cannot read token file"),
    ],
)
def test_unsafe_or_broken_security_config_fails_at_start_up(
    flags: list[str], words: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from facedetection.service import build_parser, check_args

    parser = build_parser()
    with pytest.raises(SystemExit) as exited:
        check_args(parser, parser.parse_args(["--port", "0", "--metrics-port", "-1", *flags]))
    assert exited.value.code == 2
    assert words in capsys.readouterr().err


def test_the_program_refuses_plaintext_on_all_interfaces_before_serving() -> None:
    """The command itself, as a container runs it: exit status 2 and the reason, nothing served."""
    done = subprocess.run(
        [sys.executable, "-m", "facedetection", "--host", "0.0.0.0", "--port", "0", "--metrics-port", "-1"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "refusing plaintext gRPC on 0.0.0.0" in done.stderr


def test_plaintext_on_all_interfaces_is_allowed_when_a_mesh_encrypts() -> None:
    from facedetection.service import build_parser, check_args
    from liquidedge.service import server_options

    parser = build_parser()
    args = parser.parse_args(["--host", "0.0.0.0", "--allow-plaintext", "true"])
    check_args(parser, args)  # would exit 2, as above, without --allow-plaintext
    options = server_options(args)
    assert (options.host, options.credentials) == ("0.0.0.0", None)


def test_token_file_rules(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_text("# nothing\n\n")
    with pytest.raises(ValueError, match="holds no token"):
        read_tokens(str(empty))
