"""Client threads that keep sending frames to a single-engine service while a test changes it."""

from __future__ import annotations

import threading

import grpc

from support.calls import detect


class Frames:
    """Client threads sending frames back to back until stopped; every outcome is kept, per thread."""

    def __init__(self, port: int, jpeg: bytes, threads: int = 2) -> None:
        self.by_thread: list[list[str]] = [[] for _ in range(threads)]
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, args=(port, jpeg, seen)) for seen in self.by_thread
        ]

    @property
    def versions(self) -> list[str]:
        return [version for seen in self.by_thread for version in seen]

    def _run(self, port: int, jpeg: bytes, seen: list[str]) -> None:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            while not self._stop.is_set():
                try:
                    seen.append(detect(channel, jpeg).engines[0].model_version)
                except grpc.RpcError as error:
                    self.errors.append(f"{error.code().name}: {error.details()}")

    def __enter__(self) -> Frames:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)
