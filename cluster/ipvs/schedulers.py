"""Which real server each new connection reaches: the IPVS schedulers of Linux 6.1, as code.

A benchmark that pushes connections through the kernel needs to know what the kernel *should*
do, to the connection, not roughly. So this follows ``net/netfilter/ipvs/ip_vs_*.c`` of the
lab's kernel (Debian's 6.1.176) step by step, including what a summary of the algorithm
leaves out:

- **the kernel's order of real servers** is the reverse of the order they were added
  (``list_add_rcu`` puts a new one first), and every scheduler walks that order;
- **where rr and wrr start**: rr at the list head, so the last server added goes first; wrr
  keeps its current weight ``cw`` when a server is added, so a service that was created
  empty and then filled starts mid-cycle: the first add sets ``cw`` to 1 (the maximum less
  the gcd, plus one) and later adds leave it there, so the first pass takes every server;
- **ties** go to the earlier server in the kernel's order; wlc, sed and nq compare loads by
  cross-multiplying, ``h1 * w2 > h2 * w1``, never by dividing;
- **sh** fills 256 buckets with each server ``weight`` times in turn and hashes the client
  with ``hash_32`` (the golden-ratio multiply); **mh** fills a 4093-entry Maglev table whose
  permutations, and the client's entry, come from ``hsiphash`` with keys that are constants
  in the source (``generate_hash_secret``), not per boot. Both are therefore exact.

What the model needs about a connection is in :class:`Connection`: the client's address and
port, a time (for persistence only), and whether it stays open, which decides whether it
counts as an active or an inactive connection for lc, wlc, sed and nq.

>>> from cluster.ipvs.table import Destination
>>> a, b, c = (Destination(ipaddress.ip_address(f"10.0.0.{n}"), 80) for n in (1, 2, 3))
>>> clients = [Connection(f"192.0.2.{n}", 40000 + n) for n in range(1, 7)]
>>> [str(x.server.address) for x in predict("rr", [a, b, c], clients)]
['10.0.0.3', '10.0.0.2', '10.0.0.1', '10.0.0.3', '10.0.0.2', '10.0.0.1']
>>> split(predict("wrr", [replace(a, weight=3), b], clients))
{'10.0.0.1:80': 4, '10.0.0.2:80': 2}

Pure: no sockets, no root. :class:`ServiceModel` is the stateful core (add, edit and remove
real servers between connections, as ``ipvsadm -a/-e/-d`` would); :func:`predict` and
:func:`split` are the short way for a service built once.
"""

from __future__ import annotations

import ipaddress
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from itertools import chain
from typing import Literal, Protocol

from siphash24 import siphash13

from cluster.errors import UsageError
from cluster.ipvs.table import SCHED_FLAG_BITS, Destination, IPAddress, full_mask, sched_flag_bits

#: The schedulers modelled, each exactly. The rest are refused with the reason in
#: :data:`NOT_MODELLED`, rather than guessed.
MODELLED = ("rr", "wrr", "lc", "wlc", "sed", "nq", "sh", "mh")
NOT_MODELLED = {
    "twos": "twos picks two servers at random (prandom): only a spread could be predicted",
    "fo": "fo is not modelled yet",
    "ovf": "ovf is not modelled yet",
    "lblc": "lblc depends on the destination address and expiry timers; not modelled yet",
    "lblcr": "lblcr depends on the destination address and expiry timers; not modelled yet",
    "dh": "dh hashes the destination address; not modelled yet",
}
#: ``IP_VS_SVC_F_SCHED_{SH,MH}_FALLBACK`` and ``..._PORT``: the first two scheduler flag bits.
FALLBACK_BIT, PORT_BIT = SCHED_FLAG_BITS[:2]

