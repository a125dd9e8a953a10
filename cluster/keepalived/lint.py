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
import os
from collections.abc import Iterator
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from cluster.errors import Problem, Severity
from cluster.keepalived.keywords import CHECKERS, DEPRECATED, GRAMMAR, LEGACY_NAMES, TOP
from cluster.keepalived.syntax import ConfigTree, Node, parse_file

OWNER_PRIORITY = 255
"""VRRP's address-owner priority: such a router always wins and always preempts."""

_AUTH_PASS_SIZE = 8
"""Bytes of auth_pass a VRRPv2 packet carries; keepalived truncates longer ones."""


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
    if addresses and any(":" in entry.keyword for entry in addresses.children or ()):
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
    if len(password.arg(0).encode()) > _AUTH_PASS_SIZE:
        yield _problem(
            password,
            "auth-pass-truncated",
            f"keepalived truncates auth_pass to {_AUTH_PASS_SIZE} characters",
            f"use at most {_AUTH_PASS_SIZE} characters, the same on both directors",
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
    for block, node in _walk(tree.nodes):
        if block == "vrrp_instance" and node.keyword == "virtual_ipaddress":
            for entry in node.children or ():
                if not _is_address(entry.keyword):
                    yield _problem(
                        entry,
                        "bad-address",
                        f"{entry.keyword!r} is not an IP address; keepalived skips "
                        "this VIP (VRRP parsed invalid IP)",
                        "write an address such as 192.168.0.174 or 192.168.0.174/32",
                        severity="error",
                    )
        elif node.keyword in ("virtual_server", "real_server") and node.arg(0) not in (
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


def lint(tree: ConfigTree) -> list[Problem]:
    """Every problem in a parsed configuration, syntax first found, sorted by file and line."""
    global_defs = tree.find("global_defs")
    problems = [
        *tree.problems,
        *_check_keywords(tree),
        *_check_sync_groups(tree),
        *_check_virtual_servers(tree),
        *_check_addresses(tree),
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


def lint_file(path: str | os.PathLike[str]) -> list[Problem]:
    """Lint a file and its includes; raises ConfigSyntaxError only if it cannot be read."""
    return lint(parse_file(path))
