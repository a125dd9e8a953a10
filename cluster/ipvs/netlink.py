"""The kernel's IPVS table through generic netlink: read it, and apply a plan.

This is the only module that talks to IPVS; everything it returns or takes is the pure model
of :mod:`cluster.ipvs.table`. Reading goes through pyroute2 0.9.7; writing encodes its own
messages (pyroute2's request objects cost more Python per change than ipvsadm-restore spends
in all), one write and at most one read per service. The traps, each handled here once:

- pyroute2's ``IPVSDest`` defaults to direct routing (fwd_method 3), so the writer always
  sends the forwarding method, NAT's 0 included;
- ``IPVSDest.from_message()`` reports 3 even for NAT, so messages are read attribute by
  attribute, ``IPVS_DEST_ATTR_FWD_METHOD`` included;
- pyroute2's command ``"update"`` maps to a delete, so a ``set`` change is sent as the
  kernel's ``IPVS_CMD_SET_*``, never a delete and add;
- counters need the long names (``IPVS_STATS_ATTR_CONNS``);
- the tunnel port is big-endian in the kernel but a host-order u16 in pyroute2, so the reader
  swaps it and the writer packs it big-endian;
- the service netmask is an IPv4 mask in network order, but for an IPv6 service the kernel
  reads a prefix length in host byte order, so both sides convert it by family and the
  writer always sends it;
- ``netns=`` creates a missing namespace unless ``flags=0`` is given.

Needs root and a kernel with IPVS (the lab guest has one)::

    from cluster.ipvs.netlink import apply_plan, read_table
    from cluster.ipvs.plan import make_plan
    from cluster.ipvs.table import desired_table
    from cluster.spec import load_spec

    live = read_table(netns="director01")
    plan = make_plan(desired_table(load_spec(None)), live)
    print(plan.text())
    apply_plan(plan, netns="director01")
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import os
import socket
import struct
import sys
from collections.abc import Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from pyroute2 import IPVS, IPVSService
from pyroute2.netlink import NETLINK_GENERIC
from pyroute2.netlink.exceptions import NetlinkError
from pyroute2.netns import create_socket

from cluster.errors import ApplyError
from cluster.ipvs.plan import Change, Plan
from cluster.ipvs.table import (
    FORWARDING_CODES,
    PROTOCOL_NUMBERS,
    TUNNEL_CHECKSUMS,
    TUNNEL_TYPES,
    Destination,
    Service,
    ServiceKey,
    Stats,
    Table,
)

_FAMILY = {4: socket.AF_INET, 6: socket.AF_INET6}
_FAMILY_VERSION = {socket.AF_INET: 4, socket.AF_INET6: 6}
_PROTOCOLS = {number: name for name, number in PROTOCOL_NUMBERS.items()}
_FORWARDING = {code: name for name, code in FORWARDING_CODES.items()}
_CHECKSUMS = {bit: name for name, bit in TUNNEL_CHECKSUMS.items()}
_SCHED_AND_OPS_FLAGS = 0x1 | 0x4 | 0x8 | 0x10 | 0x20  # PERSISTENT | ONEPACKET | SCHED1-3
_STATS = ("conns", "inpkts", "outpkts", "inbytes", "outbytes", "cps", "inpps", "outpps",
          "inbps", "outbps")  # fmt: skip
_HEADER = "/proc/net/ip_vs"


@contextlib.contextmanager
def open_ipvs(netns: str | None = None) -> Iterator[IPVS]:
    """An IPVS netlink socket in ``netns`` (never creating it), with the failures that mean
    "no IPVS here" or "no such namespace" turned into one clear error each."""
    where = f"network namespace {netns!r}" if netns else "this network namespace"
    if netns and not Path(f"/run/netns/{netns}").exists():
        raise ApplyError("open IPVS", f"no {where} (see `ip netns list`)")
    try:
        ipvs = IPVS(netns=netns, flags=0) if netns else IPVS()
    except NetlinkError as err:
        if err.code == errno.ENOENT:
            raise ApplyError(
                "open IPVS",
                "this kernel has no IPVS (the generic netlink family is missing); "
                "use the lab guest (`cluster lab up`) or a kernel with ip_vs",
            ) from None
        raise ApplyError("open IPVS", f"{where}: {err}") from None
    except OSError as err:
        raise ApplyError("open IPVS", f"{where}: {err.strerror or err}") from None
    try:
        yield ipvs
    finally:
        ipvs.close()


# --- reading --------------------------------------------------------------------------------


def _stats(nla: Any) -> Stats:
    if nla is None:
        return Stats()
    return Stats(**{name: nla.get(f"IPVS_STATS_ATTR_{name.upper()}") or 0 for name in _STATS})


def _netmask_prefix(text: str, family: int) -> int:
    """The kernel's netmask attribute as a prefix length (see the module docstring)."""
    raw = socket.inet_aton(text)
    if family == 4:
        return ipaddress.IPv4Network(f"0.0.0.0/{text}").prefixlen
    return int.from_bytes(raw, sys.byteorder)


