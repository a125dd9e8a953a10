"""The kernel's IPVS table through generic netlink: read it, and apply a plan.

This is the only module that talks to IPVS; everything it returns or takes is the pure model
of :mod:`cluster.ipvs.table`. It encodes and decodes IPVS's generic netlink messages itself
(attribute numbers from ``<linux/ip_vs.h>``): pyroute2's request objects cost more Python
per change than ipvsadm-restore spends in all, and its reply objects for 50,000 services
took more memory than the lab's UML guest can map. Writing is one write and at most one
read per service; reading, one dump of the services and one of each service's real servers.
pyroute2 only enters other network namespaces. The traps, each handled here once:

- the forwarding method is always sent, NAT's 0 included (pyroute2's ``IPVSDest`` defaults
  to direct routing, 3, and reports 3 even for NAT when it decodes);
- a ``set`` change is the kernel's ``IPVS_CMD_SET_*``, never a delete and add (pyroute2's
  command ``"update"`` maps to a delete);
- the tunnel port is big-endian in the kernel, and so is the service's port;
- the service netmask is an IPv4 mask in network order, but for an IPv6 service the kernel
  reads a prefix length in host byte order, so both sides convert it by family and the
  writer always sends it;
- an address attribute is the kernel's whole ``union nf_inet_addr``, 16 bytes for IPv4 too;
- a namespace is entered, never created (pyroute2's ``create_socket`` with ``flags=0``).

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
import functools
import ipaddress
import itertools
import os
import socket
import struct
from collections.abc import Iterable, Iterator
from dataclasses import replace
from pathlib import Path

from cluster.errors import ApplyError
from cluster.ipvs.plan import Change, Plan
from cluster.ipvs.table import (
    FORWARDING_CODES,
    PROTOCOL_NUMBERS,
    TUNNEL_CHECKSUMS,
    TUNNEL_TYPES,
    Destination,
    IPAddress,
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
_HEADER = "/proc/net/ip_vs"


# --- the wire -------------------------------------------------------------------------------

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
NETLINK_GENERIC = 16
_NLM_F_MULTI, _NLM_F_DUMP, _NLMSG_DONE = 0x2, 0x300, 3
_CMD_GET_SERVICE, _CMD_GET_DEST = 4, 8
_SVC_STATS64 = _DEST_STATS64 = 12
_DEST_ACTIVE, _DEST_INACTIVE, _DEST_PERSIST = 7, 8, 9
_GENL_ID_CTRL, _CTRL_CMD_GETFAMILY, _CTRL_ATTR_FAMILY_ID, _CTRL_ATTR_FAMILY_NAME = 0x10, 3, 1, 2
_U16, _U32, _U64, _BE16 = (struct.Struct(f) for f in ("=H", "=I", "=Q", ">H"))
#: Large enough for any datagram of a dump (the kernel fills up to 32 KiB).
_RECV = 1 << 20
_SEQ = itertools.count(1)


def _attr(kind: int, payload: bytes) -> bytes:
    """One netlink attribute, padded to 4 bytes."""
    return struct.pack("=HH", 4 + len(payload), kind) + payload + bytes(-len(payload) % 4)


def _family_id(sock: socket.socket) -> int:
    """IPVS's generic netlink family id, asked of the kernel's controller (CTRL_CMD_GETFAMILY);
    ENOENT when the kernel has no IPVS."""
    seq = next(_SEQ)
    body = _GENL.pack(_CTRL_CMD_GETFAMILY, 1, 0) + _attr(_CTRL_ATTR_FAMILY_NAME, b"IPVS\0")
    sock.send(_NLMSG.pack(_NLMSG.size + len(body), _GENL_ID_CTRL, _NLM_F_REQUEST, seq, 0) + body)
    for payload in _replies(sock, seq):
        return int(_U16.unpack(_attrs(payload)[_CTRL_ATTR_FAMILY_ID])[0])
    raise OSError(errno.ENOENT, "no reply from the generic netlink controller")


@contextlib.contextmanager
def ipvs_socket(netns: str | None = None) -> Iterator[tuple[socket.socket, int]]:
    """A generic netlink socket in ``netns`` (never creating it) and IPVS's family id, with
    the failures that mean "no IPVS here" or "no such namespace" turned into one clear error
    each. pyroute2 is imported only to enter another namespace: in the lab the command runs
    in the node's own, and its import costs most of a second there."""
    where = f"network namespace {netns!r}" if netns else "this network namespace"
    if netns and not Path(f"/run/netns/{netns}").exists():
        raise ApplyError("open IPVS", f"no {where} (see `ip netns list`)")
    try:
        if netns:
            from pyroute2.netns import create_socket

            sock = create_socket(netns, socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_GENERIC,
                                 flags=0)  # fmt: skip
        else:
            sock = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_GENERIC)
    except OSError as err:
        raise ApplyError("open IPVS", f"{where}: {err.strerror or err}") from None
    with sock:
        try:
            sock.bind((0, 0))
            family = _family_id(sock)
        except OSError as err:
            if err.errno == errno.ENOENT:
                raise ApplyError(
                    "open IPVS",
                    "this kernel has no IPVS (the generic netlink family is missing); "
                    "use the lab guest (`cluster lab up`) or a kernel with ip_vs",
                ) from None
            raise ApplyError("open IPVS", f"{where}: {err.strerror or err}") from None
        sock.setsockopt(_SOL_NETLINK, _NETLINK_CAP_ACK, 1)  # refusals without our request
        yield sock, family


