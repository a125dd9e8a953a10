"""Turn existing keepalived.conf files into a cluster spec.

An operator who already runs a director pair gives one file per director: the first file
supplies the VRRP instances, sync groups and virtual servers, and every file supplies its
director's router_id, interfaces, priority (per instance where they differ), the state each
instance starts in and its unicast source address. What the spec cannot express yet (other
checkers, ...) is left out and reported as a warning at its file:line, so nothing disappears
silently.

A config with values keepalived itself refuses is not imported: the errors lint finds there
(``priority 300``, a VIP that is not an address) are raised, each at its line, because the
spec would otherwise hold what keepalived never ran.

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
>>> for warning in warnings:
...     print(warning.location, warning.message.split(",")[0])
lb1.conf:2 no router_id: keepalived names this director by its host name
lb1.conf:2 render writes enable_script_security and script_user root into global_defs
lb1.conf:10 real server 10.0.0.1 has no health check
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Sequence
from typing import Any

import pydantic

from cluster.errors import Location, Problem, SpecError
from cluster.keepalived.lint import lint
from cluster.keepalived.syntax import ConfigTree, Node
from cluster.spec.load import validation_problems
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
    "unicast_peer",
    "unicast_src_ip",
    *NOTIFY,
}
GARP = {
    "vrrp_garp_master_delay": "master_delay",
    "vrrp_garp_master_repeat": "master_repeat",
    "vrrp_garp_master_refresh": "master_refresh",
    "vrrp_garp_master_refresh_repeat": "master_refresh_repeat",
    "vrrp_garp_lower_prio_delay": "lower_prio_delay",
    "vrrp_garp_lower_prio_repeat": "lower_prio_repeat",
    "vrrp_garp_interval": "interval",
    "vrrp_gna_interval": "gna_interval",
}
#: global_defs keywords the spec holds (router_id per director; the rest cluster-wide).
GLOBAL_KEYS = {
    "router_id",
    "notification_email",
    "notification_email_from",
    "smtp_server",
    "smtp_connect_timeout",
    "smtp_alert",
    "vrrp_strict",
    "lvs_sync_daemon",
    "enable_script_security",
    "script_user",
    *GARP,
}
SCRIPT_KEYS = {"script", "interval", "timeout", "weight", "rise", "fall"}
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
TOP_LEVEL = {
    "global_defs",
    "vrrp_instance",
    "vrrp_sync_group",
    "virtual_server",
    "virtual_server_group",
    "vrrp_script",
}
#: What lint finds that keepalived refuses outright; such a config is not imported.
REFUSED = {"bad-value", "missing-value", "bad-address", "duplicate-name", "unknown-interface"}

SpecPath = tuple[str | int, ...]


class _Importer:
    """Builds the spec's data, remembering which config line each part came from."""

    def __init__(self) -> None:
        self.warnings: list[Problem] = []
        self.origin: dict[SpecPath, Location] = {}
        self.script_names: set[str] = set()

    def locate(self, path: Sequence[str | int]) -> Location:
        """The config line of the deepest imported part on ``path``, for validation findings."""
        for end in range(len(path), 0, -1):
            if (location := self.origin.get(tuple(path[:end]))) is not None:
                return location
        return self.origin[()]

    def warn(self, node: Node, message: str, fix: str, code: str) -> None:
        """Report, at ``node``'s line, something the spec changes or leaves out."""
        self.warnings.append(Problem(node.location, message, fix, "warning", code))

    def skip(
        self, node: Node, why: str = "is not in the cluster spec model yet", what: str = "left out"
    ) -> bool:
        """Report a line the spec leaves out (or ``what`` it does with it); False, so that it
        can end a filter."""
        words = " ".join([node.keyword, *node.args])
        self.warn(node, f"{words} {why}; {what}", "add it to the spec by hand if you need it",
                  "import-skipped")  # fmt: skip
        return False

    def keep(self, tree: ConfigTree, keyword: str) -> list[Node]:
        """The blocks the spec can hold; the rest are reported and left out."""
        kept = []
        for node in tree.find_all(keyword):
            if keyword == "virtual_server" and len(node.args) < 2:
                self.skip(node, "has no address and port")
            elif keyword == "vrrp_sync_group" and node.find("group") is None:
                self.skip(node, "has no group { } block")
            else:
                kept.append(node)
        return kept

    def director(self, tree: ConfigTree, index: int) -> dict[str, Any]:
        instances = tree.find_all("vrrp_instance")
        for instance in instances:
            state = instance.find("state")
            if instance.find("priority") is None and state and state.arg(0) == "MASTER":
                self.warn(
                    state,
                    "state MASTER without a priority makes keepalived use priority 255, the "
                    "address owner's; the spec keeps the director's priority (100 unless "
                    "another instance sets one) and render writes it",
                    "set the director's priority in the spec",
                    "import-priority",
                )
        # The director's priority is its highest; instances below it keep theirs.
        priorities = {n.arg(0): int(_value(n, "priority") or 100) for n in instances}
        top = max(priorities.values(), default=100)
        interfaces: list[str] = []
        for instance in instances:
            vip_devs = [
                words[words.index("dev") + 1]
                for entry in _entries(instance, "virtual_ipaddress")
                if "dev" in (words := list(entry.args))[:-1]
            ]
            tracked = _words(instance, "track_interface")
            for name in [_value(instance, "interface"), *tracked, *vip_devs]:
                if name and name not in interfaces:
                    interfaces.append(name)
        globals_ = tree.find("global_defs")
        number = f"{index + 1:02d}"
        if _value(globals_, "router_id") is None and tree.nodes:
            self.warn(
                globals_ or tree.nodes[0],
                f"no router_id: keepalived names this director by its host name, the spec "
                f"calls it DIRECTOR{number} and render writes router_id DIRECTOR{number}",
                "set the director's router_id in the spec",
                "import-router-id",
            )
        return {
            "name": f"director{number}",
            "router_id": _value(globals_, "router_id") or f"DIRECTOR{number}",
            "priority": top,
            "priorities": {name: value for name, value in priorities.items() if value != top},
            # A config does not say which L2 segment an interface is on; its name will do.
            "interfaces": [{"name": name, "segment": name} for name in interfaces],
            # keepalived starts an instance without a state as BACKUP; so does the spec's.
            "states": {
                instance.arg(0): "MASTER" if _value(instance, "state") == "MASTER" else "BACKUP"
                for instance in instances
            },
            "unicast_src_ips": self.unicast_sources(instances),
        }

    def unicast_sources(self, instances: tuple[Node, ...]) -> dict[str, str]:
        """Each instance's unicast_src_ip, where it has unicast peers to send to."""
        sources = {}
        for instance in instances:
            if (node := instance.find("unicast_src_ip")) is None:
                continue
            if _entries(instance, "unicast_peer"):
                sources[instance.arg(0)] = node.arg(0)
            else:
                self.skip(node, "has no unicast_peer to send to, so keepalived uses multicast")
        return sources

    def unicast_peers(self, trees: Sequence[ConfigTree], instances: list[dict[str, Any]]) -> None:
        """Every director's unicast peers of an instance, in one list: each file lists the
        others, and render leaves out a director's own addresses."""
        for instance in instances:
            for tree in trees:
                for node in tree.find_all("vrrp_instance"):
                    if node.arg(0) != instance["name"]:
                        continue
                    for entry in _entries(node, "unicast_peer"):
                        if entry.args:
                            self.skip(entry, "has ttl options the spec has no model for",
                                      "the peer is kept without them")  # fmt: skip
                        if entry.keyword not in instance.setdefault("unicast_peers", []):
                            instance["unicast_peers"].append(entry.keyword)

    def check_unicast(self, trees: Sequence[ConfigTree], spec: ClusterSpec) -> None:
        """Report each file whose rendered unicast_peer list would not be the one it has."""
        for tree, director in zip(trees, spec.directors, strict=True):
            for instance in spec.vrrp.instances:
                node = next((n for n in tree.find_all("vrrp_instance")
                             if n.arg(0) == instance.name), None)  # fmt: skip
                block = node.find("unicast_peer") if node is not None else None
                written = [e.keyword for e in _entries(node, "unicast_peer")] if node else []
                rendered = [str(peer) for peer in instance.peers_of(director)]
                if instance.unicast_peers and sorted(rendered) != sorted(written):
                    self.warn(
                        block or node or tree.nodes[0],
                        f"{instance.name}'s unicast peers here are {written or 'none'}, but "
                        f"from the spec render writes {rendered or 'none'} for {director.name}",
                        "give the director its addresses on the link in the spec "
                        "(interfaces[].addresses), or its unicast_src_ips",
                        "import-unicast",
                    )

    def script_security(self, tree: ConfigTree) -> None:
        """Render always writes enable_script_security and script_user root; say so where a
        config runs its scripts otherwise."""
        node = tree.find("global_defs")
        user = node.find("script_user") if node else None
        if node and node.find("enable_script_security") and user and user.args == ("root",):
            return
        if node is not None or tree.nodes:
            self.warn(
                node or tree.nodes[0],
                "render writes enable_script_security and script_user root into global_defs, "
                "which this config lacks: scripts run as root, and only if no other user can "
                "write them",
                "check that root owns the scripts (keepalived -t names any it refuses)",
                "import-script-security",
            )

    def globals_(self, node: Node | None, vrrp: dict[str, Any]) -> None:
        """global_defs settings the spec holds go into ``vrrp``; the rest are reported."""
        for child in node.children or () if node else ():
            if child.keyword == "script_user" and child.args != ("root",):
                self.skip(child, "is not the user render writes", "render writes script_user "
                          "root")  # fmt: skip
            elif child.keyword not in GLOBAL_KEYS:
                self.skip(child)
            elif child.keyword == "vrrp_strict":
                vrrp["strict"] = True
            elif child.keyword in GARP:
                vrrp.setdefault("garp", {})[GARP[child.keyword]] = child.arg(0)
            elif child.keyword == "lvs_sync_daemon":
                words = [w for w in child.args if w != "inst"]
                sync: dict[str, Any] = {"interface": words[0], "instance": words[1:2] or [""]}
                sync["instance"] = sync["instance"][0]
                if "id" in words[:-1]:
                    sync["id"] = words[words.index("id") + 1]
                if set(words[2:]) - {"id", sync.get("id")}:
                    self.skip(child, "has options the spec has no model for")
                vrrp["sync_daemon"] = sync

    def scripts(self, tree: ConfigTree) -> list[dict[str, Any]]:
        """The vrrp_scripts keepalived keeps (it removes those without a script)."""
        kept = []
        for node in tree.find_all("vrrp_script"):
            if node.find("script") is None:
                self.skip(node, "has no script, so keepalived removes it")
            else:
                kept.append(self.script(node, len(kept)))
                self.script_names.add(node.arg(0))
        return kept

    def script(self, node: Node, index: int) -> dict[str, Any]:
        """A vrrp_script: what the spec's track scripts hold, the rest reported."""
        self.origin[("vrrp", "scripts", index)] = node.location
        # keepalived's defaults, which differ from the spec's (rise and fall 2)
        data: dict[str, Any] = {"name": node.arg(0), "rise": 1, "fall": 1}
        for child in node.children or ():
            if child.keyword not in SCRIPT_KEYS or (child.keyword == "weight" and child.arg(1)):
                self.skip(child)
            else:
                data[child.keyword] = " ".join(child.args) if child.keyword == "script" else (
                    child.arg(0)
                )  # fmt: skip
        return data

    def notification(self, globals_: Node | None) -> dict[str, Any] | None:
        server = globals_.find("smtp_server") if globals_ else None
        if globals_ is None or server is None:
            return None
        if globals_.find("smtp_alert") is None:
            self.warn(
                server,
                f"smtp_server {server.arg(0)} is here without smtp_alert, so keepalived sends no "
                "mail; render adds smtp_alert, and mails state changes and checker results",
                "delete notification from the spec if the directors should not send mail",
                "import-smtp-alert",
            )
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
            "virtual_ipaddresses": [],
            # keepalived ignores an instance's own interface here, so the spec leaves it out.
            "track_interfaces": [t for t in _words(node, "track_interface") if t != interface],
            "track_scripts": [
                entry.keyword
                for entry in _entries(node, "track_script")
                if entry.keyword in self.script_names
                or self.skip(entry, "names no vrrp_script keepalived keeps, so it ignores it")
            ],
            "notify": self.notify(node),
        }
        for entry in _entries(node, "virtual_ipaddress"):
            vip = _vip(entry.keyword)
            if vip in data["virtual_ipaddresses"]:
                self.skip(entry, "repeats a VIP; the spec lists each VIP once")
                continue
            data["virtual_ipaddresses"].append(vip)
            words = list(entry.args)
            options = dict(zip(words[::2], words[1::2], strict=False))
            if len(words) % 2 or set(options) - {"dev", "label", "scope", "brd", "broadcast"}:
                self.skip(entry, "has VIP options the spec has no model for")
            elif options:
                options["brd"] = options.pop("broadcast", options.get("brd"))
                data.setdefault("vip_options", {})[vip] = {
                    k: v for k, v in options.items() if v is not None
                }
        for block, key in (("track_interface", "track_interface_weights"),
                           ("track_script", "track_script_weights")):  # fmt: skip
            for entry in _entries(node, block):
                if entry.args[:1] == ("weight",) and len(entry.args) == 2:
                    data.setdefault(key, {})[entry.keyword] = entry.arg(1)
                elif entry.args:
                    self.skip(entry, "has tracking options the spec has no model for")
        for key in ("advert_int", "version"):
            if (value := _value(node, key)) is not None:
                data[key] = value
        if "version" not in data and any(":" in vip for vip in data["virtual_ipaddresses"]):
            data["version"] = 3  # what keepalived infers from IPv6 addresses
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

    def group(self, node: Node, index: int) -> dict[str, Any]:
        """A virtual_server_group: its ``IP[-LAST] PORT`` and ``fwmark N`` lines."""
        self.origin[("virtual_server_groups", index)] = node.location
        members: list[dict[str, Any]] = []
        for entry in node.children or ():
            self.origin[("virtual_server_groups", index, "members", len(members))] = entry.location
            if entry.keyword == "fwmark":
                members.append({"fwmark": entry.arg(0)})
                if len(entry.args) > 1:
                    self.skip(entry, "names an address family the spec has no model for",
                              "the mark is kept without it")  # fmt: skip
            elif "/" in entry.keyword or not entry.arg(0).strip("0"):
                self.skip(entry, "is a prefix or has no port, which the spec has no model for")
            else:
                first, _, last = entry.keyword.partition("-")
                member = {"address": first, "port": entry.arg(0)}
                members.append(member | ({"last": _range_end(first, last)} if last else {}))
                if len(entry.args) > 1:
                    self.skip(entry, "has words after the port that the spec has no model "
                              "for", "the address and port are kept")  # fmt: skip
        return {"name": node.arg(0), "members": members}

    def virtual_server(self, node: Node, index: int) -> dict[str, Any]:
        self.origin[("virtual_services", index)] = node.location
        if node.arg(0) == "group":
            data: dict[str, Any] = {"name": f"group-{node.arg(1)}", "group": node.arg(1)}
        elif node.arg(0) == "fwmark":
            data = {"name": f"fwmark-{node.arg(1)}", "fwmark": node.arg(1)}
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
                self.skip(child, "is ignored by keepalived for a fwmark service")
            elif keyword in SERVICE_KEYS:
                data[SERVICE_KEYS[keyword]] = child.arg(0)
            elif keyword == "persistence_timeout":
                data.setdefault("persistence", {})["timeout"] = child.arg(0, "360")
            elif keyword == "persistence_granularity":
                data.setdefault("persistence", {})["netmask"] = child.arg(0)
            elif keyword == "sorry_server":
                sorry = {"address": child.arg(0)}
                data["sorry_server"] = sorry | (
                    {"port": child.arg(1)} if len(child.args) > 1 else {}
                )
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
                url = {key: _value(child, key) for key in ("path", "digest")}
                if (codes := child.find("status_code")) is not None:
                    url["status_code"] = " ".join(codes.args)
                for extra in child.children or ():
                    if extra.keyword not in ("path", "digest", "status_code"):
                        self.skip(extra)
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
    errors = [
        p for tree in trees for p in lint(tree) if p.code in REFUSED and p.severity == "error"
    ]
    unread = {location for tree in trees for location in _unread(tree)}
    if refused := [p for p in errors if p.location not in unread]:
        raise SpecError(refused)
    importer.warnings += [p for p in errors if p.location in unread]
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
            "scripts": importer.scripts(first),
            "instances": [
                importer.instance(n, i) for i, n in enumerate(first.find_all("vrrp_instance"))
            ],
            "sync_groups": [
                importer.sync_group(n, i)
                for i, n in enumerate(importer.keep(first, "vrrp_sync_group"))
            ],
        },
        "virtual_server_groups": [
            importer.group(n, i) for i, n in enumerate(first.find_all("virtual_server_group"))
        ],
        "virtual_services": [
            importer.virtual_server(n, i)
            for i, n in enumerate(importer.keep(first, "virtual_server"))
        ],
    }
    if (notification := importer.notification(first.find("global_defs"))) is not None:
        data["notification"] = notification
    importer.globals_(first.find("global_defs"), data["vrrp"])
    for tree in trees:
        importer.script_security(tree)
    importer.unicast_peers(trees, data["vrrp"]["instances"])
    _name_services_apart(data["virtual_services"])
    try:
        spec = ClusterSpec.model_validate(data)
    except pydantic.ValidationError as err:
        raise SpecError(
            [
                Problem(p.location, f"cannot import: {p.message}", p.fix, p.severity, p.code)
                for p in validation_problems(err, importer.locate)
            ]
        ) from None
    problems = validate_spec(spec, importer.locate)
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        raise SpecError(errors)
    importer.check_unicast(trees, spec)
    return spec, sorted(importer.warnings + problems, key=lambda p: p.location)