def _service(nla: Any) -> Service:
    family = _FAMILY_VERSION[nla.get("IPVS_SVC_ATTR_AF")]
    fwmark = nla.get("IPVS_SVC_ATTR_FWMARK") or 0
    if fwmark:
        key = ServiceKey.mark(fwmark, family)  # type: ignore[arg-type]
    else:
        key = ServiceKey.inet(
            _PROTOCOLS[nla.get("IPVS_SVC_ATTR_PROTOCOL")],
            nla.get("IPVS_SVC_ATTR_ADDR"),
            nla.get("IPVS_SVC_ATTR_PORT"),
        )
    flags = nla.get("IPVS_SVC_ATTR_FLAGS")["flags"]
    return Service(
        key=key,
        scheduler=nla.get("IPVS_SVC_ATTR_SCHED_NAME"),
        timeout=nla.get("IPVS_SVC_ATTR_TIMEOUT") if flags & 0x1 else 0,
        netmask=_netmask_prefix(nla.get("IPVS_SVC_ATTR_NETMASK"), family),
        sched_flags=flags & 0x38,
        one_packet=bool(flags & 0x4),
        pe_name=nla.get("IPVS_SVC_ATTR_PE_NAME") or "",
        stats=_stats(nla.get("IPVS_SVC_ATTR_STATS64")),
    )


def _dest(nla: Any) -> Destination:
    tun_type = nla.get("IPVS_DEST_ATTR_TUN_TYPE") or 0
    return Destination(
        address=ipaddress.ip_address(nla.get("IPVS_DEST_ATTR_ADDR")),
        port=nla.get("IPVS_DEST_ATTR_PORT"),
        weight=nla.get("IPVS_DEST_ATTR_WEIGHT"),
        # the raw attribute: IPVSDest.from_message() reports direct routing for NAT
        forwarding=_FORWARDING[nla.get("IPVS_DEST_ATTR_FWD_METHOD") & 0x7],
        upper_threshold=nla.get("IPVS_DEST_ATTR_U_THRESH") or 0,
        lower_threshold=nla.get("IPVS_DEST_ATTR_L_THRESH") or 0,
        tunnel_type=TUNNEL_TYPES[tun_type] if tun_type < len(TUNNEL_TYPES) else "ipip",
        tunnel_port=socket.ntohs(nla.get("IPVS_DEST_ATTR_TUN_PORT") or 0),
        tunnel_checksum=_CHECKSUMS.get(nla.get("IPVS_DEST_ATTR_TUN_FLAGS") or 0, "nocsum"),
        active_conns=nla.get("IPVS_DEST_ATTR_ACTIVE_CONNS") or 0,
        inact_conns=nla.get("IPVS_DEST_ATTR_INACT_CONNS") or 0,
        persist_conns=nla.get("IPVS_DEST_ATTR_PERSIST_CONNS") or 0,
        stats=_stats(nla.get("IPVS_DEST_ATTR_STATS64")),
    )


