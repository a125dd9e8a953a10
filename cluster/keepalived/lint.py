"""Find what is wrong with a keepalived.conf, before keepalived or a failover finds it.

Two kinds of finding come back, each a :class:`~cluster.errors.Problem` with a stable ``code``:

* what ``keepalived -t`` itself reports: unknown and deprecated keywords, braces that do not
  match, missing includes (these come from :mod:`cluster.keepalived.syntax`, with its lines);
* settings keepalived accepts but that do not do what their author meant: a password sent in
  clear, an initial MASTER state that silently changes the priority or drops ``nopreempt``, a
  sub-second interval that VRRPv2 rounds, a real server nothing checks. Each was checked
  against keepalived 2.2.7's source (vrrp.c, vrrp_sync.c, check_*.c), not folklore.

:func:`lint_directors` reads the directors' files together: the same VRRP instance must agree
on its timing, addresses and password on both, and its priorities must leave a gap that the
tracking weights can cross.

>>> from cluster.keepalived.syntax import parse_text
>>> text = '''vrrp_instance VI_1 {
...     state MASTER
...     interface eth0
...     virtual_router_id 41
...     advert_int 0.5
...     authentication { auth_type PASS
...         auth_pass 1111 }
...     virtual_ipaddress { 192.168.0.174 }
... }'''
>>> for problem in lint(parse_text(text, "director.conf")):
...     print(problem.location.line, problem.code)
2 master-owner-priority
5 subsecond-advert
6 plain-text-auth
"""

from __future__ import annotations

import ipaddress
import itertools
import os
from collections.abc import Collection, Iterator
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Final

from cluster.errors import Location, Problem, Severity
from cluster.keepalived.keywords import (
    CHECKERS,
    DEPRECATED,
    ENTRIES,
    GRAMMAR,
    LEGACY_NAMES,
    LIST,
    REFERENCES,
    TOP,
    VALUES,
)
from cluster.keepalived.syntax import ConfigTree, Node, parse_file

KEEPALIVED_CODES: Final = frozenset(
    {
        "unknown-keyword",
        "deprecated-keyword",
        "ignored-brace",
        "extra-brace",
        "missing-brace",
        "unclosed-block",
        "list-arguments",
        "unmatched-quote",
        "long-line",
        "include-missing",
        "include-not-regular",
        "include-unreadable",
        "invalid-sequence",
        "bad-value",
        "missing-value",
        "bad-address",
        "undefined-reference",
        "duplicate-name",
        "duplicate-entry",
        "unknown-interface",
        "missing-keyword",
        "keepalived-default",
        "ignored-keyword",
        "ignored-weight",
        "sync-group-single",
        "auth-ignored",
        "subsecond-advert",
    }
)
"""Codes of the findings that ``keepalived -t`` itself reports, each at the line keepalived
names (a check keepalived makes after reading, without a line, is placed on the block it is
about). The differential test holds lint to exactly these; every other code is our own."""

LINT_CODES: Final[dict[str, str]] = {
    # what keepalived -t itself reports (KEEPALIVED_CODES), and how lint reads the file
    "unknown-keyword": "a keyword keepalived does not know where it stands",
    "deprecated-keyword": "still read, with a warning (nb_get_retry: write retry)",
    "legacy-keyword": "still read silently under an old name (lb_algo, lvs_flush_onstop)",
    "unclosed-block": "a { that is never closed: keepalived reads the rest into that block",
    "missing-brace": "a block or list whose } is missing",
    "extra-brace": "a } that closes nothing",
    "ignored-brace": "a { keepalived skips, with what it then reads into which block",
    "unexpected-brace": "a { inside a list",
    "list-arguments": "words after a list's {, which keepalived ignores",
    "unmatched-quote": "a quote that is never closed",
    "long-line": "a line over 1023 bytes, which keepalived reads as several",
    "not-utf8": "bytes that are not UTF-8 (kept as they are)",
    "bad-value": "a value keepalived refuses: out of range, not a number, not one of its words",
    "missing-value": "a keyword without its argument",
    "bad-address": "an address or port keepalived skips, or of the wrong address family",
    "undefined-reference": "a track_script, track_file, ... or checker naming nothing defined",
    "duplicate-name": "a second block of one name, such as two vrrp_instance VI_1",
    "duplicate-entry": "a tracked name or real server listed twice, or a keyword given twice",
    "missing-keyword": "a block keepalived drops or refuses without it (script, interface, ...)",
    "keepalived-default": "what keepalived fills in and says so: no protocol means UDP, ...",
    "ignored-keyword": "a line keepalived reads and ignores (protocol on a fwmark service)",
    "ignored-weight": "tracking weights in a sync group without sync_group_tracking_weight",
    "unknown-interface": "with --interfaces: an interface the director does not have",
    "include-missing": "an include of a file that does not exist",
    "include-no-match": "an include whose wildcard matches nothing",
    "include-not-regular": "an include of a directory, device or FIFO, which keepalived skips",
    "include-unreadable": "an include of a file that cannot be read",
    "include-loop": "files that include each other",
    "include-depth": "includes nested deeper than keepalived follows",
    "file-too-large": "a file over 64 MiB, which lint refuses",
    "expansion-limit": "a ~SEQ expansion over a million lines, which lint stops",
    "invalid-sequence": "a ~SEQ keepalived refuses",
    "substitution-loop": "$ definitions that refer to each other",
    "substitution-too-long": "a $ substitution that grows past keepalived's line length",
    "unsupported-sequence": "a ~SEQ form lint does not expand",
    "unsupported-random": "${_RANDOM}, which lint does not expand",
    "unsupported-include-braces": "an include with {a,b}, which lint does not expand",
    "conditional-config": "@ID lines: only those for -i ID are read",
    # accepted by keepalived, but not what was meant
    "plain-text-auth": "auth_type PASS sends the password in clear in every advert",
    "ah-auth": "auth_type AH forces a backup start",
    "auth-ignored": "VRRPv3 and vrrp_strict have no authentication; keepalived ignores it",
    "master-owner-priority": "state MASTER without a priority means 255, which always wins",
    "nopreempt-with-master": "keepalived clears nopreempt on an initial MASTER",
    "preempt-delay-with-master": "keepalived clears preempt_delay on an initial MASTER",
    "subsecond-advert": "VRRPv2 rounds advert_int to whole seconds",
    "script-security": "scripts run as root without enable_script_security",
    "untracked-primary": "dont_track_primary without track_interface: a dead link never faults",
    "sync-group-unknown-instance": "a sync group naming an instance that does not exist",
    "sync-group-single": "a sync group of one instance, which syncs nothing",
    "sync-group-owner-mix": "a sync group mixing an address owner (255) with other instances",
    "unchecked-real-server": "a real server without a checker stays in the pool when down",
    "nat-without-dip": "LVS-NAT with no floating gateway address (DIP) for the real servers",
    # the two directors' files read together
    "pair-mismatch": "one instance's advert_int, authentication or VIPs differ between files",
    "equal-priority": "both directors have the same priority: the higher IP address wins",
    "weight-within-gap": "a tracked failure leaves the master's priority above the backup's",
}
"""Every code a finding can carry, with what it means in one line: the lint codes page of the
reference is generated from it. Codes in :data:`KEEPALIVED_CODES` are also keepalived's."""

