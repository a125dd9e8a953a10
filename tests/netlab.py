"""A throw-away network of namespaces for firewall tests, and sockets opened inside them.

    spoof (client, mail server) ─┐
    peer  (director02) ──────────┼─ bridge "ext" ─ eth0 ┐
                                                       dir (director01) eth1 ─ bridge "int" ─ rs

The bridges live in a namespace of their own ("sw"); nothing is wired to the host's links.
Sockets are created by a short-lived thread that has joined the namespace with setns(2): a
socket stays in the namespace it was made in, so the test talks through it from the main
thread without any child process to clean up.
"""

from __future__ import annotations

import ctypes
import socket
import struct
import subprocess
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from cluster.lab.adverts import checksum, send

T = TypeVar("T")
CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)

DIRECTOR = {"eth0": ["192.168.0.204/24", "192.168.0.174/32"], "eth1": ["192.168.170.179/24"]}
PEER, SPOOF, MAIL, RS = "192.168.0.176", "192.168.0.66", "192.168.0.15", "192.168.170.25"
VIP, DIRECTOR_IP, DIP = "192.168.0.174", "192.168.0.204", "192.168.170.1"
# The dual-stack spec's: director01's and director02's link-locals on eth0, and a stranger's.
DIRECTOR6, PEER6, SPOOF6, VIP6 = "fe80::204", "fe80::176", "fe80::66", "2001:db8::174"


def sh(*argv: str) -> str:
    return subprocess.run(argv, check=True, capture_output=True, text=True).stdout


@dataclass
class Net:
    """Namespace names by role; :meth:`build` wires them, :meth:`destroy` removes them all."""

    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:6])
    made: list[str] = field(default_factory=list)

    def ns(self, role: str) -> str:
        return f"fwtest-{self.tag}-{role}"

    def build(self) -> None:
        for role in ("sw", "dir", "peer", "spoof", "rs"):
            sh("ip", "netns", "add", self.ns(role))
            self.made.append(self.ns(role))
            sh("ip", "-n", self.ns(role), "link", "set", "lo", "up")
        sw = self.ns("sw")
        for bridge in ("ext", "int"):
            sh("ip", "-n", sw, "link", "add", bridge, "type", "bridge")
            sh("ip", "-n", sw, "link", "set", bridge, "up")
        wiring = [
            ("dir", "eth0", "ext", DIRECTOR["eth0"] + [f"{DIRECTOR6}/64"]),
            ("dir", "eth1", "int", DIRECTOR["eth1"] + [f"{DIP}/32"]),
            ("peer", "eth0", "ext", [f"{PEER}/24", f"{PEER6}/64"]),
            ("spoof", "eth0", "ext", [f"{SPOOF}/24", f"{MAIL}/24", f"{SPOOF6}/64"]),
            ("rs", "eth0", "int", [f"{RS}/24"]),
        ]
        for n, (role, name, bridge, addresses) in enumerate(wiring):
            port = f"p{n}"
            sh("ip", "-n", sw, "link", "add", port, "type", "veth", "peer", "name", name,
               "netns", self.ns(role))  # fmt: skip
            sh("ip", "-n", sw, "link", "set", port, "master", bridge, "up")
            for address in addresses:
                sh("ip", "-n", self.ns(role), "addr", "add", address, "dev", name, "nodad")
            sh("ip", "-n", self.ns(role), "link", "set", name, "up")
        sh("ip", "-n", self.ns("rs"), "route", "add", "default", "via", DIP)
        sh("ip", "-n", self.ns("spoof"), "route", "add", "192.168.170.0/24", "via", DIRECTOR_IP)

    def destroy(self) -> None:
        for name in self.made:
            subprocess.run(["ip", "netns", "del", name], check=False, capture_output=True)
        self.made.clear()


def inside(netns: str, make: Callable[[], T]) -> T:
    """``make()`` run by a thread that has entered ``netns``; sockets it opens stay there."""
    box: dict[str, T | BaseException] = {}

    def target() -> None:
        try:
            with open(f"/run/netns/{netns}") as handle:
                if _libc.setns(handle.fileno(), CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), f"setns {netns}")
            box["value"] = make()
        except BaseException as err:  # handed to the caller below
            box["error"] = err

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["value"]  # type: ignore[return-value]