def _header() -> tuple[str, int]:
    """IPVS version and connection table size, which ipvsadm prints first; both are the
    kernel's, the same in every namespace, and /proc shows them without a netlink dialect
    pyroute2 lacks (its message class has no IPVS_INFO attributes)."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        with open(_HEADER) as proc:  # the first line only: the rest is the whole table
            first = proc.readline()
        version = first.split("version ", 1)[1].split(" ", 1)[0]
        size = int(first.split("size=", 1)[1].rstrip(")\n"))
        return version, size
    return "1.2.1", 4096


def _key_request(key: ServiceKey) -> IPVSService:
    """The service's key alone: all the kernel reads to find it for a get or a dump."""
    if key.fwmark:
        return IPVSService(af=_FAMILY[key.family], fwmark=key.fwmark)
    assert key.protocol is not None
    return IPVSService(af=_FAMILY[key.family], protocol=PROTOCOL_NUMBERS[key.protocol],
                       addr=str(key.address), port=key.port)  # fmt: skip


def _read_service(ipvs: IPVS, message: Any) -> Service:
    service = _service(message.get("IPVS_CMD_ATTR_SERVICE"))
    dests = ipvs.dest("dump", service=_key_request(service.key))
    return replace(service, destinations=tuple(_dest(m.get("IPVS_CMD_ATTR_DEST")) for m in dests))


def read_table(netns: str | None = None, keys: Iterable[ServiceKey] | None = None) -> Table:
    """The kernel's table, counters included; with ``keys``, only those services (the ones
    missing from the kernel are left out), which keeps a small change in a big table fast."""
    services = []
    with open_ipvs(netns) as ipvs:
        try:
            if keys is None:
                services = [_read_service(ipvs, m) for m in ipvs.service("dump")]
            for key in keys or ():
                try:
                    found = ipvs.service("get", service=_key_request(key))
                except NetlinkError as err:
                    if err.code != errno.ESRCH:
                        raise
                    continue
                services += [_read_service(ipvs, m) for m in found]
        except NetlinkError as err:
            raise ApplyError("read the IPVS table", str(err)) from None
    version, size = _header()
    return Table(tuple(services), version=version, size=size)


# --- writing --------------------------------------------------------------------------------


# The writer encodes IPVS's generic netlink messages itself (attribute numbers from
# <linux/ip_vs.h>): pyroute2's request objects cost about a millisecond of Python per change,
# which on 50,000 changes was slower than ipvsadm-restore's C.
_NLMSG = struct.Struct("=IHHII")  # nlmsghdr: length, type (the family id), flags, seq, port
_GENL = struct.Struct("=BBH")  # genlmsghdr: command, version, reserved
_NLM_F_REQUEST, _NLM_F_ACK, _NLMSG_ERROR, _NLA_F_NESTED = 0x1, 0x4, 2, 0x8000
_SOL_NETLINK, _NETLINK_CAP_ACK = 270, 10
_IPVS_GENL_VERSION = 1
_COMMANDS = {("add", "service"): 1, ("set", "service"): 2, ("del", "service"): 3,
             ("add", "dest"): 5, ("set", "dest"): 6, ("del", "dest"): 7}  # fmt: skip
_CMD_ATTR_SERVICE, _CMD_ATTR_DEST = 1, 2
_SVC_AF, _SVC_PROTOCOL, _SVC_ADDR, _SVC_PORT, _SVC_FWMARK = 1, 2, 3, 4, 5
_SVC_SCHED_NAME, _SVC_FLAGS, _SVC_TIMEOUT, _SVC_NETMASK, _SVC_PE_NAME = 6, 7, 8, 9, 11
_DEST_ADDR, _DEST_PORT, _DEST_FWD_METHOD, _DEST_WEIGHT, _DEST_U_THRESH = 1, 2, 3, 4, 5
_DEST_L_THRESH, _DEST_ADDR_FAMILY, _DEST_TUN_TYPE, _DEST_TUN_PORT, _DEST_TUN_FLAGS = (
    6, 11, 13, 14, 15)  # fmt: skip