OWNER_PRIORITY = 255
"""VRRP's address-owner priority: such a router always wins and always preempts."""


def _walk(nodes: tuple[Node, ...], block: str = TOP) -> Iterator[tuple[str, Node]]:
    """Every node with the name of the block it stands in, the key for GRAMMAR lookups."""
    for node in nodes:
        yield block, node
        sub = GRAMMAR[block].get(node.keyword, "")
        if node.children and sub in GRAMMAR:
            yield from _walk(node.children, sub)


def _problem(
    node: Node, code: str, message: str, fix: str, severity: Severity = "warning"
) -> Problem:
    return Problem(node.location, message, fix, severity, code)


def _check_keywords(tree: ConfigTree) -> Iterator[Problem]:
    for block, node in _walk(tree.nodes):
        replacement = DEPRECATED.get((block, node.keyword))
        if replacement:
            yield _problem(
                node,
                "deprecated-keyword",
                f"{node.keyword} is deprecated - please use '{replacement}'",
                f"replace {node.keyword} with {replacement}",
            )
        if node.keyword in LEGACY_NAMES:
            modern = LEGACY_NAMES[node.keyword]
            yield _problem(
                node,
                "legacy-keyword",
                f"{node.keyword} is the pre-2004 name of {modern}; keepalived still accepts it",
                f"write {modern} {' '.join(node.args)}",
                "info",
            )


def _words(node: Node) -> str:
    return " ".join([node.keyword, *node.args])


def _valid(node: Node | None, block: str) -> bool:
    """A keyword line that keepalived takes: present, with arguments its kind accepts."""
    if node is None or not node.args:
        return False
    kind = VALUES.get((block, node.keyword))
    return kind is None or kind.keeps(node.args)


_REQUIRED: Final = {"vrrp_script": "script", "vrrp_track_process": "process", "track_file": "file",
                    "vrrp_track_file": "file"}  # fmt: skip
"""Top-level blocks keepalived drops when this keyword is missing; references to them fail."""


def _defined(tree: ConfigTree) -> dict[str, set[str]]:
    """The names of the top-level blocks keepalived keeps, by keyword."""
    return {
        keyword: {
            node.arg(0)
            for node in tree.find_all(keyword)
            if keyword not in _REQUIRED
            or _valid(node.find(_REQUIRED[keyword]), GRAMMAR[TOP][keyword])
        }
        for keyword in GRAMMAR[TOP]
    }


def _check_values(tree: ConfigTree) -> Iterator[Problem]:
    """Every argument and list entry keepalived checks, against the keyword table."""
    defined = _defined(tree)
    for block, node in _walk(tree.nodes):
        kind = VALUES.get((block, node.keyword))
        if kind is not None and (reason := kind.check(node.args)):
            code = "bad-value" if node.args else "missing-value"
            effect = f"; {kind.effect}" if kind.effect else ""
            yield _problem(node, code, f"{_words(node)}: {reason}{effect}", kind.advice(), "error")
        references = REFERENCES.get((block, node.keyword), ())
        if GRAMMAR[block].get(node.keyword) != LIST:
            if references and node.args and node.arg(0) not in _union(defined, references):
                yield _undefined(node, node.arg(0), references)
            continue
        yield from _check_entries(block, node, defined)


def _check_entries(block: str, node: Node, defined: dict[str, set[str]]) -> Iterator[Problem]:
    """The lines of a ``{ }`` list: each entry's words, references and repeats."""
    entry_kind = ENTRIES.get((block, node.keyword))
    references = REFERENCES.get((block, node.keyword), ())
    if not node.children and node.keyword in ("notification_email", "group", "interfaces"):
        yield Problem(
            _end(node),
            f"the {node.keyword} block is empty; keepalived ignores it",
            "list at least one entry, or delete the block",
            "warning",
            "missing-keyword",
        )
    if not node.children and node.keyword == "virtual_server_group":
        yield _missing(node, f"virtual_server_group {node.arg(0)} has no entries; keepalived "
                       "removes it", "list VIP PORT lines, or fwmark N")  # fmt: skip
    seen: set[str] = set()
    for entry in node.children or ():
        words = (entry.keyword, *entry.args)
        if entry_kind is not None and (reason := entry_kind.check(words)):
            effect = f"; {entry_kind.effect}" if entry_kind.effect else ""
            message = f"{node.keyword} entry {_words(entry)}: {reason}{effect}"
            yield _problem(entry, "bad-value", message, entry_kind.advice(), "error")
            if entry_kind.keeps(words):
                seen.add(entry.keyword)
        elif references and entry.keyword not in _union(defined, references):
            yield _undefined(entry, entry.keyword, references)
        elif entry.keyword in seen and (
            node.keyword.startswith("track_") or node.keyword == "group"
        ):
            yield _problem(
                entry,
                "duplicate-entry",
                f"{node.keyword} lists {entry.keyword} twice; keepalived ignores this line",
                "list it once",
                "error",
            )
        else:
            seen.add(entry.keyword)


def _union(defined: dict[str, set[str]], keywords: tuple[str, ...]) -> set[str]:
    return set().union(*(defined.get(keyword, set()) for keyword in keywords))


