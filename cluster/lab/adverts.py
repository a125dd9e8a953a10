"""VRRP adverts made by hand: what a host that is no director would send to take the VIPs.

The directors' firewall admits VRRP (IP protocol 112, to 224.0.0.18 or, over IPv6, ff02::12)
only from the peer director; any other host on the segment could otherwise claim a virtual
router with a higher priority and win the election (RFC 5798: the higher priority wins). The
lab proves the rule with adverts from this module, sent from the mail server's namespace:
``python3 -m cluster.lab.adverts PAYLOAD_HEX COUNT [SOURCE]`` sends COUNT copies, 0.1 s apart,
with TTL (hop limit) 255 as VRRP requires, from SOURCE if given: an IPv6 source sends over
IPv6, and a link-local one names its link (``fe80::1%eth0``). Standard library only: it runs
in the lab guest's Python.

VRRPv3's checksum covers a pseudo-header of the source and the group, for either family
(RFC 5798 5.2.8), so an advert is made for the address it is sent from:

>>> advert = vrrp_v3_advert("192.168.0.15", 41, 254, "192.168.0.174")
>>> advert.hex()  # version 3, advertisement; router 41; priority 254; one address
'3129fe0100646dd3c0a800ae'
>>> checksum(pseudo_header("192.168.0.15", len(advert)) + advert)  # valid: sums to 0
0
>>> advert6 = vrrp_v3_advert("fe80::15%eth0", 41, 254, "2001:db8::174")
>>> len(advert6), checksum(pseudo_header("fe80::15", len(advert6)) + advert6)
(24, 0)
"""

from __future__ import annotations

import ipaddress
import socket
import struct
import sys
import time

VRRP_GROUPS = {4: ipaddress.ip_address("224.0.0.18"), 6: ipaddress.ip_address("ff02::12")}
VRRP_PROTOCOL = 112


def checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071) of ``data``, as a 16-bit number."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def pseudo_header(source: str, length: int) -> bytes:
    """The pseudo-header of a VRRP packet of ``length`` bytes from ``source`` to the group:
    IPv4's (RFC 768's layout) or IPv6's (RFC 8200 8.1), by the source's family."""
    address = ipaddress.ip_address(source.split("%")[0])
    ends = address.packed + VRRP_GROUPS[address.version].packed
    if address.version == 4:
        return ends + struct.pack("!BBH", 0, VRRP_PROTOCOL, length)
    return ends + struct.pack("!I3xB", length, VRRP_PROTOCOL)


def vrrp_v3_advert(source: str, vrid: int, priority: int, vip: str, centis: int = 100) -> bytes:
    """A VRRPv3 advertisement (RFC 5798) for one address, its checksum taken over the
    pseudo-header from ``source`` (of the VIP's family); ``centis`` is the advert interval in
    1/100 s."""
    body = struct.pack("!BBBBH", 0x31, vrid, priority, 1, centis)
    body += ipaddress.ip_address(vip).packed
    total = checksum(pseudo_header(source, len(body) + 2) + body[:6] + b"\0\0" + body[6:])
    return body[:6] + struct.pack("!H", total) + body[6:]


def send(payload: bytes, count: int, source: str | None = None, interval: float = 0.1) -> None:
    """Send ``payload`` ``count`` times to the VRRP group from a raw socket (needs root):
    over IPv4 by default, from ``source`` if given (``fe80::1%eth0`` for a link-local one)."""
    address, _, link = (source or "").partition("%")
    group: tuple[str, int] | tuple[str, int, int, int]
    if not address or ipaddress.ip_address(address).version == 4:
        sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, VRRP_PROTOCOL)
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 255)
        if address:
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(address))
        group = (str(VRRP_GROUPS[4]), 0)
    else:
        index = socket.if_nametoindex(link) if link else 0
        sock = socket.socket(socket.AF_INET6, socket.SOCK_RAW, VRRP_PROTOCOL)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, index)
        sock.bind((address, 0, 0, index))
        group = (str(VRRP_GROUPS[6]), 0, 0, index)
    with sock:
        for _ in range(count):
            sock.sendto(payload, group)
            time.sleep(interval)


if __name__ == "__main__":
    send(bytes.fromhex(sys.argv[1]), int(sys.argv[2]), *sys.argv[3:4])
