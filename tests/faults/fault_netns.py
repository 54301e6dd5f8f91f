"""Network namespaces as separate hosts on one switch, created and torn down by the test.

Why a switch: every host (the edge aggregator, each detector, the robot in the root namespace)
sits on one bridge in its own "lan" namespace, so they share a connected /24 and need no routes
in the root namespace. A fault on one host's link (`tc` on its veth, both directions) then
touches that host's traffic only, as a bad cable or a congested uplink would.

Everything carries the pid in its name (`lefault-<pid>-<host>`, root veth `lef<pid>`), so runs
in parallel never collide, and namespaces left behind by a killed run (its pid is gone) are
removed, with whatever still runs inside them, the next time the suite starts.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import shutil
import signal
import subprocess
from dataclasses import dataclass, field

NAME_PREFIX = "lefault"
# Candidate /24s for the test switch; the first that overlaps no route of this machine is used.
SUBNET_POOL = ipaddress.ip_network("10.213.0.0/16")
IP_TIMEOUT_S = 10.0


class NetnsError(RuntimeError):
    """An `ip`/`tc` command failed; the message carries its stderr."""


def ip_cmd(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run `ip ARGS` (or `tc` via ip netns exec) with a time limit; raise NetnsError on failure."""
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=IP_TIMEOUT_S)
    if check and done.returncode != 0:
        raise NetnsError(f"ip {' '.join(args)}: {done.stderr.strip() or done.returncode}")
    return done


def netns_unavailable_reason() -> str | None:
    """None when this process can create namespaces and veth pairs; else why not, for the skip."""
    if shutil.which("ip") is None:
        return "the `ip` command (iproute2) is not installed"
    if os.geteuid() != 0:
        return "network namespaces need root (CAP_NET_ADMIN); the suite runs as uid " + str(os.geteuid())
    probe = f"{NAME_PREFIX}-{os.getpid()}-probe"
    try:
        ip_cmd("netns", "add", probe)
        try:
            ip_cmd("-n", probe, "link", "add", "pa", "type", "veth", "peer", "name", "pb")
        finally:
            ip_cmd("netns", "del", probe, check=False)
    except (NetnsError, OSError, subprocess.TimeoutExpired) as error:
        return f"the kernel refused a network namespace or veth pair: {error}"
    return None


def qdisc_unavailable_reason(kind: str, *spec: str) -> str | None:
    """None when `tc qdisc add ... KIND SPEC` works here; else why not (netem is often compiled out)."""
    if shutil.which("tc") is None:
        return "the `tc` command (iproute2) is not installed"
    probe = f"{NAME_PREFIX}-{os.getpid()}-tcprobe"
    try:
        ip_cmd("netns", "add", probe)
        try:
            ip_cmd("-n", probe, "link", "set", "lo", "up")
            ip_cmd("netns", "exec", probe, "tc", "qdisc", "add", "dev", "lo", "root", kind, *spec)
        finally:
            ip_cmd("netns", "del", probe, check=False)
    except (NetnsError, OSError, subprocess.TimeoutExpired) as error:
        return f"`tc qdisc add ... {kind}` is refused by this kernel ({error})"
    return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_namespaces() -> list[str]:
    """Delete our namespaces whose creating pid is gone (a run killed before its teardown)."""
    listed = ip_cmd("netns", "list", check=False).stdout
    removed = []
    for line in listed.splitlines():
        name = line.split()[0] if line.strip() else ""
        match = re.fullmatch(rf"{NAME_PREFIX}-(\d+)-[\w-]+", name)
        if not match or _pid_alive(int(match.group(1))):
            continue
        for pid in ip_cmd("netns", "pids", name, check=False).stdout.split():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid), signal.SIGKILL)
        ip_cmd("netns", "del", name, check=False)
        removed.append(name)
    return removed


def pick_subnet() -> ipaddress.IPv4Network:
    """A /24 from SUBNET_POOL that overlaps no route here, chosen by pid so parallel runs differ."""
    routes = []
    for line in ip_cmd("-4", "route", "show", "table", "all", check=False).stdout.splitlines():
        word = line.split()[0] if line.split() else ""
        if word in {"default", "broadcast", "local", "unreachable", "blackhole", "prohibit"}:
            word = line.split()[1] if len(line.split()) > 1 else ""
        try:
            routes.append(ipaddress.ip_network(word, strict=False))
        except ValueError:
            continue
    subnets = list(SUBNET_POOL.subnets(new_prefix=24))[1:]
    start = os.getpid() % len(subnets)
    for i in range(len(subnets)):
        subnet = subnets[(start + i) % len(subnets)]
        if not any(subnet.overlaps(route) and route.prefixlen > 0 for route in routes):
            return subnet
    raise NetnsError(f"every /24 of {SUBNET_POOL} is already routed on this machine")