def _undefined(node: Node, name: str, references: tuple[str, ...]) -> Problem:
    kind = references[0]
    return _problem(
        node,
        "undefined-reference",
        f"no {kind} named {name!r} is defined; keepalived ignores this reference",
        f"define {kind} {name} {{ ... }} or correct the name",
        "error",
    )


def _check_interfaces(tree: ConfigTree, interfaces: Collection[str]) -> Iterator[Problem]:
    """Interface names keepalived looks up on the machine it runs on."""

    def missing(
        node: Node, name: str, what: str, effect: str = "refuses to start its VRRP instances"
    ) -> Problem:
        return _problem(
            node,
            "unknown-interface",
            f"interface {name} for {what} does not exist on this director; keepalived {effect}",
            f"use one of {', '.join(sorted(interfaces))}, or lint with the director's "
            "interfaces (--interfaces)",
            "error",
        )

    for block, node in _walk(tree.nodes):
        if block == "vrrp_instance" and node.keyword == "interface" and node.args:
            if node.arg(0) not in interfaces:
                yield missing(node, node.arg(0), "this vrrp_instance")
        elif node.keyword == "track_interface":
            for entry in node.children or ():
                if entry.keyword not in interfaces:
                    yield missing(entry, entry.keyword, "track_interface")
        elif node.keyword in ("virtual_ipaddress", "virtual_ipaddress_excluded"):
            for entry in node.children or ():
                words = [entry.keyword, *entry.args]
                if (
                    "dev" in words[:-1]
                    and (name := words[words.index("dev") + 1]) not in interfaces
                ):
                    yield missing(entry, name, f"address {entry.keyword}")
        elif node.keyword in _ROUTING:
            for entry in node.children or ():
                words = [entry.keyword, *entry.args]
                for option, name in itertools.pairwise(words):
                    if option in ("dev", "oif", "iif") and name not in interfaces:
                        yield missing(entry, name, f"{node.keyword} entry {entry.keyword}",
                                      "skips the entry")  # fmt: skip
        elif node.keyword in ("interface", "vrf") and block in ("garp_group", "vrrp_instance"):
            if node.args and node.arg(0) not in interfaces and node.keyword == "vrf":
                yield missing(node, node.arg(0), "vrf")
            elif node.args and node.arg(0) not in interfaces and block == "garp_group":
                yield missing(node, node.arg(0), "garp_group")


_ROUTING: Final = ("virtual_routes", "static_routes", "virtual_rules", "static_rules")
RTPROT_KEEPALIVED: Final = 18
"""The routing protocol number keepalived gives the routes and rules it tracks."""


def _check_routing(tree: ConfigTree) -> Iterator[Problem]:
    """Routes and rules keepalived takes but changes, and says so (alloc_route, alloc_rule):
    a route it cannot track without an interface, a protocol it overrides to track one, a
    rule without a preference."""
    for block, node in _walk(tree.nodes):
        kind = ENTRIES.get((block, node.keyword))
        if node.keyword not in _ROUTING or kind is None:
            continue
        for entry in node.children or ():
            words = (entry.keyword, *entry.args)
            for old, new in (("gw", "via"), ("or", "nexthop")):
                if old in words[1:] and not node.keyword.endswith("_rules"):
                    yield _problem(entry, "deprecated-keyword", f"{node.keyword} entry "
                                   f"{_words(entry)}: {old} is deprecated - please use {new}",
                                   f"write {new} instead of {old}")  # fmt: skip
            if kind.check(words) is not None or "no_track" in words or "nexthop" in words:
                continue
            rule = node.keyword.endswith("_rules")
            protocol = words[words.index("protocol") + 1] if "protocol" in words[:-1] else None
            if protocol not in (None, "keepalived", str(RTPROT_KEEPALIVED)) and not rule:
                yield _problem(entry, "keepalived-default", f"{node.keyword} entry "
                               f"{_words(entry)}: keepalived tracks it, so it uses protocol "
                               "keepalived instead", "drop protocol, or add no_track")  # fmt: skip
            if not rule and not {"dev", "oif"} & set(words):
                yield _problem(entry, "keepalived-default", f"{node.keyword} entry "
                               f"{_words(entry)} names no interface, so keepalived cannot "
                               "track it", "add dev IFNAME, or no_track")  # fmt: skip
            if rule and not {"preference", "order", "priority"} & set(words):
                yield _problem(entry, "keepalived-default", f"{node.keyword} entry "
                               f"{_words(entry)} has no preference; keepalived picks one, "
                               "which is probably not what you want",
                               "add priority N (lower is consulted first)")  # fmt: skip


def _end(node: Node) -> Location:
    """Where keepalived's end-of-block check reports: the closing '}', or the block's line."""
    return node.end or node.location


def _missing(node: Node, message: str, fix: str, severity: Severity = "error") -> Problem:
    """A block keepalived drops or changes once read, reported at its closing '}'."""
    return Problem(_end(node), message, fix, severity, "missing-keyword")


_NEEDS: Final[dict[str, tuple[tuple[str, ...], str, str]]] = {
    # block -> (any of these keywords, what keepalived then does, what to add)
    "vrrp_script": (("script",), "has no script; keepalived removes it", 'script "/path/check"'),
    "vrrp_track_process": (("process",), "names no process; keepalived removes it",
                           "process NAME"),
    "track_file": (("file",), "names no file; keepalived ignores it", "file /path"),
    "garp_group": (("garp_interval", "gna_interval"), "sets no interval; keepalived removes it",
                   "garp_interval 0.001"),
    "bfd_instance": (("neighbor_ip", "neighbour_ip"), "has no neighbor_ip; keepalived disables it",
                     "neighbor_ip ADDRESS"),
    "url": (("path",), "has no path; keepalived ignores the url", "path /"),
    "MISC_CHECK": (("misc_path",), "has no misc_path; keepalived skips the checker",
                   'misc_path "/path/check"'),
    "FILE_CHECK": (("track_file",), "has no track_file; keepalived ignores the checker",
                   "track_file NAME"),
    "BFD_CHECK": (("name",), "has no name; keepalived skips the checker", "name BFD_INSTANCE"),
}  # fmt: skip


