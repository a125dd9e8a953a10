"""Turn existing keepalived.conf files into a cluster spec.

An operator who already runs a director pair gives one file per director: the first file
supplies the VRRP instances, sync groups and virtual servers, and every file supplies its
director's router_id, interfaces and priority. What the spec cannot express yet (other
checkers, virtual_server_group, vrrp_script, ...) is left out and reported as a warning at its
file:line, so nothing disappears silently.

Importing reads what keepalived would read: a block that keepalived ignores (such as the 2007
article's ``virtual_server`` swallowed by an unclosed block) is not imported either.

>>> from cluster.keepalived.syntax import parse_text
>>> tree = parse_text('''
... vrrp_instance VI_1 {
...   interface eth0
...   virtual_router_id 51
...   priority 150
...   virtual_ipaddress { 192.0.2.10 }
... }
... virtual_server 192.0.2.10 80 {
...   lb_algo wrr
...   real_server 10.0.0.1 80 { weight 3 }
... }''', "lb1.conf")
>>> spec, warnings = import_keepalived_confs([tree])
>>> spec.directors[0].priority, spec.virtual_services[0].scheduler
(150, 'wrr')
>>> [f"{w.location} {w.severity}" for w in warnings]
['lb1.conf:10 warning']
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pydantic

from cluster.errors import Location, Problem, SpecError
from cluster.keepalived.syntax import ConfigTree, Node
from cluster.spec.model import ClusterSpec
from cluster.spec.validate import validate_spec

CHECKERS = {"TCP_CHECK", "HTTP_GET", "SSL_GET"}
#: keepalived's older names for the keywords the renderer writes.
ALIASES = {"lb_algo": "lvs_sched", "lb_kind": "lvs_method", "nb_get_retry": "retry"}
NOTIFY = {
    "notify_master": "master",
    "notify_backup": "backup",
    "notify_fault": "fault",
    "notify_stop": "stop",
    "notify": "any",
}
INSTANCE_KEYS = {
    "state",
    "interface",
    "virtual_router_id",
    "priority",
    "advert_int",
    "version",
    "nopreempt",
    "authentication",
    "virtual_ipaddress",
    "track_interface",
    *NOTIFY,
}
SERVICE_KEYS = {
    "lvs_sched": "scheduler",
    "lvs_method": "forwarding",
    "protocol": "protocol",
    "delay_loop": "delay_loop",
    "quorum": "quorum",
    "virtualhost": "virtualhost",
}
SCHEDULER_FLAGS = {"sh-port", "sh-fallback", "mh-port", "mh-fallback"}
CHECK_KEYS = {
    "connect_timeout",
    "connect_port",
    "retry",
    "delay_before_retry",
    "delay_loop",
    "virtualhost",
}
TOP_LEVEL = {"global_defs", "vrrp_instance", "vrrp_sync_group", "virtual_server"}

SpecPath = tuple[str | int, ...]


class _Importer:
    """Builds the spec's data, remembering which config line each part came from."""

    def __init__(self) -> None:
        self.warnings: list[Problem] = []
        self.origin: dict[SpecPath, Location] = {}

    def locate(self, path: Sequence[str | int]) -> Location:
        """The config line of the deepest imported part on ``path``, for validation findings."""
        for end in range(len(path), 0, -1):
            if (location := self.origin.get(tuple(path[:end]))) is not None:
                return location
        return self.origin[()]

    def skip(self, node: Node, why: str = "is not in the cluster spec model yet") -> None:
        words = " ".join([node.keyword, *node.args])
        self.warnings.append(
            Problem(
                node.location,
                f"{words} {why}; left out",
                fix="add it to the spec by hand if you need it",
                severity="warning",
                code="import-skipped",
            )
        )

    def keep(self, tree: ConfigTree, keyword: str) -> list[Node]:
        """The blocks the spec can hold; the rest are reported and left out."""
        kept = []
        for node in tree.find_all(keyword):
            if keyword == "virtual_server" and node.arg(0) == "group":
                self.skip(node, "uses a virtual_server_group, which the spec has no model for")
            elif keyword == "virtual_server" and len(node.args) < 2:
                self.skip(node, "has no address and port")
            elif keyword == "vrrp_sync_group" and node.find("group") is None:
                self.skip(node, "has no group { } block")
            else:
                kept.append(node)
        return kept

    def director(self, tree: ConfigTree, index: int) -> dict[str, Any]:
        instances = tree.find_all("vrrp_instance")
        priorities = sorted({int(_value(n, "priority") or 100) for n in instances})
        if len(priorities) > 1:
            self.warnings.append(
                Problem(
                    instances[0].location,
                    f"the instances have priorities {priorities}; the spec "
                    f"gives a director one, so {priorities[-1]} is used",
                    severity="warning",
                    fix="check the imported priority",
                    code="import-priority",
                )
            )
        interfaces: list[str] = []
        for instance in instances:
            for name in [_value(instance, "interface"), *_words(instance, "track_interface")]:
                if name and name not in interfaces:
                    interfaces.append(name)
        globals_ = tree.find("global_defs")
        number = f"{index + 1:02d}"
        return {
            "name": f"director{number}",
            "router_id": _value(globals_, "router_id") or f"DIRECTOR{number}",
            "priority": priorities[-1] if priorities else 100,
            # A config does not say which L2 segment an interface is on; its name will do.
            "interfaces": [{"name": name, "segment": name} for name in interfaces],
        }

    def notification(self, globals_: Node | None) -> dict[str, Any] | None:
        server = globals_.find("smtp_server") if globals_ else None
        if globals_ is None or server is None:
            return None
        self.origin[("notification",)] = server.location
        data: dict[str, Any] = {
            "smtp_server": server.arg(0),
            "email": _words(globals_, "notification_email"),
        }
        if (sender := _value(globals_, "notification_email_from")) is not None:
            data["email_from"] = sender
        if (timeout := _value(globals_, "smtp_connect_timeout")) is not None:
            data["smtp_connect_timeout"] = timeout
        return data

    def instance(self, node: Node, index: int) -> dict[str, Any]:
        self.origin[("vrrp", "instances", index)] = node.location
        interface = _value(node, "interface")
        data: dict[str, Any] = {
            "name": node.arg(0),
            "interface": interface,
            "virtual_router_id": _value(node, "virtual_router_id"),
            "virtual_ipaddresses": [_vip(e.keyword) for e in _entries(node, "virtual_ipaddress")],
            # keepalived ignores an instance's own interface here, so the spec leaves it out.
            "track_interfaces": [t for t in _words(node, "track_interface") if t != interface],
            "notify": self.notify(node),
        }
        for key in ("advert_int", "version"):
            if (value := _value(node, key)) is not None:
                data[key] = value
        if node.find("nopreempt") is not None:
            data["nopreempt"] = True
        if (auth := node.find("authentication")) is not None:
            data["auth"] = {
                "type": _value(auth, "auth_type"),
                "password": _value(auth, "auth_pass"),
            }
        for child in node.children or ():
            if child.keyword not in INSTANCE_KEYS:
                self.skip(child)
        return data

    def sync_group(self, node: Node, index: int) -> dict[str, Any]:
        self.origin[("vrrp", "sync_groups", index)] = node.location
        for child in node.children or ():
            if child.keyword != "group" and child.keyword not in NOTIFY:
                self.skip(child)
        return {
            "name": node.arg(0),
            "instances": _words(node, "group"),
            "notify": self.notify(node),
        }

    def notify(self, node: Node) -> dict[str, str]:
        return {
            NOTIFY[c.keyword]: " ".join(c.args) for c in node.children or () if c.keyword in NOTIFY
        }

    def virtual_server(self, node: Node, index: int) -> dict[str, Any]:
        self.origin[("virtual_services", index)] = node.location
        if node.arg(0) == "fwmark":
            data: dict[str, Any] = {"name": f"fwmark-{node.arg(1)}", "fwmark": node.arg(1)}
        else:
            data = {
                "name": f"{node.arg(0)}-{node.arg(1)}".replace(":", "."),
                "address": node.arg(0),
                "port": node.arg(1),
            }
        servers: list[dict[str, Any]] = []
        for child in node.children or ():
            keyword = ALIASES.get(child.keyword, child.keyword)
            if keyword == "real_server":
                path = ("virtual_services", index, "real_servers", len(servers))
                servers.append(self.real_server(child, path))
            elif keyword in SCHEDULER_FLAGS:
                data.setdefault("scheduler_flags", []).append(keyword)
            elif keyword == "protocol" and "fwmark" in data:
                continue  # keepalived ignores it too: the mark already selects the packets
            elif keyword in SERVICE_KEYS:
                data[SERVICE_KEYS[keyword]] = child.arg(0)
            elif keyword == "persistence_timeout":
                data.setdefault("persistence", {})["timeout"] = child.arg(0, "360")
            elif keyword == "persistence_granularity":
                data.setdefault("persistence", {})["netmask"] = child.arg(0)
            else:
                self.skip(child)
        data["real_servers"] = servers
        return data

    def real_server(self, node: Node, path: SpecPath) -> dict[str, Any]:
        self.origin[path] = node.location
        data: dict[str, Any] = {"address": node.arg(0)}
        if len(node.args) > 1:
            data["port"] = node.arg(1)
        for child in node.children or ():
            if child.keyword == "weight":
                data["weight"] = child.arg(0)
            elif child.keyword in CHECKERS and "check" not in data:
                self.origin[(*path, "check")] = child.location
                data["check"] = self.check(child)
            elif child.keyword in CHECKERS:
                self.skip(child, "is a second checker, and the spec keeps one")
            else:
                self.skip(child)
        return data

    def check(self, node: Node) -> dict[str, Any]:
        data: dict[str, Any] = {"type": node.keyword}
        for child in node.children or ():
            keyword = ALIASES.get(child.keyword, child.keyword)
            if keyword == "url":
                url = {key: _value(child, key) for key in ("path", "digest", "status_code")}
                data.setdefault("urls", []).append({k: v for k, v in url.items() if v})
            elif keyword in CHECK_KEYS:
                data[keyword] = child.arg(0)
            elif keyword == "enable_sni":
                data[keyword] = True
            else:
                self.skip(child)
        return data