#: ``CONFIG_IP_VS_SH_TAB_BITS`` in Debian's kernels (and the default): 256 buckets.
SH_TAB_BITS = 8
SH_TAB_SIZE = 1 << SH_TAB_BITS
#: ``primes[CONFIG_IP_VS_MH_TAB_INDEX - 8]`` of ip_vs_mh.c's primes (251, 509, 1021, 2039,
#: 4093, ...) with the default index 12, as Debian builds it (its kernel configs, UML's and
#: the generic one, say 12): 4093 entries. The lab's mh sweep confirms it client by client.
MH_PRIMES = (251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521, 131071)
MH_TAB_SIZE = MH_PRIMES[12 - 8]
#: ``IP_VS_MH_TAB_BITS``: weights are shifted down to this many bits before filling.
MH_TAB_BITS = 12 // 2
#: ``generate_hash_secret`` in ip_vs_mh.c: fixed numbers despite the name.
MH_KEY1 = (2654435761).to_bytes(8, "little") * 2
MH_KEY2 = (2654446892).to_bytes(8, "little") * 2
#: ``GOLDEN_RATIO_32`` from include/linux/hash.h.
GOLDEN_RATIO_32 = 0x61C88647
U32 = 0xFFFFFFFF
#: ``expire_later`` in ip_vs_conn.c: a template whose timer fires while it still controls
#: connections is re-armed for 60 s, and keeps 60 s as its timeout from then on.
TEMPLATE_REARM_S = 60.0
#: How long a closed TCP connection's entry stays in the table: it ends in TIME_WAIT (FIN_WAIT
#: with direct routing, where IPVS sees only the client's packets), 120 s after its last
#: packet; a reset ends in CLOSE, 10 s.
LINGER_S = 120.0


def hash_32(value: int, bits: int) -> int:
    """The kernel's ``hash_32``: multiply by the 32-bit golden ratio, keep the top ``bits``.

    x86 and UML have no arch-specific version, so the generic one is the kernel's.

    >>> hash_32(1, 8), hash_32(0x0A000001, 8)
    (97, 39)
    """
    return ((value * GOLDEN_RATIO_32) & U32) >> (32 - bits)


def hsiphash_u32(value: int, key: bytes) -> int:
    """The kernel's ``hsiphash(&v, 4, key)`` for an ``unsigned int v`` on 64-bit x86.

    On 64-bit kernels hsiphash *is* SipHash-1-3 (lib/siphash.c says so), truncated to 32
    bits, over ``v``'s four bytes in memory: little-endian here. The ``siphash24`` library
    computes SipHash-1-3; the tests check it against the kernel's own test vectors. A 32-bit
    or big-endian kernel would give other values (HalfSipHash, other bytes).
    """
    digest = siphash13((value & U32).to_bytes(4, "little"), key=key).digest()
    return int.from_bytes(digest, "little") & U32


def _fold(address: IPAddress) -> int:
    """``ntohl(addr_fold)``: an IPv6 address XORs its four 32-bit words into one."""
    if address.version == 4:
        return int(address)
    packed = address.packed
    return (
        int.from_bytes(packed[0:4])
        ^ int.from_bytes(packed[4:8])
        ^ int.from_bytes(packed[8:12])
        ^ int.from_bytes(packed[12:16])
    )


@dataclass(frozen=True)
class Connection:
    """One new connection to the virtual service, with what the kernel's schedulers read.

    ``port`` is the client's source port: only sh and mh with their ``-port`` flag hash it.
    Each connection is taken to be new to the kernel's table: a SYN from a (client, port)
    whose entry is still there is scheduled only if that entry is in TIME_WAIT or CLOSE
    (``conn_reuse_mode``), and otherwise follows the old entry.
    ``at`` is seconds from any fixed start, non-decreasing; only persistence reads it.

    ``open`` says what the connection is when the *next* one is scheduled, which is all lc,
    wlc, sed and nq see of it: ``True``, established by then and open to the end of the run
    (an active connection); ``False``, closed by then, but its entry stays in the connection
    table as an inactive one until ``at`` + :data:`LINGER_S` (inclusive: its last packet
    comes after ``at``). Either way the entry holds its persistence template while it is in
    the table. TCP only: IPVS counts every UDP connection as inactive.
    """

    client: IPAddress
    port: int = 0
    at: float = 0.0
    open: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "client", ipaddress.ip_address(self.client))


@dataclass(frozen=True)
class Persistence:
    """``ipvsadm -p TIMEOUT -M NETMASK``: one client network keeps its real server.

    ``prefix`` is the netmask as a prefix length; ``None`` keeps each address apart.
    ``expire_quiescent`` is the ``net.ipv4.vs.expire_quiescent_template`` sysctl (off by
    default): when on, a client whose server now has weight 0 is scheduled afresh.
    """

    timeout: float = 300
    prefix: int | None = None
    expire_quiescent: bool = False

    def network(self, client: IPAddress) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
        prefix = full_mask(client.version) if self.prefix is None else self.prefix
        return ipaddress.ip_network(f"{client}/{prefix}", strict=False)