_PRESENT_IS_ENOUGH: Final = frozenset({"bfd_instance", "BFD_CHECK"})
"""Blocks whose handler already drops the block for a bad value, so the end check is silent."""


def _check_blocks(tree: ConfigTree) -> Iterator[Problem]:
    """What keepalived checks once a block is read: duplicates and keywords it requires."""
    defined = _defined(tree)
    for keyword in ("vrrp_instance", "vrrp_sync_group", "track_group"):
        seen: set[str] = set()
        for node in tree.find_all(keyword):
            if node.arg(0) in seen:
                yield _problem(
                    node,
                    "duplicate-name",
                    f"{keyword} {node.arg(0)} is already defined; keepalived skips this block",
                    "give each block its own name",
                    "error",
                )
            seen.add(node.arg(0))
    for block, node in _walk(tree.nodes):
        sub = GRAMMAR[block].get(node.keyword, "")
        if node.children is None or sub == LIST:
            continue
        yield from _check_once(sub, node)
        head = VALUES.get((block, node.keyword))
        if sub in _NEEDS and (head is None or head.keeps(node.args)):
            keywords, effect, add = _NEEDS[sub]
            present = _valid if sub not in _PRESENT_IS_ENOUGH else lambda n, _: n is not None
            if not any(present(node.find(keyword), sub) for keyword in keywords):
                yield _missing(
                    node, f"{' '.join([node.keyword, *node.args])} {effect}", f"add {add}"
                )
            elif sub == "FILE_CHECK" and node.find("track_file").arg(0) not in _union(
                defined, ("track_file", "vrrp_track_file")
            ):
                yield _missing(node, "FILE_CHECK tracks no file that keepalived keeps; keepalived "
                               "ignores the checker", "define the track_file it names")  # fmt: skip
        if sub in ("HTTP_GET", "SSL_GET") and not any(
            _valid(url.find("path"), "url") for url in node.find_all("url")
        ):
            yield _missing(node, f"{node.keyword} has no url with a path; keepalived ignores the "
                           "checker", "add url { path / status_code 200 }")  # fmt: skip
        if sub == "vrrp_sync_group" and not node.find("group"):
            yield _problem(
                node,
                "missing-keyword",
                f"vrrp_sync_group {node.arg(0)} has no group {{ }}; keepalived removes it",
                "add group { VI_1 VI_2 }",
                "error",
            )
    global_defs = tree.find("global_defs")
    for instance in tree.find_all("vrrp_instance"):
        yield from _check_instance_complete(instance, global_defs)
    for group in tree.find_all("vrrp_sync_group"):
        yield from _check_sync_group_weights(tree, group)
    for server in tree.find_all("virtual_server"):
        yield from _check_server_complete(server)
    yield from _check_script_security(tree, global_defs)


_ONCE: Final[frozenset[str]] = frozenset(
    {"notify_backup", "notify_master", "notify_fault", "notify_stop", "notify", "notify_deleted",
     "notify_master_rx_lower_pri", "notify_up", "notify_down", "quorum_up", "quorum_down",
     "lvs_sync_daemon", "startup_script", "shutdown_script", "notify_fifo", "vrrp_notify_fifo",
     "lvs_notify_fifo", "notify_fifo_script", "vrrp_notify_fifo_script",
     "lvs_notify_fifo_script", "snmp_socket", "nftables", "nftables_ipvs", "vmac_prefix",
     "vmac_addr_prefix", "tmp_config_directory", "process", "file", "password", "ca",
     "certificate", "key", "use_ipvlan", "net_namespace", "net_namespace_ipvs", "instance"}
)  # fmt: skip
"""Keywords keepalived takes once per block; it refuses a second one ("already specified")."""

_ONCE_IN: Final[dict[str, frozenset[str]]] = {
    "vrrp_track_process": frozenset({"weight"}),
    "track_file": frozenset({"weight"}),
    "DNS_CHECK": frozenset({"name"}),
    "BFD_CHECK": frozenset({"name"}),
}
"""Keywords taken once only in some blocks."""


def _check_once(block: str, node: Node) -> Iterator[Problem]:
    seen: set[str] = set()
    digests: set[str] = set()
    interfaces: set[str] = set()
    for child in node.children or ():
        once = child.keyword in _ONCE or child.keyword in _ONCE_IN.get(block, ())
        if child.keyword == "digest" and child.args:
            repeated = child.arg(0).lower() in digests
            digests.add(child.arg(0).lower())
        elif block == "garp_group" and child.keyword == "interface":
            repeated = child.arg(0) in interfaces
            interfaces.add(child.arg(0))
        else:
            repeated = once and child.keyword in seen and bool(child.args)
        if repeated:
            yield _problem(
                child,
                "duplicate-entry",
                f"{child.keyword} is already set in this block; keepalived ignores this line",
                "keep one",
                "error",
            )
        if child.args:
            seen.add(child.keyword)


_UNICAST = ("unicast_src_ip", "unicast_fault_no_peer", "check_unicast_src", "old_unicast_checksum")