#: Changes per write: the kernel runs every message of one write even after a refusal, so a
#: write holds one service's changes only, and at most this many (well under the socket's
#: send buffer: a message is under 200 bytes).
_BATCH = 128


def _attr(kind: int, payload: bytes) -> bytes:
    """One netlink attribute, padded to 4 bytes."""
    return struct.pack("=HH", 4 + len(payload), kind) + payload + bytes(-len(payload) % 4)


def _netmask_attr(service: Service) -> bytes:
    """A dotted mask in network order for IPv4, a host-order prefix length for IPv6."""
    if service.key.family == 4:
        return struct.pack(">I", (0xFFFFFFFF << (32 - service.netmask)) & 0xFFFFFFFF)
    return struct.pack("=I", service.netmask)


def _service_attr(service: Service, full: bool) -> bytes:
    """The service nest: its key, and with ``full`` every setting (``add`` and ``set``; the
    kernel reads only the key for the other commands)."""
    key = service.key
    parts = [_attr(_SVC_AF, struct.pack("=H", _FAMILY[key.family]))]
    if key.fwmark:
        parts.append(_attr(_SVC_FWMARK, struct.pack("=I", key.fwmark)))
    else:
        assert key.protocol is not None and key.address is not None
        parts += [
            _attr(_SVC_PROTOCOL, struct.pack("=H", PROTOCOL_NUMBERS[key.protocol])),
            _attr(_SVC_ADDR, key.address.packed),
            _attr(_SVC_PORT, struct.pack(">H", key.port)),
        ]
    if full:
        parts += [
            _attr(_SVC_SCHED_NAME, service.scheduler.encode() + b"\0"),
            _attr(_SVC_FLAGS, struct.pack("=II", service.flags, _SCHED_AND_OPS_FLAGS)),
            _attr(_SVC_TIMEOUT, struct.pack("=I", service.timeout)),
            _attr(_SVC_NETMASK, _netmask_attr(service)),
        ]
        if service.pe_name:
            parts.append(_attr(_SVC_PE_NAME, service.pe_name.encode() + b"\0"))
    return _attr(_CMD_ATTR_SERVICE | _NLA_F_NESTED, b"".join(parts))


def _dest_attr(dest: Destination, full: bool) -> bytes:
    """The real server nest; the forwarding method is always sent with the settings, so NAT
    (0) is never left to a default."""
    parts = [
        _attr(_DEST_ADDR, dest.address.packed),
        _attr(_DEST_PORT, struct.pack(">H", dest.port)),
        _attr(_DEST_ADDR_FAMILY, struct.pack("=H", _FAMILY[dest.address.version])),
    ]
    if full:
        parts += [
            _attr(_DEST_FWD_METHOD, struct.pack("=I", FORWARDING_CODES[dest.forwarding])),
            _attr(_DEST_WEIGHT, struct.pack("=I", dest.weight)),
            _attr(_DEST_U_THRESH, struct.pack("=I", dest.upper_threshold)),
            _attr(_DEST_L_THRESH, struct.pack("=I", dest.lower_threshold)),
            _attr(_DEST_TUN_TYPE, struct.pack("=B", TUNNEL_TYPES.index(dest.tunnel_type))),
            _attr(_DEST_TUN_PORT, struct.pack(">H", dest.tunnel_port)),  # the kernel's be16
            _attr(_DEST_TUN_FLAGS, struct.pack("=H", TUNNEL_CHECKSUMS[dest.tunnel_checksum])),
        ]
    return _attr(_CMD_ATTR_DEST | _NLA_F_NESTED, b"".join(parts))


