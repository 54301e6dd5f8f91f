"""Who is serving: the host (pod) name and address reported in every answer."""

from __future__ import annotations

import ipaddress
import os
import socket
from dataclasses import dataclass


@dataclass(frozen=True)
class HostInfo:
    hostname: str
    address: str

    @property
    def ipv4_int(self) -> int:
        """The address as the legacy protocol's fixed32: most significant byte first; 0 if not IPv4."""
        try:
            return int(ipaddress.IPv4Address(self.address))
        except ValueError:
            return 0

    @classmethod
    def detect(cls) -> HostInfo:
        """POD_IP (Kubernetes downward API) wins; else the address the host name resolves to."""
        hostname = os.environ.get("POD_NAME") or socket.gethostname()
        address = os.environ.get("POD_IP", "")
        if not address:
            try:
                address = socket.gethostbyname(hostname)
            except OSError:
                address = "127.0.0.1"
        return cls(hostname=hostname, address=address)