def _check_instance_complete(instance: Node, global_defs: Node | None) -> Iterator[Problem]:
    """An instance keepalived refuses or changes once read (vrrp.c vrrp_complete_instance)."""
    name = instance.arg(0)
    if not _valid(instance.find("virtual_router_id"), "vrrp_instance"):
        yield _problem(
            instance,
            "missing-keyword",
            f"vrrp_instance {name} has no virtual_router_id; keepalived refuses the "
            "configuration (the virtual router id must be set)",
            "add virtual_router_id N, with N 1-255 and unique on the segment",
            "error",
        )
    if instance.find("interface") is None and not (global_defs and global_defs.find(
        "default_interface"
    )):  # fmt: skip
        yield _problem(
            instance,
            "missing-keyword",
            f"vrrp_instance {name} has no interface; keepalived refuses the configuration "
            "(Unknown interface!)",
            "add interface eth0 (the link that carries the VIPs)",
            "error",
        )
    vips = [e for n in instance.find_all("virtual_ipaddress") for e in n.children or ()]
    if not vips:
        yield _problem(
            instance,
            "missing-keyword",
            f"vrrp_instance {name} has no virtual_ipaddress: it moves nothing",
            "add virtual_ipaddress { VIP/PREFIX }",
            "warning",
        )
    ipvlan = instance.find("use_ipvlan")
    if (
        ipvlan is not None
        and vips
        and ":" not in vips[0].keyword
        and not any(_is_address(word) for word in ipvlan.args)
    ):
        yield _problem(
            ipvlan,
            "missing-keyword",
            f"{name} uses an ipvlan without an address; keepalived puts an IPv4 instance into "
            "FAULT (an IPv4 ipvlan requires a source ip address)",
            "give the ipvlan its address: use_ipvlan IFNAME 192.0.2.5/24",
            "error",
        )
    peers = [e for n in instance.find_all("unicast_peer") for e in n.children or ()]
    if not peers and (unicast := next(filter(None, map(instance.find, _UNICAST)), None)):
        yield _problem(
            unicast,
            "keepalived-default",
            f"{unicast.keyword} without unicast_peer; keepalived uses multicast",
            "list the peers in unicast_peer { }, or delete the unicast keywords",
            "warning",
        )
    if not peers and _valid(instance.find("unicast_ttl"), "vrrp_instance"):
        yield Problem(_end(instance), f"{name}: unicast_ttl without unicast_peer; keepalived "
                      "ignores it", "delete unicast_ttl", "warning", "ignored-keyword")  # fmt: skip
    yield from _check_families(instance)
    if _priority(instance) == OWNER_PRIORITY:
        for tracker in instance.find_all("track_interface"):
            yield _problem(
                tracker,
                "ignored-keyword",
                f"{name} has priority 255, the address owner's; keepalived ignores its "
                "track_interface",
                "use a priority below 255, or delete track_interface",
            )


def _check_families(instance: Node) -> Iterator[Problem]:
    """The first address an instance names sets its family; VIPs of the other are ignored."""
    family = None
    for child in instance.children or ():
        words = [child.arg(0)] if child.keyword in ("mcast_src_ip", "unicast_src_ip") else []
        if child.keyword in ("unicast_peer", "virtual_ipaddress"):
            kind = ENTRIES[("vrrp_instance", child.keyword)]
            words = [e.keyword for e in child.children or () if kind.keeps((e.keyword, *e.args))]
        for word in words:
            six = ":" in word
            if family is None:
                family = six
            elif six != family and child.keyword == "virtual_ipaddress":
                entry = next(e for e in child.children or () if e.keyword == word)
                yield _problem(
                    entry,
                    "bad-address",
                    f"{word} is not of the instance's address family (IPv{6 if family else 4}); "
                    "keepalived ignores it",
                    "put IPv4 and IPv6 VIPs in separate vrrp_instances (or in "
                    "virtual_ipaddress_excluded)",
                    "error",
                )


def _check_sync_group_weights(tree: ConfigTree, group: Node) -> Iterator[Problem]:
    """In a sync group keepalived ignores the members' tracking weights, unless told not to."""
    if group.find("sync_group_tracking_weight") or group.find("global_tracking"):
        return
    members = {entry.keyword for node in group.find_all("group") for entry in node.children or ()}
    scripts = {node.arg(0): node.find("weight") for node in tree.find_all("vrrp_script")}
    for instance in tree.find_all("vrrp_instance"):
        if instance.arg(0) not in members:
            continue
        for tracker in ("track_interface", "track_script", "track_file"):
            for entry in (e for n in instance.find_all(tracker) for e in n.children or ()):
                weighted = entry.arg(0) == "weight" or (
                    tracker == "track_script" and scripts.get(entry.keyword) is not None
                )
                if weighted:
                    yield _problem(
                        entry,
                        "ignored-weight",
                        f"{instance.arg(0)} is in sync group {group.arg(0)}, so keepalived "
                        f"ignores the weight of {tracker} {entry.keyword}: a failure faults the "
                        "whole group instead",
                        f"add sync_group_tracking_weight to vrrp_sync_group {group.arg(0)}, or "
                        "drop the weight",
                    )


def _check_script_security(tree: ConfigTree, global_defs: Node | None) -> Iterator[Problem]:
    """keepalived -t exits 6 when scripts run without enable_script_security."""
    if global_defs is not None and global_defs.find("enable_script_security"):
        return
    scripts = [node for _, node in _walk(tree.nodes) if node.keyword in _SCRIPT_KEYWORDS]
    if scripts:
        yield _problem(
            global_defs or scripts[0],
            "script-security",
            "scripts run as root without enable_script_security (keepalived: SECURITY "
            "VIOLATION - scripts are being executed but script_security not enabled)",
            "add enable_script_security and script_user root to global_defs",
        )


_SCRIPT_KEYWORDS: Final = frozenset(
    {"script", "misc_path", "notify", "notify_master", "notify_backup", "notify_fault",
     "notify_stop", "notify_up", "notify_down", "quorum_up", "quorum_down", "startup_script",
     "shutdown_script", "notify_fifo_script", "vrrp_notify_fifo_script", "lvs_notify_fifo_script",
     "notify_master_rx_lower_pri"}
)  # fmt: skip


def _check_server_complete(server: Node) -> Iterator[Problem]:
    """virtual_server settings keepalived defaults, each reported (without a line) by -t."""
    name = " ".join(server.args)
    fwmark = server.arg(0) == "fwmark"
    protocol = server.find("protocol")
    if protocol is None and not fwmark:
        yield _problem(
            server,
            "keepalived-default",
            f"virtual_server {name} has no protocol; keepalived defaults to UDP",
            "add protocol TCP (or UDP, SCTP)",
            "error",
        )
    elif protocol is not None and fwmark:
        yield _problem(
            protocol,
            "ignored-keyword",
            f"a fwmark virtual_server has no protocol; keepalived ignores protocol "
            f"{protocol.arg(0)}",
            "delete the protocol line: the firewall mark already selects the packets",
            "warning",
        )
    if not any(_valid(server.find(k), "virtual_server") for k in ("lvs_sched", "lb_algo")):
        yield _problem(
            server,
            "keepalived-default",
            f"virtual_server {name} has no lvs_sched; keepalived uses wlc",
            "add lvs_sched wlc (or rr, wrr, lc, sh, ...)",
            "warning",
        )
    reals = server.find_all("real_server")
    methods = [k for k in ("lvs_method", "lb_kind") if _method(server.find(k))]
    if not methods and any(not _method(real.find("lvs_method")) for real in reals):
        yield _problem(
            server,
            "keepalived-default",
            f"virtual_server {name} has no lvs_method; keepalived uses NAT",
            "add lvs_method NAT (or DR, TUN)",
            "warning",
        )
    if not reals:
        yield _problem(
            server,
            "keepalived-default",
            f"virtual_server {name} has no real_server; keepalived ignores it",
            "add the real servers, or delete the block",
            "warning",
        )
    sorry_method = server.find("sorry_server_lvs_method")
    if sorry_method is not None and server.find("sorry_server") is None:
        yield _problem(
            sorry_method,
            "ignored-keyword",
            "sorry_server_lvs_method without a sorry_server before it; keepalived ignores it",
            "put sorry_server IP PORT first, or delete this line",
            "error",
        )
    yield from _check_real_servers(server, reals)