# --- reading --------------------------------------------------------------------------------


def _attrs(data: bytes | memoryview, offset: int = 0) -> dict[int, memoryview]:
    """Netlink attributes by type (the nested flag masked off), payloads without padding."""
    view = memoryview(data)
    found: dict[int, memoryview] = {}
    end = len(view)
    while offset + 4 <= end:
        length, kind = struct.unpack_from("=HH", view, offset)
        if length < 4:
            break
        found[kind & 0x3FFF] = view[offset + 4 : offset + length]
        offset += (length + 3) & ~3
    return found


def _u32(attrs: dict[int, memoryview], kind: int) -> int:
    value = attrs.get(kind)
    return _U32.unpack(value)[0] if value is not None else 0


def _stats(nest: memoryview | None) -> Stats:
    """IPVS_*_ATTR_STATS64: ten u64 counters and rates, numbered 1-10 in the order of
    :class:`~cluster.ipvs.table.Stats`' fields."""
    if nest is None:
        return Stats()
    attrs = _attrs(nest)
    return Stats(*(_U64.unpack(attrs[i])[0] if i in attrs else 0 for i in range(1, 11)))


def _address(raw: memoryview, family: int) -> IPAddress:
    """An address attribute: the kernel sends the whole ``union nf_inet_addr``, 16 bytes."""
    return (
        ipaddress.IPv4Address(bytes(raw[:4]))
        if family == 4
        else ipaddress.IPv6Address(bytes(raw[:16]))
    )


def _service(nest: memoryview) -> Service:
    attrs = _attrs(nest)
    family = _FAMILY_VERSION[_U16.unpack(attrs[_SVC_AF])[0]]
    fwmark = _u32(attrs, _SVC_FWMARK)
    if fwmark:
        key = ServiceKey.mark(fwmark, family)  # type: ignore[arg-type]
    else:
        key = ServiceKey.inet(
            _PROTOCOLS[_U16.unpack(attrs[_SVC_PROTOCOL])[0]],
            _address(attrs[_SVC_ADDR], family),
            _BE16.unpack(attrs[_SVC_PORT])[0],
        )
    flags = _U32.unpack_from(attrs[_SVC_FLAGS])[0]
    mask = _U32.unpack(attrs[_SVC_NETMASK])[0]
    return Service(
        key=key,
        scheduler=bytes(attrs[_SVC_SCHED_NAME]).rstrip(b"\0").decode(),
        timeout=_u32(attrs, _SVC_TIMEOUT) if flags & 0x1 else 0,
        # an IPv4 mask in network order; for IPv6 the kernel keeps a prefix length
        netmask=bin(mask).count("1") if family == 4 else mask,
        sched_flags=flags & 0x38,
        one_packet=bool(flags & 0x4),
        pe_name=bytes(attrs[_SVC_PE_NAME]).rstrip(b"\0").decode() if _SVC_PE_NAME in attrs else "",
        stats=_stats(attrs.get(_SVC_STATS64)),
    )


