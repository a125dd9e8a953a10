"""VRRP adverts made by hand: what a host that is no director would send to take the VIPs.

The directors' firewall admits VRRP (IP protocol 112, to 224.0.0.18) only from the peer
director; any other host on the segment could otherwise claim a virtual router with a higher
priority and win the election (RFC 5798: the higher priority wins). The lab proves the rule
with adverts from this module, sent from the mail server's namespace:
``python3 -m cluster.lab.adverts PAYLOAD_HEX COUNT`` sends COUNT copies, 0.1 s apart, with
TTL 255 as VRRP requires. Standard library only: it runs in the lab guest's Python.

>>> advert = vrrp_v3_advert("192.168.0.15", 41, 254, "192.168.0.174")
>>> advert.hex()  # version 3, advertisement; router 41; priority 254; one address
'3129fe0100646dd3c0a800ae'
>>> pseudo = socket.inet_aton("192.168.0.15") + socket.inet_aton(VRRP_GROUP)
>>> checksum(pseudo + bytes([0, VRRP_PROTOCOL, 0, len(advert)]) + advert)  # valid: sums to 0
0
"""

from __future__ import annotations

import socket
import struct
import sys
import time

VRRP_GROUP = "224.0.0.18"
VRRP_PROTOCOL = 112


def checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071) of ``data``, as a 16-bit number."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def vrrp_v3_advert(source: str, vrid: int, priority: int, vip: str, centis: int = 100) -> bytes:
    """A VRRPv3 advertisement (RFC 5798) for one IPv4 address, its checksum taken over the
    IPv4 pseudo-header from ``source``; ``centis`` is the advert interval in 1/100 s."""
    body = struct.pack("!BBBBH", 0x31, vrid, priority, 1, centis) + socket.inet_aton(vip)
    pseudo = socket.inet_aton(source) + socket.inet_aton(VRRP_GROUP)
    pseudo += struct.pack("!BBH", 0, VRRP_PROTOCOL, len(body) + 2)
    total = checksum(pseudo + body[:6] + b"\0\0" + body[6:])
    return body[:6] + struct.pack("!H", total) + body[6:]


def send(payload: bytes, count: int, interval: float = 0.1) -> None:
    """Send ``payload`` ``count`` times to the VRRP group from a raw socket (needs root)."""
    with socket.socket(socket.AF_INET, socket.SOCK_RAW, VRRP_PROTOCOL) as sock:
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 255)
        for _ in range(count):
            sock.sendto(payload, (VRRP_GROUP, 0))
            time.sleep(interval)


if __name__ == "__main__":
    send(bytes.fromhex(sys.argv[1]), int(sys.argv[2]))