def _method(node: Node | None) -> bool:
    """keepalived sets the method from the first word even when the tunnel options are bad."""
    return node is not None and node.arg(0) in ("NAT", "DR", "TUN")


def _check_real_servers(server: Node, reals: tuple[Node, ...]) -> Iterator[Problem]:
    seen: set[tuple[str, ...]] = set()
    family = _server_family(server)
    weights = 0
    for real in reals:
        if real.args in seen:
            yield _problem(
                real,
                "duplicate-entry",
                f"real_server {' '.join(real.args)} is listed twice; keepalived removes this one",
                "list each real server once; use weight for a bigger share",
                "error",
            )
        seen.add(real.args)
        weight = real.find("weight")
        weights += int(weight.arg(0)) if _valid(weight, "real_server") else 1
        tunnel = (real.find("lvs_method") or server.find("lvs_method") or real).arg(0) == "TUN"
        if family and not tunnel and _family(real.arg(0)) not in (None, family):
            yield Problem(
                _end(real),
                f"real_server {real.arg(0)} is not of the virtual server's address family; "
                "keepalived skips it",
                "use real servers of the VIP's family (or TUN forwarding)",
                "error",
                "bad-address",
            )
        yield from _check_bindto(real)
    quorum, hysteresis = server.find("quorum"), server.find("hysteresis")
    wanted = int(quorum.arg(0)) if _valid(quorum, "virtual_server") else 1
    if reals and wanted > weights:
        yield _problem(
            quorum or server,
            "keepalived-default",
            f"quorum {wanted} exceeds the real servers' total weight {weights}; "
            f"keepalived lowers it to {weights}",
            f"use a quorum of at most {weights}",
        )
    limit = int(quorum.arg(0)) if _valid(quorum, "virtual_server") else 1
    if _valid(hysteresis, "virtual_server") and int(hysteresis.arg(0)) >= limit:
        yield _problem(
            hysteresis,
            "keepalived-default",
            f"hysteresis {hysteresis.arg(0)} is not below the quorum {limit}; keepalived uses 0",
            f"use a hysteresis below {limit}",
        )


def _check_bindto(real: Node) -> Iterator[Problem]:
    """A checker's source address must be of the family it connects to."""
    checkers = [c for c in real.children or () if c.keyword in CHECKERS - {"SMTP_CHECK"}]
    for checker in checkers:
        bindto, connect = checker.find("bindto"), checker.find("connect_ip")
        target = _family(connect.arg(0)) if connect is not None else _family(real.arg(0))
        if bindto is not None and _family(bindto.arg(0)) not in (None, target):
            yield _problem(
                bindto,
                "bad-address",
                f"bindto {bindto.arg(0)} is not of the family of {real.arg(0)}, which the "
                "checker connects to; keepalived ignores it",
                "use a source address of the same family",
                "error",
            )


def _family(address: str) -> int | None:
    try:
        return ipaddress.ip_address(address).version
    except ValueError:
        return None


def _server_family(server: Node) -> int | None:
    """The family a virtual_server's address or ip_family gives it (None for fwmark/group)."""
    if (family := server.find("ip_family")) is not None:
        return {"inet": 4, "inet6": 6}.get(family.arg(0))
    return _family(server.arg(0))


def _flag(node: Node, keyword: str) -> bool:
    """A keyword present with no argument or a true one, as keepalived's handlers read it."""
    found = node.find(keyword)
    return found is not None and found.arg(0, "true") in ("true", "on", "yes")


def _priority(instance: Node) -> int | None:
    """The priority keepalived would use: 255 for a MASTER with none set, else 100."""
    found = instance.find("priority")
    if found is None:
        return OWNER_PRIORITY if _state(instance) == "MASTER" else 100
    return int(found.arg(0)) if found.arg(0).isdigit() else None


def _state(instance: Node) -> str:
    found = instance.find("state")
    return found.arg(0) if found else ""


def _vrrp_version(instance: Node, global_defs: Node | None) -> str:
    """VRRP version in force: the instance's, else IPv6 implies 3, else global, else 2."""
    if found := instance.find("version"):
        return found.arg(0)
    addresses = instance.find("virtual_ipaddress")
    vip = ENTRIES[("vrrp_instance", "virtual_ipaddress")]
    entries = [(e.keyword, *e.args) for e in addresses.children or ()] if addresses else []
    if any(":" in words[0] and vip.keeps(words) for words in entries):
        return "3"
    if global_defs and (found := global_defs.find("vrrp_version")):
        return found.arg(0)
    return "2"