def _dest(nest: memoryview, service_family: int) -> Destination:
    attrs = _attrs(nest)
    family = service_family
    if _DEST_ADDR_FAMILY in attrs:
        family = _FAMILY_VERSION[_U16.unpack(attrs[_DEST_ADDR_FAMILY])[0]]
    tun_type = attrs[_DEST_TUN_TYPE][0] if _DEST_TUN_TYPE in attrs else 0
    tun_flags = _U16.unpack(attrs[_DEST_TUN_FLAGS])[0] if _DEST_TUN_FLAGS in attrs else 0
    return Destination(
        address=_address(attrs[_DEST_ADDR], family),
        port=_BE16.unpack(attrs[_DEST_PORT])[0],
        weight=_u32(attrs, _DEST_WEIGHT),
        forwarding=_FORWARDING[_u32(attrs, _DEST_FWD_METHOD) & 0x7],
        upper_threshold=_u32(attrs, _DEST_U_THRESH),
        lower_threshold=_u32(attrs, _DEST_L_THRESH),
        tunnel_type=TUNNEL_TYPES[tun_type] if tun_type < len(TUNNEL_TYPES) else "ipip",
        tunnel_port=_BE16.unpack(attrs[_DEST_TUN_PORT])[0] if _DEST_TUN_PORT in attrs else 0,
        tunnel_checksum=_CHECKSUMS.get(tun_flags, "nocsum"),
        active_conns=_u32(attrs, _DEST_ACTIVE),
        inact_conns=_u32(attrs, _DEST_INACTIVE),
        persist_conns=_u32(attrs, _DEST_PERSIST),
        stats=_stats(attrs.get(_DEST_STATS64)),
    )


def _replies(sock: socket.socket, seq: int) -> Iterator[memoryview]:
    """The attributes of each reply to request ``seq`` (after the generic netlink header),
    until the dump's end or the single reply; a refusal raises :class:`OSError`."""
    while True:
        data = memoryview(sock.recv(_RECV))
        offset, last = 0, False
        while offset + _NLMSG.size <= len(data):
            length, kind, flags, got_seq, _ = _NLMSG.unpack_from(data, offset)
            if got_seq == seq:
                if kind == _NLMSG_ERROR:
                    (error,) = struct.unpack_from("=i", data, offset + _NLMSG.size)
                    if error:
                        raise OSError(-error, os.strerror(-error))
                    return
                if kind == _NLMSG_DONE:
                    return
                yield data[offset + _NLMSG.size + _GENL.size : offset + length]
                last = not flags & _NLM_F_MULTI
            offset += max(_NLMSG.size, (length + 3) & ~3)
        if last:
            return


def _ask(
    sock: socket.socket, family: int, command: int, body: bytes, dump: bool
) -> Iterator[dict[int, memoryview]]:
    """One request; each reply's top-level attributes."""
    seq = next(_SEQ)
    message = _GENL.pack(command, _IPVS_GENL_VERSION, 0) + body
    flags = _NLM_F_REQUEST | (_NLM_F_DUMP if dump else 0)
    sock.send(_NLMSG.pack(_NLMSG.size + len(message), family, flags, seq, 0) + message)
    for payload in _replies(sock, seq):
        yield _attrs(payload)


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


def read_table(netns: str | None = None, keys: Iterable[ServiceKey] | None = None) -> Table:
    """The kernel's table, counters included; with ``keys``, only those services (the ones
    missing from the kernel are left out), which keeps a small change in a big table fast.

    One dump of the services, then one dump of each service's real servers (the kernel
    lists real servers per service only).
    """
    with ipvs_socket(netns) as (sock, family):
        try:
            if keys is None:
                found = [_service(a[_CMD_ATTR_SERVICE])
                         for a in _ask(sock, family, _CMD_GET_SERVICE, b"", dump=True)]  # fmt: skip
            else:
                found = []
                for key in keys:
                    try:
                        request = _service_attr(Service(key), full=False)
                        replies = _ask(sock, family, _CMD_GET_SERVICE, request, dump=False)
                        found += [_service(a[_CMD_ATTR_SERVICE]) for a in replies]
                    except OSError as err:
                        if err.errno != errno.ESRCH:
                            raise
            services = [
                replace(service, destinations=tuple(
                    _dest(a[_CMD_ATTR_DEST], service.key.family)
                    for a in _ask(sock, family, _CMD_GET_DEST,
                                  _service_attr(service, full=False), dump=True)
                ))
                for service in found
            ]  # fmt: skip
        except OSError as err:
            raise ApplyError("read the IPVS table", err.strerror or str(err)) from None
    version, size = _header()
    return Table(tuple(services), version=version, size=size)