@dataclass(frozen=True)
class Assignment:
    """Where one connection went: ``server`` is ``None`` when the kernel found no real
    server (it answers the client with an ICMP error). ``template`` is true when a
    persistence template chose the server rather than the scheduler."""

    connection: Connection
    server: Destination | None
    template: bool = False


@dataclass
class _Entry:
    """A real server as the kernel's ``struct ip_vs_dest`` holds it while scheduling.

    ``last_weight`` is the latest non-zero weight, which mh fills its table with, so that a
    server drained to weight 0 keeps its entries (and its clients, with ``mh-fallback``
    off, get no server rather than another one).
    """

    dest: Destination
    last_weight: int
    active: int
    inactive: int

    @property
    def key(self) -> tuple[IPAddress, int]:
        return self.dest.key

    @property
    def weight(self) -> int:
        return self.dest.weight


Change = Literal["add", "edit", "remove"]


class _Scheduler(Protocol):
    """A scheduler module's hooks, as ``struct ip_vs_scheduler`` has them: told of every
    change to the list (after it happened), asked for a server for each new connection."""

    def changed(self, entries: list[_Entry], change: Change, index: int) -> None: ...

    def schedule(self, entries: list[_Entry], conn: Connection) -> _Entry | None: ...


class _RoundRobin:
    """ip_vs_rr.c: the next server after the last one chosen, cyclically; the list head
    (before the first server) at the start. Adding a server does not move the position,
    so a server added mid-run is reached after the current pass; removing the current one
    steps back to its predecessor."""

    def __init__(self) -> None:
        self.position: tuple[IPAddress, int] | None = None  # None: the list head

    def changed(self, entries: list[_Entry], change: Change, index: int) -> None:
        if change == "remove" and self.position not in {e.key for e in entries}:
            self.position = entries[index - 1].key if index > 0 else None

    def schedule(self, entries: list[_Entry], conn: Connection) -> _Entry | None:
        start = _index(entries, self.position) + 1
        for entry in entries[start:] + entries[:start]:
            if entry.weight > 0:
                self.position = entry.key
                return entry
        return None


class _WeightedRoundRobin:
    """ip_vs_wrr.c: passes over the list with a falling weight threshold ``cw``, from the
    largest weight down by the weights' gcd; each pass picks every server whose weight is at
    least ``cw``. Every change to the list recomputes gcd and maximum and returns to the list
    head, but keeps ``cw`` unless it is now out of range, as the kernel does."""

    def __init__(self) -> None:
        self.position: tuple[IPAddress, int] | None = None
        self.cw = self.mw = 0
        self.di = 1

    def changed(self, entries: list[_Entry], change: Change, index: int) -> None:
        positive = [e.weight for e in entries if e.weight > 0]
        self.position = None
        self.di = math.gcd(*positive) if positive else 1
        self.mw = max((e.weight for e in entries), default=0) - (self.di - 1)
        if self.cw > self.mw or not self.cw:
            self.cw = self.mw
        elif self.di > 1:
            self.cw = self.cw // self.di * self.di + 1

    def schedule(self, entries: list[_Entry], conn: Connection) -> _Entry | None:
        if self.mw == 0:
            return None
        last, stop = self.position, None
        start = _index(entries, last) + 1
        last_pass = restarted = False
        while True:
            for entry in entries[start:]:
                if entry.weight >= self.cw:
                    self.position = entry.key
                    return entry
                if entry.key == stop:
                    self.position = entry.key
                    return None
            start = 0
            self.cw -= self.di
            if self.cw <= 0:
                self.cw = self.mw
                if last_pass or last is None:
                    self.position = None
                    return None
                restarted = True
            last_pass = self.cw <= self.di
            if last_pass and restarted and last is not None:
                stop = last


def _index(entries: list[_Entry], key: tuple[IPAddress, int] | None) -> int:
    """Where ``key`` is in the list, -1 for the list head."""
    return next((i for i, e in enumerate(entries) if e.key == key), -1)