def _check_authentication(instance: Node, global_defs: Node | None) -> Iterator[Problem]:
    auth = instance.find("authentication")
    auth_type = auth.find("auth_type") if auth else None
    if auth is None or auth_type is None:
        return
    kind, password = auth_type.arg(0), auth.find("auth_pass")
    strict = _flag(instance, "strict_mode") or bool(global_defs and global_defs.find("vrrp_strict"))
    if _vrrp_version(instance, global_defs) == "3" or strict or password is None:
        why = "strict mode" if strict else "VRRPv3" if password else "no auth_pass is given"
        yield _problem(
            auth_type,
            "auth-ignored",
            f"keepalived ignores this authentication: {why} does not allow it",
            "delete the authentication block",
        )
        return
    if kind == "PASS":
        yield _problem(
            auth_type,
            "plain-text-auth",
            f"auth_type PASS sends the password '{password.arg(0)}' in clear in every "
            "advertisement: anyone on the segment can read it and forge adverts; it only "
            "guards against two clusters sharing a virtual_router_id by mistake",
            "delete the authentication block (RFC 3768 dropped VRRP authentication) and keep "
            "VRRP off untrusted networks with a firewall rule for protocol 112",
        )
    elif kind == "AH":
        message = (
            "auth_type AH is obsolete: RFC 3768 removed VRRP authentication, and keepalived "
            "refuses it with VRRPv3, IPv6 and strict mode"
        )
        if _state(instance) == "MASTER" and _priority(instance) != OWNER_PRIORITY:
            message += "; keepalived also starts this MASTER as BACKUP, to learn AH's sequence"
        yield _problem(
            auth_type,
            "ah-auth",
            message,
            "delete the authentication block and filter VRRP (protocol 112) at the firewall",
        )


def _check_instance(instance: Node, global_defs: Node | None) -> Iterator[Problem]:
    state = instance.find("state")
    if state and state.arg(0) == "MASTER":
        if instance.find("priority") is None:
            yield _problem(
                state,
                "master-owner-priority",
                "state MASTER without a priority makes keepalived use priority 255, the address "
                "owner's: this director always wins and preempts, whatever the peer says",
                "set an explicit priority below 255, e.g. priority 100",
            )
        for keyword in ("nopreempt", "preempt_delay"):
            if found := instance.find(keyword):
                yield _problem(
                    found,
                    f"{keyword.replace('_', '-')}-with-master",
                    f"{keyword} does not work with initial state MASTER; keepalived clears it",
                    f"use state BACKUP on both directors with {keyword}",
                )
    advert = instance.find("advert_int")
    if advert and _vrrp_version(instance, global_defs) == "2":
        try:
            seconds = Decimal(advert.arg(0))
        except InvalidOperation:
            seconds = Decimal(1)
        if seconds != seconds.to_integral_value():
            rounded = max(1, int(seconds.to_integral_value(ROUND_HALF_UP)))
            yield _problem(
                advert,
                "subsecond-advert",
                f"VRRPv2 advertises whole seconds: keepalived rounds advert_int {advert.arg(0)} "
                f"to {rounded}",
                "use a whole number of seconds, or version 3 for centisecond intervals",
            )
    if instance.find("dont_track_primary") and not instance.find("track_interface"):
        yield _problem(
            instance.find("dont_track_primary") or instance,
            "untracked-primary",
            "with dont_track_primary and no track_interface, losing the link on this "
            "instance's interface does not fault it, so the peer never takes over",
            "remove dont_track_primary (keepalived tracks the interface by default)",
        )


def _check_sync_groups(tree: ConfigTree) -> Iterator[Problem]:
    instances = {node.arg(0): node for node in tree.find_all("vrrp_instance")}
    for group in tree.find_all("vrrp_sync_group"):
        members = group.find("group")
        names = [entry.keyword for entry in members.children or ()] if members else []
        for entry in members.children or () if members else ():
            if entry.keyword not in instances:
                yield _problem(
                    entry,
                    "sync-group-unknown-instance",
                    f"vrrp_instance {entry.keyword} does not exist; keepalived ignores it here",
                    "correct the name or define the instance",
                    "error",
                )
        known = [instances[name] for name in names if name in instances]
        if len(known) == 1:
            yield _problem(
                group,
                "sync-group-single",
                f"sync group {group.arg(0)} has only 1 virtual router: nothing to keep in sync",
                "add the other instances that must fail over together, or drop the group",
            )
        owners = {_priority(instance) == OWNER_PRIORITY for instance in known}
        if len(owners) == 2:
            yield _problem(
                group,
                "sync-group-owner-mix",
                f"sync group {group.arg(0)} mixes address owners (priority 255) and "
                "non-owners; keepalived says this won't work",
                "give every member a priority below 255",
                "error",
            )


def _forwarding(server: Node) -> str:
    """The LVS forwarding method, under its current or its 2004 name (NAT by default)."""
    found = server.find("lvs_method") or server.find("lb_kind")
    return found.arg(0) if found else "NAT"


def _check_virtual_servers(tree: ConfigTree) -> Iterator[Problem]:
    floating = {
        entry.keyword.split("/")[0]
        for instance in tree.find_all("vrrp_instance")
        for block in instance.find_all("virtual_ipaddress")
        for entry in block.children or ()
    }
    services = tree.find_all("virtual_server")
    for server in services:
        for real in server.find_all("real_server"):
            if not any(child.keyword in CHECKERS for child in real.children or ()):
                yield _problem(
                    real,
                    "unchecked-real-server",
                    f"real_server {' '.join(real.args)} has no health checker, so keepalived "
                    "keeps it in the pool even when it is down",
                    "add a TCP_CHECK, HTTP_GET or another checker block",
                )
    nat = [server for server in services if _forwarding(server) == "NAT"]
    if nat and floating and floating <= {server.arg(0) for server in services}:
        yield _problem(
            nat[0],
            "nat-without-dip",
            "LVS-NAT replies go back through the director, so real servers need a gateway "
            "address that follows the master; no vrrp_instance here floats one besides the VIPs",
            "add the real servers' gateway (the DIP) to a vrrp_instance in the same sync group "
            "as the VIP, and make it the real servers' default route",
        )


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_interface(text)
    except ValueError:
        return False
    return True


def _check_addresses(tree: ConfigTree) -> Iterator[Problem]:
    """Addresses and ports keepalived skips, with the whole block, when it cannot parse them."""
    for _, node in _walk(tree.nodes):
        if node.keyword in ("virtual_server", "real_server") and node.arg(0) not in (
            "fwmark",
            "group",
        ):
            address, port = node.arg(0), node.arg(1, "0")
            if not _is_address(address) or not port.isdigit() or int(port) > 65535:
                yield _problem(
                    node,
                    "bad-address",
                    f"{node.keyword} {address} {port}: not an IP address and a port "
                    "0-65535; keepalived skips the whole block",
                    "write it as, e.g., 192.168.0.174 80",
                    severity="error",
                )