def count_services(netns: str | None = None) -> int:
    """How many services the kernel holds: one dump of the services, without their real
    servers. ``/proc/net/ip_vs`` cannot tell: the lab's 6.1 guest kernel lists a table short
    when it is read in pieces (49 of 50 services, seen in a fresh namespace)."""
    with ipvs_socket(netns) as (sock, family):
        try:
            return sum(1 for _ in _ask(sock, family, _CMD_GET_SERVICE, b"", dump=True))
        except OSError as err:
            raise ApplyError("read the IPVS table", err.strerror or str(err)) from None


# --- writing --------------------------------------------------------------------------------


# The writer encodes IPVS's generic netlink messages itself (attribute numbers from
# <linux/ip_vs.h>): pyroute2's request objects cost about a millisecond of Python per change,
# which on 50,000 changes was slower than ipvsadm-restore's C.
#: Changes per write: the kernel runs every message of one write even after a refusal, so a
#: write holds one service's changes only, and at most this many (well under the socket's
#: send buffer: a message is under 200 bytes).
_BATCH = 128


def _netmask_attr(service: Service) -> bytes:
    """A dotted mask in network order for IPv4, a host-order prefix length for IPv6."""
    if service.key.family == 4:
        return struct.pack(">I", (0xFFFFFFFF << (32 - service.netmask)) & 0xFFFFFFFF)
    return struct.pack("=I", service.netmask)


@functools.lru_cache(maxsize=256)  # a service's real servers' changes name it in turn
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


@functools.lru_cache(maxsize=1024)  # big tables repeat real servers behind many services
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


def writes(plan: Plan, family: int) -> Iterator[tuple[list[int], bytes]]:
    """The plan as the writes :func:`apply_plan` sends, encoded for IPVS's ``family`` id:
    each one service's run of changes (their indexes) and its messages. The Python half of
    an apply; :func:`send` is the kernel's."""
    changes = plan.changes
    for batch in _batches(plan):
        last = batch[-1]
        yield (
            batch,
            b"".join(
                _message(
                    family, changes[i], i + 1, _NLM_F_REQUEST | (_NLM_F_ACK if i == last else 0)
                )
                for i in batch
            ),
        )


def send(sock: socket.socket, plan: Plan, batch: list[int], data: bytes) -> None:
    """Send one of :func:`writes`' writes and read the kernel's answer; a refusal raises
    :class:`ApplyError` naming the change."""
    changes = plan.changes
    try:
        sock.send(data)
        refused = _refusal(sock, batch[-1] + 1)
    except OSError as err:
        raise ApplyError(str(changes[batch[0]]), err.strerror or str(err)) from None
    if refused:
        seq, code = refused
        raise ApplyError(str(changes[seq - 1]), f"{os.strerror(code)} (errno {code})")


def apply_plan(plan: Plan, netns: str | None = None) -> int:
    """Run the plan's changes in order; returns how many ran.

    Stops at the first refusal with an :class:`ApplyError` naming the change, because later
    changes may depend on it (a real server on a service that failed to appear). The
    changes of one service go in one write, and the kernel runs a write to its end, so the
    refused service's later changes have been tried too (a real server of a service that
    failed to appear is refused in turn); no other service is touched. Rolling back what
    already ran is the caller's choice: it has the plan and the old table.
    """
    with ipvs_socket(netns) as (sock, family):
        for batch, data in writes(plan, family):
            send(sock, plan, batch, data)
    return len(plan.changes)


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
