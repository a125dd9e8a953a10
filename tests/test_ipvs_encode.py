"""The netlink writer's messages, decoded again: the pyroute2 traps stay handled without a
kernel, and a plan is cut into one write per service so a refusal touches no other service."""

from __future__ import annotations

import ipaddress
import struct

from cluster.ipvs import netlink
from cluster.ipvs.plan import Change, Plan, make_plan
from cluster.ipvs.table import Destination, Service, ServiceKey, Table

FAMILY_ID = 0x42


def _attrs(data: bytes) -> dict[int, bytes]:
    """Netlink attributes by type (flags masked off), payloads unpadded."""
    found, offset = {}, 0
    while offset < len(data):
        length, kind = struct.unpack_from("=HH", data, offset)
        found[kind & 0x3FFF] = data[offset + 4 : offset + length]
        offset += (length + 3) & ~3
    return found


def _decode(change: Change, flags: int = 1) -> tuple[int, dict[int, bytes], dict[int, bytes]]:
    """The command, the service nest and the real server nest of ``change``'s message."""
    message = netlink._message(FAMILY_ID, change, 7, flags)
    length, kind, got_flags, seq, _ = struct.unpack_from("=IHHII", message)
    assert (length, kind, got_flags, seq) == (len(message), FAMILY_ID, flags, 7)
    command, version, _ = struct.unpack_from("=BBH", message, 16)
    assert version == 1
    top = _attrs(message[20:])
    return command, _attrs(top[1]), _attrs(top.get(2, b""))


def test_nat_real_server_sends_forwarding_zero_and_a_big_endian_tunnel_port() -> None:
    service = Service(ServiceKey.inet("TCP", "192.0.2.10", 80), "rr")
    dest = Destination(ipaddress.ip_address("10.0.0.5"), 8080, weight=3, tunnel_port=6080)
    command, svc, rs = _decode(Change("add", service, dest))
    assert command == 5  # IPVS_CMD_NEW_DEST
    assert set(svc) == {1, 2, 3, 4}  # a destination command names its service by key only
    assert svc[3] == bytes([192, 0, 2, 10]) and svc[4] == struct.pack(">H", 80)
    assert struct.unpack("=I", rs[3]) == (0,)  # NAT, never left to pyroute2's DR default
    assert struct.unpack("=I", rs[4]) == (3,)
    assert rs[2] == struct.pack(">H", 8080) and rs[14] == struct.pack(">H", 6080)


def test_set_is_the_kernels_set_and_netmasks_follow_the_family() -> None:
    v4 = Service(ServiceKey.inet("TCP", "192.0.2.10", 443), "wlc", timeout=300, netmask=24)
    command, svc, _ = _decode(Change("set", v4))
    assert command == 2  # IPVS_CMD_SET_SERVICE, not pyroute2's "update" (a delete)
    assert svc[6] == b"wlc\0" and struct.unpack("=I", svc[8]) == (300,)
    assert svc[9] == bytes([255, 255, 255, 0])
    v6 = Service(ServiceKey.inet("TCP", "2001:db8::1", 443), "rr", timeout=300, netmask=64)
    _, svc, _ = _decode(Change("add", v6))
    assert struct.unpack("=I", svc[9]) == (64,)  # a host-order prefix length for IPv6


def test_a_plan_is_written_one_service_at_a_time() -> None:
    dests = tuple(Destination(ipaddress.ip_address(f"10.0.0.{i}"), 80) for i in range(1, 4))
    table = Table(
        tuple(
            Service(ServiceKey.inet("TCP", f"192.0.2.{i}", 80), "rr", destinations=dests)
            for i in range(1, 4)
        )
    )
    plan = make_plan(table, Table())
    assert list(netlink._batches(plan)) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]
    big = Plan(plan.changes[:1] * (netlink._BATCH + 1))
    assert [len(b) for b in netlink._batches(big)] == [netlink._BATCH, 1]