def lint(tree: ConfigTree, interfaces: Collection[str] | None = None) -> list[Problem]:
    """Every problem in a parsed configuration, sorted by file and line.

    ``interfaces`` are the director's interface names: keepalived refuses names that its
    machine lacks, which only the director knows; without them, names are not checked.
    """
    global_defs = tree.find("global_defs")
    problems = [
        *tree.problems,
        *_check_keywords(tree),
        *_check_values(tree),
        *_check_blocks(tree),
        *(_check_interfaces(tree, interfaces) if interfaces is not None else ()),
        *_check_sync_groups(tree),
        *_check_virtual_servers(tree),
        *_check_addresses(tree),
        *_check_routing(tree),
    ]
    for instance in tree.find_all("vrrp_instance"):
        problems.extend(_check_instance(instance, global_defs))
        problems.extend(_check_authentication(instance, global_defs))
    return sorted(problems, key=lambda problem: problem.location)


# --- the directors' files read together -----------------------------------------------------


def _trackers(instance: Node, scripts: dict[str, Node]) -> list[tuple[Node, str, int]]:
    """Each ``track_script``/``track_interface`` entry of ``instance`` with its weight: the
    entry's own ``weight``, else the vrrp_script's, else 0 (a failure faults the instance)."""
    found = []
    for block, kind in (("track_script", "script"), ("track_interface", "interface")):
        for entry in (b for node in instance.find_all(block) for b in node.children or ()):
            weight = entry.arg(1) if entry.arg(0) == "weight" else ""
            if not weight and kind == "script" and entry.keyword in scripts:
                setting = scripts[entry.keyword].find("weight")
                weight = setting.arg(0) if setting else ""
            try:
                found.append((entry, f"{kind} {entry.keyword}", int(weight or 0)))
            except ValueError:
                continue
    return found


Side = tuple[Node, dict[str, Node], Node | None]
"""A vrrp_instance, the vrrp_scripts of its file, and that file's global_defs."""

_DIFFER: dict[str, tuple[Severity, str]] = {
    "advert_int": (
        "error",
        "keepalived drops VRRPv2 adverts whose interval differs from its own, so both "
        "directors become master",
    ),
    "authentication": ("error", "each drops the other's VRRPv2 adverts, so both become master"),
    "virtual_ipaddress": ("warning", "after a failover the new master floats other addresses"),
}

_V3_INTERVALS = (
    "a VRRPv3 backup follows the master's interval, but advertises at its own once it takes over"
)


def _check_pair(master: Side, backup: Side) -> Iterator[Problem]:
    """One VRRP instance as the master and a backup configure it."""
    (high, high_scripts, global_defs), (low, low_scripts, _) = master, backup
    vrid = high.find("virtual_router_id")
    where = f"virtual_router_id {vrid.arg(0) if vrid else '?'}"
    other = f"{low.location.file}:{low.location.line}"
    v2 = _vrrp_version(high, global_defs) == "2"
    for keyword, (severity, effect) in _DIFFER.items():
        mine, theirs = high.find(keyword), low.find(keyword)
        if _text(mine) == _text(theirs) or (keyword == "authentication" and not v2):
            continue
        if keyword == "advert_int" and not v2:
            severity, effect = "warning", _V3_INTERVALS
        yield _problem(
            mine or high,
            "pair-mismatch",
            f"{keyword} differs between the directors for {where} (the other: {other}): {effect}",
            f"make {keyword} the same in both files",
            severity,
        )
    top, bottom = _priority(high), _priority(low)
    if top is None or bottom is None:
        return
    if top == bottom:
        yield _problem(
            high.find("priority") or high,
            "equal-priority",
            f"both directors give {where} priority {top} (the other: {other}): the higher "
            "primary IP address wins the election, not the one you meant",
            "give the master a higher priority than the backup, e.g. 100 and 50",
        )
        return
    bonus = sum(w for _, _, w in _trackers(low, low_scripts) if w > 0)
    best_backup = bottom + bonus
    mine = _trackers(high, high_scripts)
    healthy = top + sum(w for _, _, w in mine if w > 0)
    for entry, name, weight in mine:
        failed = healthy - weight if weight > 0 else healthy + weight
        if weight and failed >= best_backup:
            yield _problem(
                entry,
                "weight-within-gap",
                f"when {name} fails, the master's priority for {where} drops to {failed}, "
                f"still not below the backup's {best_backup} ({other}): the VIPs stay put",
                f"make the weight's effect larger than the gap of {healthy - best_backup}, "
                "or leave weight out so that a failure faults the instance",
            )


def _text(node: Node | None) -> str:
    """A block or line as keepalived reads it: keywords and arguments, no layout."""
    if node is None:
        return ""
    inner = " ".join(_text(child) for child in node.children or ())
    return " ".join([node.keyword, *node.args, *(["{", inner, "}"] if node.children else [])])


def lint_directors(trees: list[ConfigTree]) -> list[Problem]:
    """What shows only when the directors' files are read together: the same VRRP instance
    (same ``virtual_router_id`` on the same interface) must agree on its timing, addresses
    and password, and its priorities must leave a gap that the tracking weights can cross."""
    seen: dict[tuple[str, str], list[Side]] = {}
    for tree in trees:
        scripts = {node.arg(0): node for node in tree.find_all("vrrp_script")}
        global_defs = tree.find("global_defs")
        for instance in tree.find_all("vrrp_instance"):
            key = (_text(instance.find("virtual_router_id")), _text(instance.find("interface")))
            seen.setdefault(key, []).append((instance, scripts, global_defs))
    problems = []
    for pair in seen.values():
        ranked = sorted(pair, key=lambda entry: -(_priority(entry[0]) or 0))
        for backup in ranked[1:]:
            problems.extend(_check_pair(ranked[0], backup))
    return sorted(problems, key=lambda problem: problem.location)


def lint_file(
    path: str | os.PathLike[str],
    *,
    config_id: str | None = None,
    interfaces: Collection[str] | None = None,
) -> list[Problem]:
    """Lint a file and its includes; raises ConfigSyntaxError only if it cannot be read."""
    return lint(parse_file(path, config_id=config_id), interfaces)