class _LeastConnection:
    """ip_vs_lc.c, ip_vs_wlc.c, ip_vs_sed.c and ip_vs_nq.c: the least loaded server.

    - lc: the smallest ``active * 256 + inactive`` among servers of non-zero weight;
    - wlc: the smallest overhead per weight, compared as ``h1 * w2 > h2 * w1``;
    - sed: as wlc with ``active + 1`` as the overhead (inactive ones do not count);
    - nq: the first idle server (no active connection) if any, else as sed.

    Ties keep the earlier server in the kernel's order. The overhead is 6.1.176's (the lab's
    kernel; its ip_vs_lc.ko reads a plain inactive counter). Debian's 6.1 updates after
    6.1.180 took in "ipvs: add totalconns for dest", which makes it ``active * 256 + total``,
    that is ``active * 257 + inactive``.

    Six long-lived connections to servers of weight 1 and 2 (the list is 2, 1):

    >>> from cluster.ipvs.table import Destination
    >>> one, two = (Destination(ipaddress.ip_address(f"10.0.0.{n}"), 80, weight=n) for n in (1, 2))
    >>> def picks(name: str) -> str:
    ...     found = predict(name, [one, two], [Connection("192.0.2.1")] * 6)
    ...     return "".join(str(x.server.address)[-1] for x in found)
    >>> {name: picks(name) for name in ("lc", "wlc", "sed", "nq")}
    {'lc': '212121', 'wlc': '212212', 'sed': '221221', 'nq': '212221'}
    """

    def __init__(self, name: str) -> None:
        self.name = name

    def overhead(self, entry: _Entry) -> int:
        if self.name in ("lc", "wlc"):
            return entry.active * 256 + entry.inactive  # ip_vs_dest_conn_overhead
        return entry.active + 1

    def changed(self, entries: list[_Entry], change: Change, index: int) -> None:
        """Stateless: each decision reads the counters afresh."""

    def schedule(self, entries: list[_Entry], conn: Connection) -> _Entry | None:
        least: _Entry | None = None
        for entry in entries:
            if entry.weight <= 0:
                continue
            if self.name == "nq" and entry.active == 0:
                return entry
            if least is None or self._lighter(entry, least):
                least = entry
        return least

    def _lighter(self, entry: _Entry, least: _Entry) -> bool:
        if self.name == "lc":
            return self.overhead(entry) < self.overhead(least)
        return self.overhead(least) * entry.weight > self.overhead(entry) * least.weight


class _HashTable:
    """What sh and mh share: a table of servers looked up by a hash of the client, and the
    ``-fallback`` walk that replaces a server of weight 0 by the next entries' servers."""

    size: int

    def __init__(self, flags: int) -> None:
        self.flags = flags
        self.table: list[tuple[IPAddress, int] | None] = [None] * self.size

    def hash(self, client: IPAddress, port: int, offset: int) -> int:
        raise NotImplementedError

    def schedule(self, entries: list[_Entry], conn: Connection) -> _Entry | None:
        port = conn.port if self.flags & PORT_BIT else 0
        by_key = {e.key: e for e in entries}
        first = self.hash(conn.client, port, 0)
        walk = range(self.size) if self.flags & FALLBACK_BIT else range(0)
        rest = (self.hash(conn.client, port, (first + i) % self.size) for i in walk)
        for bucket in chain([first], rest):
            key = self.table[bucket]
            if key is None:
                return None
            if by_key[key].weight > 0:
                return by_key[key]
        return None


class _SourceHash(_HashTable):
    """ip_vs_sh.c: 256 buckets filled in list order, each server taking ``weight``
    consecutive buckets (one if its weight is 0), round and round until all are full; a
    client's bucket is ``hash_32(port + address, 8)``, the port only with ``sh-port``.

    Two servers of weight 1, listed 2, 1: even buckets are 10.0.0.2's. 192.0.2.1 hashes to
    50; with ``sh-port``, from ports 40000 to 40003, to 214, 56, 93 and 191:

    >>> from cluster.ipvs.table import Destination
    >>> a, b = (Destination(ipaddress.ip_address(f"10.0.0.{n}"), 80) for n in (1, 2))
    >>> conns = [Connection("192.0.2.1", port) for port in (40000, 40001, 40004, 40005)]
    >>> [str(x.server.address) for x in predict("sh", [a, b], conns)]
    ['10.0.0.2', '10.0.0.2', '10.0.0.2', '10.0.0.2']
    >>> [str(x.server.address) for x in predict("sh", [a, b], conns, flags=["sh-port"])]
    ['10.0.0.2', '10.0.0.2', '10.0.0.1', '10.0.0.1']
    """

    size = SH_TAB_SIZE

    def hash(self, client: IPAddress, port: int, offset: int) -> int:
        return (offset + hash_32((port + _fold(client)) & U32, SH_TAB_BITS)) % SH_TAB_SIZE

    def changed(self, entries: list[_Entry], change: Change, index: int) -> None:
        self.table = [None] * self.size
        if not entries:
            return
        position = count = 0
        for bucket in range(self.size):
            entry = entries[position]
            self.table[bucket] = entry.key
            count += 1
            if count >= entry.weight:
                position, count = (position + 1) % len(entries), 0