def _message(family: int, change: Change, seq: int, flags: int) -> bytes:
    full = change.op != "del"
    body = _GENL.pack(_COMMANDS[change.op, change.target], _IPVS_GENL_VERSION, 0)
    body += _service_attr(change.service, full and change.dest is None)
    if change.dest is not None:
        body += _dest_attr(change.dest, full)
    return _NLMSG.pack(_NLMSG.size + len(body), family, flags, seq, 0) + body


def _batches(plan: Plan) -> Iterator[list[int]]:
    """Indexes of the plan's changes, one service's run of changes (at most ``_BATCH``) at a
    time: a refusal then stops the apply before any other service is touched."""
    batch: list[int] = []
    for index, change in enumerate(plan):
        if batch and (
            len(batch) == _BATCH or plan.changes[batch[0]].service.key != change.service.key
        ):
            yield batch
            batch = []
        batch.append(index)
    if batch:
        yield batch


def _refusal(sock: socket.socket, last_seq: int) -> tuple[int, int] | None:
    """Read the kernel's answers up to the acknowledgement of ``last_seq``: the first refusal
    as (seq, errno), or None. Only refusals and the batch's last message are answered, so a
    batch costs one read, not one per change."""
    refused = None
    while True:
        data = sock.recv(65536)
        offset = 0
        while offset + _NLMSG.size <= len(data):
            length, kind, _, seq, _ = _NLMSG.unpack_from(data, offset)
            if kind == _NLMSG_ERROR:
                (error,) = struct.unpack_from("=i", data, offset + _NLMSG.size)
                if error and refused is None:
                    refused = (seq, -error)
                if seq == last_seq:
                    return refused
            offset += max(_NLMSG.size, (length + 3) & ~3)


@contextlib.contextmanager
def _ipvs_socket(netns: str | None) -> Iterator[tuple[socket.socket, int]]:
    """A plain generic netlink socket in ``netns`` and IPVS's family id (found through
    :func:`open_ipvs`, so a missing IPVS or namespace fails the same clear way)."""
    with open_ipvs(netns) as ipvs:
        family = ipvs.prid
    sock = create_socket(netns, socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_GENERIC, flags=0)
    with sock:
        sock.setsockopt(_SOL_NETLINK, _NETLINK_CAP_ACK, 1)  # refusals without our request
        yield sock, family


def apply_plan(plan: Plan, netns: str | None = None) -> int:
    """Run the plan's changes in order; returns how many ran.

    Stops at the first refusal with an :class:`ApplyError` naming the change, because later
    changes may depend on it (a real server on a service that failed to appear). The
    changes of one service go in one write, and the kernel runs a write to its end, so the
    refused service's later changes have been tried too (a real server of a service that
    failed to appear is refused in turn); no other service is touched. Rolling back what
    already ran is the caller's choice: it has the plan and the old table.
    """
    changes = plan.changes
    with _ipvs_socket(netns) as (sock, family):
        for batch in _batches(plan):
            last = batch[-1]
            data = b"".join(
                _message(
                    family, changes[i], i + 1, _NLM_F_REQUEST | (_NLM_F_ACK if i == last else 0)
                )
                for i in batch
            )
            try:
                sock.send(data)
                refused = _refusal(sock, last + 1)
            except OSError as err:
                raise ApplyError(str(changes[batch[0]]), err.strerror or str(err)) from None
            if refused:
                seq, code = refused
                raise ApplyError(str(changes[seq - 1]), f"{os.strerror(code)} (errno {code})")
    return len(changes)


def read_connections(netns: str | None = None) -> str:
    """The text of ``/proc/net/ip_vs_conn`` as seen in ``netns``: IPVS's connection table is
    not in its netlink API, so ``ipvsadm -c`` reads this file too."""
    if netns is None:
        return Path("/proc/net/ip_vs_conn").read_text()
    if not Path(f"/run/netns/{netns}").exists():
        raise ApplyError("read IPVS connections", f"no network namespace {netns!r}")
    from pyroute2.netns import popns, pushns

    pushns(netns)
    try:
        return Path("/proc/thread-self/net/ip_vs_conn").read_text()
    finally:
        popns()