def _unread(tree: ConfigTree) -> set[Location]:
    """The lines of blocks import leaves out whole (static routes, an instance's virtual
    routes, ...): a value keepalived refuses there changes nothing the spec holds, so it is
    reported rather than refused."""

    def below(node: Node) -> Iterator[Location]:
        yield node.location
        for child in node.children or ():
            yield from below(child)

    unread: set[Location] = set()
    for node in tree.nodes:
        if node.keyword not in TOP_LEVEL:
            unread.update(below(node))
        elif node.keyword == "vrrp_instance":
            for child in node.children or ():
                if child.keyword not in INSTANCE_KEYS:
                    unread.update(below(child))
    return unread


def _name_services_apart(services: list[dict[str, Any]]) -> None:
    """TCP and UDP services on one VIP:port are two services; their names say which."""
    names = [service["name"] for service in services]
    for service in services:
        if names.count(service["name"]) > 1:
            service["name"] += "-" + str(service.get("protocol", "udp")).lower()


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


def _range_end(first: str, last: str) -> str:
    """keepalived's range ``192.0.2.10-20`` ends at 192.0.2.20: LAST replaces the last byte
    of an IPv4 address, or the last 16 bits (in hex) of an IPv6 one."""
    try:
        start = ipaddress.ip_address(first)
        width, base = (8, 10) if start.version == 4 else (16, 16)
        return str(type(start)((int(start) >> width << width) | int(last, base)))
    except ValueError:
        return last  # not an address range: the model refuses it at this line


def _vip(address: str) -> str:
    """keepalived reads a bare VIP as a host address; the spec writes the prefix out."""
    return address if "/" in address else f"{address}/{128 if ':' in address else 32}"