def import_keepalived_confs(
    trees: Sequence[ConfigTree], name: str = "imported"
) -> tuple[ClusterSpec, list[Problem]]:
    """A spec from one parsed keepalived.conf per director, and the warnings on the way.

    Raises :class:`SpecError` when what the files say cannot make a sound spec (a VIP that
    is not an address, two directors with one priority, ...), each problem at its config line.
    """
    importer = _Importer()
    first = trees[0]
    importer.origin[()] = Location(first.files[0] if first.files else "<config>")
    for tree in trees:  # what keepalived would ignore or complain about, it says so here too
        importer.warnings += tree.problems
    for node in first.nodes:
        if node.keyword not in TOP_LEVEL:
            importer.skip(node)
    for index, tree in enumerate(trees):
        if tree.nodes:
            importer.origin[("directors", index)] = tree.nodes[0].location
    data: dict[str, Any] = {
        "name": name,
        "description": "Imported from " + ", ".join(t.files[0] for t in trees if t.files),
        "directors": [importer.director(tree, i) for i, tree in enumerate(trees)],
        "vrrp": {
            "instances": [
                importer.instance(n, i) for i, n in enumerate(first.find_all("vrrp_instance"))
            ],
            "sync_groups": [
                importer.sync_group(n, i)
                for i, n in enumerate(importer.keep(first, "vrrp_sync_group"))
            ],
        },
        "virtual_services": [
            importer.virtual_server(n, i)
            for i, n in enumerate(importer.keep(first, "virtual_server"))
        ],
    }
    if (notification := importer.notification(first.find("global_defs"))) is not None:
        data["notification"] = notification
    try:
        spec = ClusterSpec.model_validate(data)
    except pydantic.ValidationError as err:
        raise SpecError(
            [
                Problem(
                    importer.locate([i for i in e["loc"] if isinstance(i, str | int)]),
                    f"cannot import: {e['msg']}",
                    fix="make `keepalived -t` accept the config first",
                )
                for e in err.errors()
            ]
        ) from None
    problems = validate_spec(spec, importer.locate)
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        raise SpecError(errors)
    return spec, sorted(importer.warnings + problems, key=lambda p: p.location)


def _value(node: Node | None, keyword: str) -> str | None:
    """The first argument of ``keyword`` inside ``node``: ``priority 100`` gives "100"."""
    for child in node.children or () if node else ():
        if ALIASES.get(child.keyword, child.keyword) == keyword:
            return child.arg(0) or None
    return None


def _entries(node: Node, keyword: str) -> tuple[Node, ...]:
    """The lines of a list block such as ``virtual_ipaddress { ... }``."""
    block = node.find(keyword)
    return block.children or () if block is not None else ()


def _words(node: Node, keyword: str) -> list[str]:
    """``track_interface { eth1 weight 10 }`` gives ["eth1"]: the first word of each line."""
    return [entry.keyword for entry in _entries(node, keyword)]


def _vip(address: str) -> str:
    """keepalived reads a bare VIP as a host address; the spec writes the prefix out."""
    return address if "/" in address else f"{address}/{128 if ':' in address else 32}"