def tcp_listener(netns: str, address: str, port: int) -> socket.socket:
    def make() -> socket.socket:
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind((address, port))
        server.listen(16)
        return server

    return inside(netns, make)


def tcp_connects(netns: str, address: str, port: int, timeout: float = 1.0) -> bool:
    """Whether a TCP handshake completes; a dropped SYN times out, a closed port refuses."""
    client = inside(netns, socket.socket)
    client.settimeout(timeout)
    try:
        client.connect((address, port))
        return True
    except OSError:
        return False
    finally:
        client.close()


def vrrp_advert(vrid: int, priority: int, vip: str) -> bytes:
    """A VRRPv2 advertisement (RFC 3768) for one address, with its checksum."""
    body = struct.pack("!BBBBBBH", 0x21, vrid, priority, 1, 0, 1, 0) + socket.inet_aton(vip)
    body += bytes(8)  # authentication data, unused
    return body[:6] + struct.pack("!H", checksum(body)) + body[8:]


def vrrp_sender(netns: str, source: str) -> socket.socket:
    """A raw IP protocol 112 socket that sends to 224.0.0.18 from ``source``, TTL 255."""

    def make() -> socket.socket:
        sender = socket.socket(socket.AF_INET, socket.SOCK_RAW, 112)
        sender.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(source))
        sender.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 255)
        return sender

    return inside(netns, make)


def vrrp_listener(netns: str, local: str) -> socket.socket:
    """A raw protocol 112 socket that has joined the VRRP group on ``local``'s link, as
    keepalived does; an IPv6 ``local`` is a link-local address with its link (``fe80::1%eth0``).
    """

    def make() -> socket.socket:
        address, _, link = local.partition("%")
        if link:
            listener = socket.socket(socket.AF_INET6, socket.SOCK_RAW, 112)
            group = socket.inet_pton(socket.AF_INET6, "ff02::12")
            group += struct.pack("@I", socket.if_nametoindex(link))
            listener.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, group)
        else:
            listener = socket.socket(socket.AF_INET, socket.SOCK_RAW, 112)
            group = socket.inet_aton("224.0.0.18") + socket.inet_aton(address)
            listener.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, group)
        listener.settimeout(0.3)
        return listener

    return inside(netns, make)


def received_from(listener: socket.socket) -> list[str]:
    """Source addresses (without their link) of every packet queued on a raw socket, until it
    is quiet."""
    sources = []
    while True:
        try:
            _, sender = listener.recvfrom(2048)
        except TimeoutError:
            return sources
        sources.append(sender[0].split("%")[0])


def send_adverts(netns: str, advert: bytes, source: str, count: int = 1) -> None:
    """``advert`` sent ``count`` times from ``source`` (``fe80::1%eth0``) by the lab's own
    sender, :func:`cluster.lab.adverts.send`, run inside ``netns``."""
    inside(netns, lambda: send(advert, count, source, interval=0))


def tcp_segment(source: str, sport: int, destination: str, dport: int, flags: int) -> bytes:
    """A bare TCP header (SYN-ACK is 0x12) with a valid checksum, for a raw socket."""
    header = struct.pack("!HHIIBBHHH", sport, dport, 1, 1, 5 << 4, flags, 65535, 0, 0)
    pseudo = socket.inet_aton(source) + socket.inet_aton(destination)
    pseudo += struct.pack("!BBH", 0, socket.IPPROTO_TCP, len(header))
    return header[:16] + struct.pack("!H", checksum(pseudo + header)) + header[18:]


def raw_tcp(netns: str) -> socket.socket:
    """Sends TCP segments as they are and receives a copy of every TCP packet that arrives."""
    return inside(netns, lambda: raw_socket(socket.IPPROTO_TCP))


def raw_socket(protocol: int) -> socket.socket:
    raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, protocol)
    raw.settimeout(0.3)
    return raw