class _Maglev(_HashTable):
    """ip_vs_mh.c: Maglev hashing into 4093 entries. Each server has a permutation of the
    table from two hashes of its address and port (``offset``, ``skip``); servers take turns
    claiming their next free entry, each ``last_weight / gcd`` entries per turn (shifted down
    when the weights are large). A server added with weight 0 takes no entries; one set to
    weight 0 later keeps them, and its clients get no server unless ``mh-fallback``.

    >>> from cluster.ipvs.table import Destination
    >>> one, two = (Destination(ipaddress.ip_address(f"10.0.0.{n}"), 80, weight=n) for n in (1, 2))
    >>> service = ServiceModel("mh")
    >>> service.add(one); service.add(two)
    >>> Counter(service.hash_table())  # 2 takes two entries a turn, 1 one
    Counter({'10.0.0.2:80': 2729, '10.0.0.1:80': 1364})
    >>> service.edit(replace(two, weight=0))
    >>> clients = [Connection(f"198.51.100.{n}") for n in range(1, 9)]
    >>> [x.server.endpoint if x.server else None for x in map(service.connect, clients[:5])]
    [None, None, None, '10.0.0.1:80', '10.0.0.1:80']
    """

    size = MH_TAB_SIZE

    def hash(self, client: IPAddress, port: int, offset: int) -> int:
        return hsiphash_u32(offset + port + _fold(client), MH_KEY1) % MH_TAB_SIZE

    def changed(self, entries: list[_Entry], change: Change, index: int) -> None:
        positive = [e.last_weight for e in entries if e.last_weight > 0]
        if not positive:
            self.table = [None] * self.size
            return
        gcd = math.gcd(*positive)
        shift = max(0, (max(positive) // gcd).bit_length() - MH_TAB_BITS)
        turns, perm, skip = [], [], []
        for e in entries:
            port_fold = e.dest.port + _fold(e.dest.address)
            perm.append(hsiphash_u32(port_fold, MH_KEY1) % MH_TAB_SIZE)
            skip.append(hsiphash_u32(port_fold, MH_KEY2) % (MH_TAB_SIZE - 1) + 1)
            turns.append((e.last_weight // gcd) >> shift or int(e.last_weight != 0))
        taken = [False] * self.size
        filled = 0
        while True:
            for i, e in enumerate(entries):
                for _ in range(turns[i]):
                    while taken[perm[i]]:
                        perm[i] = (perm[i] + skip[i]) % MH_TAB_SIZE
                    taken[perm[i]] = True
                    self.table[perm[i]] = e.key
                    filled += 1
                    if filled == self.size:
                        return


def _scheduler(name: str, flags: int) -> _Scheduler:
    if name in NOT_MODELLED:
        raise UsageError(f"scheduler {name}: {NOT_MODELLED[name]}")
    if name not in MODELLED:
        raise UsageError(f"unknown scheduler {name!r}; the model knows {', '.join(MODELLED)}")
    if name == "rr":
        return _RoundRobin()
    if name == "wrr":
        return _WeightedRoundRobin()
    if name == "sh":
        return _SourceHash(flags)
    if name == "mh":
        return _Maglev(flags)
    return _LeastConnection(name)


@dataclass
class _Template:
    """A persistence template: the server one client network is bound to, and its timer.

    Each use restarts the timer with the template's timeout. When it fires, the template
    goes only if it controls no connection entry: open connections, or closed ones whose
    entry still lingers (``held_until``); otherwise the kernel re-arms it for 60 s.
    """

    key: tuple[IPAddress, int]
    timeout: float
    fires: float
    open: int = 0
    held_until: float = -math.inf

    def alive(self, now: float) -> bool:
        """Replay the timer's firings up to ``now``; false once one found nothing held."""
        while self.fires <= now:
            if not self.open and self.held_until < self.fires:
                return False
            self.timeout = TEMPLATE_REARM_S
            self.fires += TEMPLATE_REARM_S
        return True


@dataclass
class ServiceModel:
    """One virtual service as IPVS schedules it: its real servers in the kernel's order,
    the scheduler's state, each server's connection counters and the persistence templates.

    Build it the way the kernel's service is built: created empty, then servers added one
    by one (``ipvsadm -A`` then ``-a``; keepalived and ``cluster apply`` do the same). The
    order of :meth:`add` calls matters: the kernel puts each new server first.

    A server's ``active_conns`` and ``inact_conns`` are taken as its starting counters, so a
    live table read with ``ipvsadm -Ln`` can be continued (those inactive ones never expire
    here). A closed connection counts as inactive for ``linger`` seconds after it started.
    Upper and lower thresholds (``IP_VS_DEST_F_OVERLOAD``) are not modelled and are refused.

    >>> from cluster.ipvs.table import Destination
    >>> web = ServiceModel("rr")
    >>> for n in (1, 2):
    ...     web.add(Destination(ipaddress.ip_address(f"10.0.0.{n}"), 80))
    >>> [str(d.address) for d in web.servers]
    ['10.0.0.2', '10.0.0.1']
    >>> str(web.connect(Connection("192.0.2.7")).server.address)
    '10.0.0.2'
    >>> web.add(Destination(ipaddress.ip_address("10.0.0.3"), 80))  # first, after the head
    >>> [str(web.connect(Connection("192.0.2.7")).server.address) for _ in range(4)]
    ['10.0.0.1', '10.0.0.3', '10.0.0.2', '10.0.0.1']
    """

    scheduler: str
    flags: Sequence[str] = ()
    persistence: Persistence | None = None
    linger: float = LINGER_S
    _entries: list[_Entry] = field(default_factory=list, init=False, repr=False)
    _templates: dict[object, _Template] = field(default_factory=dict, init=False, repr=False)
    _closed: list[tuple[float, tuple[IPAddress, int]]] = field(
        default_factory=list, init=False, repr=False
    )
    _hooks: _Scheduler = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._hooks = _scheduler(self.scheduler, sched_flag_bits(self.flags))

    @property
    def servers(self) -> tuple[Destination, ...]:
        """The real servers in the kernel's order, each with its current counters."""
        return tuple(
            replace(e.dest, active_conns=e.active, inact_conns=e.inactive) for e in self._entries
        )

    def hash_table(self) -> tuple[str | None, ...]:
        """sh's 256 buckets or mh's 4093 entries, each the real server (``ip:port``) a client
        hashed there reaches, ``None`` while the service is empty. Each server's share of the
        table is the share of a large, varied client population it gets."""
        if not isinstance(self._hooks, _HashTable):
            raise UsageError(f"{self.scheduler} has no hash table; sh and mh have")
        endpoints = {e.key: e.dest.endpoint for e in self._entries}
        return tuple(endpoints[key] if key else None for key in self._hooks.table)

    def add(self, dest: Destination) -> None:
        """``ipvsadm -a``: the new server goes first in the list."""
        if dest.upper_threshold or dest.lower_threshold:
            raise UsageError(f"{dest.endpoint}: connection thresholds are not modelled")
        if _index(self._entries, dest.key) >= 0:
            raise UsageError(f"{dest.endpoint} is already a real server of this service")
        self._entries.insert(0, _Entry(dest, dest.weight, dest.active_conns, dest.inact_conns))
        self._hooks.changed(self._entries, "add", 0)

    def edit(self, dest: Destination) -> None:
        """``ipvsadm -e``: a new weight for the server with ``dest``'s address and port."""
        index = self._find(dest.key)
        entry = self._entries[index]
        entry.dest = dest
        entry.last_weight = dest.weight or entry.last_weight
        self._hooks.changed(self._entries, "edit", index)

    def remove(self, address: str | IPAddress, port: int) -> None:
        """``ipvsadm -d``: its clients' templates lapse; its connections are forgotten."""
        index = self._find((ipaddress.ip_address(address), port))
        del self._entries[index]
        self._hooks.changed(self._entries, "remove", index)

    def connect(self, conn: Connection) -> Assignment:
        """Schedule one new connection (through its persistence template, if it holds) and
        count it on its server."""
        self._expire(conn.at)
        template = self._template(conn)
        via_template = template is not None
        if template is None:
            entry = self._hooks.schedule(self._entries, conn)
            if entry is None:
                return Assignment(conn, None)
            if self.persistence is not None:
                timeout = self.persistence.timeout
                template = _Template(entry.key, timeout, conn.at + timeout)
                self._templates[self.persistence.network(conn.client)] = template
        else:
            entry = self._entries[self._find(template.key)]
            template.fires = conn.at + template.timeout
        if conn.open:
            entry.active += 1
        else:
            entry.inactive += 1
            self._closed.append((conn.at + self.linger, entry.key))
        if template is not None:
            if conn.open:
                template.open += 1
            else:
                template.held_until = max(template.held_until, conn.at + self.linger)
        return Assignment(conn, entry.dest, template=via_template)

    def _template(self, conn: Connection) -> _Template | None:
        """The client network's template if it still holds: alive, and its server still in
        the service (and not drained, with ``expire_quiescent``)."""
        if self.persistence is None:
            return None
        network = self.persistence.network(conn.client)
        template = self._templates.get(network)
        if template is None:
            return None
        index = _index(self._entries, template.key)
        drained = index >= 0 and self._entries[index].weight == 0
        if (
            not template.alive(conn.at)
            or index < 0
            or (drained and self.persistence.expire_quiescent)
        ):
            del self._templates[network]
            return None
        return template

    def _expire(self, now: float) -> None:
        """Closed connections whose entries have left the table stop counting as inactive."""
        gone = [(end, key) for end, key in self._closed if end < now]
        self._closed = [(end, key) for end, key in self._closed if end >= now]
        for _, key in gone:
            index = _index(self._entries, key)
            if index >= 0:
                self._entries[index].inactive -= 1

    def _find(self, key: tuple[IPAddress, int]) -> int:
        index = _index(self._entries, key)
        if index < 0:
            raise UsageError(f"{key[0]}:{key[1]} is not a real server of this service")
        return index


def predict(
    scheduler: str,
    servers: Sequence[Destination],
    connections: Iterable[Connection],
    *,
    flags: Sequence[str] = (),
    persistence: Persistence | None = None,
    linger: float = LINGER_S,
) -> list[Assignment]:
    """Where each connection goes, on a service created empty and given ``servers`` in that
    order (``ipvsadm -A``, then one ``-a`` each), as a benchmark would build it.

    With persistence, a client keeps its server until ``timeout`` after its last connection;
    here each connection closes at once, so its entry is gone 120 s later:

    >>> from cluster.ipvs.table import Destination
    >>> a, b = (Destination(ipaddress.ip_address(f"10.0.0.{n}"), 80) for n in (1, 2))
    >>> times = (0, 10, 250, 400, 700)
    >>> sticky = predict("rr", [a, b], [Connection("192.0.2.1", at=t, open=False) for t in times],
    ...                  persistence=Persistence(timeout=300))
    >>> [(str(x.server.address), x.template) for x in sticky]  # doctest: +NORMALIZE_WHITESPACE
    [('10.0.0.2', False), ('10.0.0.2', True), ('10.0.0.2', True), ('10.0.0.2', True),
     ('10.0.0.1', False)]

    An open connection holds its template past the timeout: the kernel re-arms it for 60 s
    at a time while it controls a connection.

    >>> held = predict("rr", [a, b], [Connection("192.0.2.1", at=t) for t in (0, 5000)],
    ...                persistence=Persistence(timeout=300))
    >>> [x.template for x in held]
    [False, True]
    """
    model = ServiceModel(scheduler, flags, persistence, linger)
    for server in servers:
        model.add(server)
    return [model.connect(conn) for conn in connections]


def split(assignments: Iterable[Assignment]) -> dict[str, int]:
    """Connections per real server (``ip:port``, as ``ipvsadm -Ln`` names it), sorted by
    name; connections that found no server are not counted."""
    counts = Counter(a.server.endpoint for a in assignments if a.server is not None)
    return dict(sorted(counts.items()))