@dataclass
class Host:
    """One namespace on the switch: `eth0` inside it, port `name` on the bridge."""

    name: str
    netns: str
    ip: str

    def exec_prefix(self) -> list[str]:
        return ["ip", "netns", "exec", self.netns]


@dataclass
class Switch:
    """A bridge in its own namespace, hosts plugged into it, and a port for the root namespace.

    Use as a context manager: leaving it deletes every namespace it made, and with them every
    veth and address, even when the test failed.
    """

    tag: str = field(default_factory=lambda: str(os.getpid()))
    subnet: ipaddress.IPv4Network = field(default_factory=pick_subnet)
    hosts: dict[str, Host] = field(default_factory=dict)
    root_ip: str = ""
    _namespaces: list[str] = field(default_factory=list)
    _next_host: int = 10

    @property
    def lan(self) -> str:
        return f"{NAME_PREFIX}-{self.tag}-lan"

    @property
    def root_veth(self) -> str:
        return f"lef{self.tag}"[:15]

    def _address(self, index: int) -> str:
        return str(self.subnet.network_address + index)

    def _add_namespace(self, name: str) -> None:
        ip_cmd("netns", "add", name)
        self._namespaces.append(name)
        ip_cmd("-n", name, "link", "set", "lo", "up")

    def create(self) -> Switch:
        self._add_namespace(self.lan)
        ip_cmd("-n", self.lan, "link", "add", "br0", "type", "bridge")
        ip_cmd("-n", self.lan, "link", "set", "br0", "up")
        # The robot's port: the root namespace end keeps a unique name, the switch end is "robot".
        self.root_ip = self._address(1)
        ip_cmd("link", "add", self.root_veth, "type", "veth", "peer", "name", "robot", "netns", self.lan)
        self._plug("robot")
        ip_cmd("addr", "add", f"{self.root_ip}/24", "dev", self.root_veth)
        ip_cmd("link", "set", self.root_veth, "up")
        return self

    def _plug(self, port: str) -> None:
        ip_cmd("-n", self.lan, "link", "set", port, "master", "br0")
        ip_cmd("-n", self.lan, "link", "set", port, "up")

    def add_host(self, name: str) -> Host:
        """A new namespace wired to the switch, with the next free address of the subnet."""
        netns = f"{NAME_PREFIX}-{self.tag}-{name}"
        self._add_namespace(netns)
        port = name[:15]
        ip_cmd("-n", self.lan, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", netns)
        self._plug(port)
        address = self._address(self._next_host)
        self._next_host += 1
        ip_cmd("-n", netns, "addr", "add", f"{address}/24", "dev", "eth0")
        ip_cmd("-n", netns, "link", "set", "eth0", "up")
        host = Host(name, netns, address)
        self.hosts[name] = host
        return host

    def impair(self, name: str, kind: str, *spec: str) -> None:
        """`tc qdisc KIND SPEC` on both directions of one host's link (its eth0 and its switch port)."""
        host = self.hosts[name]
        for netns, dev in ((host.netns, "eth0"), (self.lan, name[:15])):
            ip_cmd("netns", "exec", netns, "tc", "qdisc", "replace", "dev", dev, "root", kind, *spec)

    def heal(self, name: str) -> None:
        host = self.hosts[name]
        for netns, dev in ((host.netns, "eth0"), (self.lan, name[:15])):
            ip_cmd("netns", "exec", netns, "tc", "qdisc", "del", "dev", dev, "root", check=False)

    def close(self) -> None:
        """Kill what still runs inside, then delete the namespaces (their veths go with them)."""
        for netns in reversed(self._namespaces):
            for pid in ip_cmd("netns", "pids", netns, check=False).stdout.split():
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), signal.SIGKILL)
            ip_cmd("netns", "del", netns, check=False)
        self._namespaces.clear()
        ip_cmd("link", "del", self.root_veth, check=False)

    def __enter__(self) -> Switch:
        try:
            return self.create()
        except BaseException:
            self.close()
            raise

    def __exit__(self, *exc: object) -> None:
        self.close()
