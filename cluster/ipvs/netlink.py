"""The kernel's IPVS table through generic netlink (pyroute2): read it, and apply a plan.

This is the only module that talks to IPVS; everything it returns or takes is the pure model
of :mod:`cluster.ipvs.table`. pyroute2 0.9.7 has traps, each handled here once:

- ``IPVSDest`` defaults to direct routing (fwd_method 3), so NAT (0) is always sent;
- ``IPVSDest.from_message()`` reports 3 even for NAT, so messages are read attribute by
  attribute, ``IPVS_DEST_ATTR_FWD_METHOD`` included;
- the command ``"update"`` maps to a delete, so changes use ``"set"``;
- counters need the long names (``IPVS_STATS_ATTR_CONNS``);
- the tunnel port is big-endian in the kernel but a host-order u16 in pyroute2, so it is
  swapped both ways;
- the service netmask is typed as an IPv4 address, but for an IPv6 service the kernel reads a
  prefix length in host byte order, so it is packed by hand and always sent;
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
import socket
import struct
import sys
from collections.abc import Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from pyroute2 import IPVS, IPVSDest, IPVSService
from pyroute2.netlink.exceptions import NetlinkError

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
        first = Path(_HEADER).read_text().split("\n", 1)[0]
        version = first.split("version ", 1)[1].split(" ", 1)[0]
        size = int(first.split("size=", 1)[1].rstrip(")"))
        return version, size
    return "1.2.1", 4096


def _read_service(ipvs: IPVS, message: Any) -> Service:
    service = _service(message.get("IPVS_CMD_ATTR_SERVICE"))
    dests = ipvs.dest("dump", service=_service_request(service))
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
                    found = ipvs.service("get", service=_service_request(Service(key)))
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


def _netmask_attr(service: Service) -> str:
    if service.key.family == 4:
        return str(ipaddress.IPv4Network(f"0.0.0.0/{service.netmask}").netmask)
    return socket.inet_ntoa(struct.pack("=I", service.netmask))


def _service_request(service: Service) -> IPVSService:
    key = service.key
    fields: dict[str, Any] = {"af": _FAMILY[key.family]}
    if key.fwmark:
        fields["fwmark"] = key.fwmark
    else:
        assert key.protocol is not None
        fields |= {
            "protocol": PROTOCOL_NUMBERS[key.protocol],
            "addr": str(key.address),
            "port": key.port,
        }
    fields |= {
        "sched_name": service.scheduler,
        "flags": {"flags": service.flags, "mask": _SCHED_AND_OPS_FLAGS},
        "timeout": service.timeout,
        "netmask": _netmask_attr(service),
    }
    if service.pe_name:
        fields["pe_name"] = service.pe_name
    return IPVSService(**fields)


def _dest_request(dest: Destination) -> IPVSDest:
    return IPVSDest(
        addr=str(dest.address),
        port=dest.port,
        weight=dest.weight,
        fwd_method=FORWARDING_CODES[dest.forwarding],  # always sent: the default is DR
        u_thresh=dest.upper_threshold,
        l_thresh=dest.lower_threshold,
        tun_type=TUNNEL_TYPES.index(dest.tunnel_type),
        tun_port=socket.htons(dest.tunnel_port),  # the kernel reads be16; pyroute2 packs u16
        tun_flags=TUNNEL_CHECKSUMS[dest.tunnel_checksum],
    )


def _send(ipvs: IPVS, change: Change) -> None:
    service = _service_request(change.service)
    if change.dest is None:
        ipvs.service(change.op, service=service)
    else:
        ipvs.dest(change.op, service=service, dest=_dest_request(change.dest))


def apply_plan(plan: Plan, netns: str | None = None) -> int:
    """Run the plan's changes in order; returns how many ran.

    Stops at the first refusal with an :class:`ApplyError` naming the change, because later
    changes may depend on it (a real server on a service that failed to appear). Rolling back
    what already ran is the caller's choice: it has the plan and the old table.
    """
    done = 0
    with open_ipvs(netns) as ipvs:
        for change in plan:
            try:
                _send(ipvs, change)
            except NetlinkError as err:
                raise ApplyError(str(change), f"{err.args[-1]} (errno {err.code})") from None
            done += 1
    return done


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
