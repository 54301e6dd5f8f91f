"""Resident memory of the service processes, sampled from /proc while the load runs.

A leak shows as RSS that keeps climbing after warm-up (model loaded, thread pools and
allocator arenas at their working size). Sampling VmRSS once a second from
/proc/<pid>/status costs nothing and needs no cooperation from the process.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)


def read_rss_kib(pid: int, proc: Path = Path("/proc")) -> int | None:
    """VmRSS of `pid` in KiB, or None when the process is gone (or this is not Linux)."""
    try:
        text = (proc / str(pid) / "status").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return None  # a zombie has no VmRSS line


@dataclass(frozen=True)
class RssSample:
    at_s: float
    rss_kib: int | None


@dataclass
class RssSampler:
    """Samples every pid in `pids` every `interval_s` on a background thread until `stop()`."""

    pids: Mapping[str, int]
    interval_s: float = 1.0
    samples: dict[str, list[RssSample]] = field(default_factory=dict)
    _started: float = field(default_factory=time.monotonic)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _thread: threading.Thread | None = None

    def start(self) -> RssSampler:
        self.sample_now()
        self._thread = threading.Thread(target=self._loop, name="soak-rss", daemon=True)
        self._thread.start()
        return self

    def sample_now(self) -> dict[str, int | None]:
        """Take one sample of every process now (also used to mark the end of warm-up)."""
        at_s = time.monotonic() - self._started
        taken = {name: read_rss_kib(pid) for name, pid in self.pids.items()}
        with self._lock:
            for name, rss in taken.items():
                self.samples.setdefault(name, []).append(RssSample(at_s, rss))
        return taken

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.sample_now()

    def stop(self) -> dict[str, list[RssSample]]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
        self.sample_now()
        with self._lock:
            return {name: list(series) for name, series in self.samples.items()}

    def elapsed_s(self) -> float:
        return time.monotonic() - self._started
