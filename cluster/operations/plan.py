"""A day-2 operation as the changed spec and an ordered list of steps over the directors (pure).

Each operation takes the spec's text and returns an :class:`OperationPlan`: the spec text
it leaves behind (``new``, written back to the spec file, so the spec stays the truth),
any spec it passes through on the way (``drained``), and the steps, in an order that keeps
the service up:

- **config changes** (add a real server, change a weight): ``cluster apply`` on the backups
  first, then on the master. keepalived reloads (its checkers add, change or remove the
  real server in IPVS, keeping every connection), and a mistake shows on a director that
  serves nobody before it reaches the one that does.
- **drain**: the real server's weight to 0 everywhere (no new connections; IPVS keeps
  forwarding the ones it has), then wait on every director until its ActiveConn is 0 or
  the timeout passes, then remove it: kube-proxy's graceful termination.
- **password rotation**: VRRPv2 drops an advert whose password differs, so two directors
  that disagree each believe the other dead, and a backup becomes a second MASTER after
  its master-down interval. So the backups stop first (a backup sends no adverts, so the
  master notices nothing), the master reloads with the new password alone, and the backups
  start with it and meet a master they can hear. There is no moment with two MASTERs, at
  the price of a few seconds without a standby.
- **restart** (or upgrade) **of the master**: first a handover while the master still
  serves. It reloads with a priority just below the backup's (the ``handover`` spec, never
  written to the file); the backup discards the lower adverts, takes over when its
  master-down interval ends, and the master, hearing a higher priority, steps down. Until
  that moment the master forwards as before, so the client sees next to no outage; a
  keepalived stopped as master would send priority 0 and drop its IPVS services at once,
  out for the backup's skew time at least. Then keepalived stops (now a backup, nothing
  moves) and starts again still below the backup, so its checkers fill the IPVS table
  while it serves nobody; last, a reload with the spec's own priority, and, unless
  ``nopreempt``, the master takes its VIPs back the same gentle way. **Of a backup**: stop
  and start; the master serves on.

Every plan starts by checking that the spec's master holds every VIP: the order above is
only safe when the roles are the ones the spec's priorities give.

>>> from cluster.spec.load import SEED_NAME, SEED_TEXT
>>> plan = set_weight(SEED_TEXT, SEED_NAME, "http", "192.168.170.25", 3)
>>> print(plan.steps_text(), end="")
 1. director01 holds every VIP (the spec's master)
 2. director02: cluster apply with the new spec
 3. director01: cluster apply with the new spec
 4. director01 holds every VIP (the spec's master)
"""

from __future__ import annotations

import difflib
import ipaddress
from dataclasses import dataclass, field, replace
from typing import Literal

from cluster.director.plan import REAL_DIRECTOR
from cluster.errors import SpecError, UsageError
from cluster.ipvs.table import join_host_port, services_from_spec
from cluster.spec.edit import append_item, delete_item, has_key, insert_key, replace_scalars
from cluster.spec.load import read_spec
from cluster.spec.model import ClusterSpec, Director, RealServer, VirtualService

StepKind = Literal["expect-master", "apply", "stop", "wait-master", "wait-drained"]
DRAIN_TIMEOUT = 300.0
"""Seconds a drain waits for a real server's connections to end (kube-proxy waits for
the pod's termination grace period, 30 s by default; a download may take longer)."""


@dataclass(frozen=True)
class Step:
    """One action on one director. ``stage`` names the spec an ``apply`` installs;
    ``servers`` are the (service, real server) pairs a ``wait-drained`` watches."""

    kind: StepKind
    node: str
    stage: str = "new"
    servers: tuple[tuple[str, str], ...] = ()
    timeout: float = 0.0

    def describe(self) -> str:
        """The step in words, as the plan shows it."""
        if self.kind == "expect-master":
            return f"{self.node} holds every VIP (the spec's master)"
        if self.kind == "apply":
            return f"{self.node}: cluster apply with the {self.stage} spec"
        if self.kind == "stop":
            return f"{self.node}: stop keepalived (SIGTERM; a master sends priority 0 as it goes)"
        if self.kind == "wait-master":
            return f"wait until {self.node} holds every VIP"
        pairs = ", ".join(f"{server} in {service}" for service, server in self.servers)
        return f"{self.node}: wait until ActiveConn is 0 for {pairs} (at most {self.timeout:g} s)"

    def command(self, files: dict[str, str]) -> str:
        """What to run on a real director for this step, by hand; ``files`` holds each
        stage's spec file."""
        if self.kind == "apply":
            return f"cluster apply --node {self.node} {files[self.stage]}"
        if self.kind == "stop":
            return f'kill -TERM "$(cat {REAL_DIRECTOR.keepalived_files.pid})"'
        if self.kind == "wait-drained":
            return "ipvsadm -Ln    # until ActiveConn is 0 for " + ", ".join(
                server for _, server in self.servers
            )
        return "ip -br -4 addr    # until every VIP is here; cluster status shows the VRRP state"


@dataclass(frozen=True)
class OperationPlan:
    """What an operation changes: the spec texts and the steps that carry them out."""

    title: str
    filename: str
    before: str
    stages: dict[str, str]  # stage name -> spec text; "new" is what the file becomes
    steps: tuple[Step, ...]
    notes: tuple[str, ...] = field(default=())

    @property
    def after(self) -> str:
        return self.stages["new"]

    def spec(self, stage: str) -> ClusterSpec:
        """The spec of ``stage``; ``before`` is the spec as it was."""
        text = self.before if stage == "before" else self.stages[stage]
        return read_spec(text, self.filename)[0]

    def diff(self) -> str:
        """The spec file's change, as a unified diff (empty for a restart)."""
        lines = difflib.unified_diff(
            self.before.splitlines(keepends=True), self.after.splitlines(keepends=True),
            fromfile=f"{self.filename} (now)", tofile=f"{self.filename} (after)",
        )  # fmt: skip
        return "".join(lines)

    def stage_files(self, spec_path: str) -> dict[str, str]:
        """Where ``cluster op --write`` puts each stage's spec: the final one (and the
        current one, unchanged) in the spec file itself, a passing one beside it
        (``cluster.drained.yaml``)."""
        stem, dot, suffix = spec_path.rpartition(".")
        base, ext = (stem, f".{suffix}") if dot and "/" not in suffix else (spec_path, "")
        return {stage: spec_path if stage in ("new", "current") else f"{base}.{stage}{ext}"
                for stage in self.stages}  # fmt: skip

    def commands(self, spec_path: str) -> str:
        """The steps as commands to run by hand on real directors, in order."""
        files = self.stage_files(spec_path)
        return "".join(f"{n:2}. on {step.node}: {step.command(files)}\n"
                       for n, step in enumerate(self.steps, 1))  # fmt: skip

    def steps_text(self) -> str:
        return "".join(f"{n:2}. {step.describe()}\n" for n, step in enumerate(self.steps, 1))

    def text(self) -> str:
        """The whole plan as ``cluster op`` shows it before acting."""
        parts = [f"== {self.title} ==\n"]
        for stage, text in self.stages.items():
            if stage not in ("new", "current"):  # a spec passed through, never written
                passed = difflib.unified_diff(
                    self.before.splitlines(keepends=True), text.splitlines(keepends=True),
                    fromfile=f"{self.filename} (now)", tofile=f"{self.filename} ({stage})",
                )  # fmt: skip
                parts.append("".join(passed))
        parts.append(self.diff() or f"{self.filename}: unchanged\n")
        parts += [f"note: {note}\n" for note in self.notes]
        return "".join(parts) + "steps:\n" + self.steps_text()


# --- the pieces every operation shares ----------------------------------------------------


def _load(text: str, filename: str) -> ClusterSpec:
    return read_spec(text, filename)[0]


def _checked(text: str, filename: str) -> str:
    """The edited text, if it is still a sound spec; else the problems, named at the
    lines of the edited text."""
    try:
        read_spec(text, filename)
    except SpecError as err:
        raise SpecError(
            [replace(p, message=f"after the change: {p.message}") for p in err.problems]
        ) from None
    return text


def _backups(spec: ClusterSpec) -> list[Director]:
    """Every director but the master, lowest priority first."""
    master = spec.master()
    return [d for d in sorted(spec.directors, key=lambda d: d.priority) if d is not master]


def _rolling_apply(spec: ClusterSpec, stage: str = "new") -> list[Step]:
    """``cluster apply`` on the backups, then on the master."""
    return [Step("apply", d.name, stage) for d in [*_backups(spec), spec.master()]]


def _service(spec: ClusterSpec, name: str) -> tuple[int, VirtualService]:
    for index, vs in enumerate(spec.virtual_services):
        if vs.name == name:
            return index, vs
    names = ", ".join(vs.name for vs in spec.virtual_services) or "none"
    raise UsageError(f"no virtual service {name!r} in the spec (it has: {names})")


def _address(text: str) -> tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, int | None]:
    """``10.0.0.5`` or ``10.0.0.5:8080`` (``[2001:db8::5]:8080``)."""
    host, tail = text, ""
    if text.startswith("["):
        host, _, tail = text[1:].partition("]")
        tail = tail.removeprefix(":") if tail else ""
    elif text.count(":") == 1:
        host, _, tail = text.partition(":")
    port = (int(tail) if tail.isdigit() else -1) if tail else None
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise UsageError(f"{text!r} is not a real server address (IP or IP:PORT)") from None
    if port is not None and not 0 < port < 65536:
        raise UsageError(f"{text!r}: the port must be 1-65535")
    return address, port


def _find_server(vs: VirtualService, server: str) -> int:
    address, port = _address(server)
    for index, rs in enumerate(vs.real_servers):
        if rs.address == address and (port is None or rs.port == port):
            return index
    have = ", ".join(f"{rs.address}:{rs.port}" for rs in vs.real_servers) or "none"
    raise UsageError(f"{server} is not a real server of {vs.name} (it has: {have})")


# --- the operations -------------------------------------------------------------------------


def add_server(
    text: str, filename: str, service: str, server: str, weight: int = 1, like: str | None = None
) -> OperationPlan:
    """A new real server behind ``service``, with the health check of the real server
    ``like`` (default: the service's first), since a server without a check is never
    taken out of the pool when it fails."""
    spec = _load(text, filename)
    index, vs = _service(spec, service)
    address, port = _address(server)
    port = port if port is not None else vs.port
    if any(rs.address == address and rs.port == port for rs in vs.real_servers):
        raise UsageError(f"{server} is already a real server of {service}")
    model = vs.real_servers[_find_server(vs, like)] if like else next(iter(vs.real_servers), None)
    check = model.check if model else None
    new = RealServer(address=address, port=port, weight=weight, check=check)
    entry = new.model_dump(mode="json", exclude_defaults=True)
    entry.setdefault("port", port)  # written out, as the other entries have it
    after = _checked(append_item(text, ("virtual_services", index, "real_servers"), entry),
                     filename)  # fmt: skip
    whose = f"the check is {model.address}:{model.port}'s; edit the spec if it differs"
    notes = (whose,) if model and model.check else ()
    return OperationPlan(
        f"add {address}:{port} to {service} (weight {weight})", filename, text, {"new": after},
        (_expect(spec), *_rolling_apply(spec), _expect(spec)), notes,
    )  # fmt: skip


def _with_weight(text: str, path: tuple[str | int, ...], weight: int) -> str:
    """The real server at ``path`` with ``weight``: its ``weight:`` replaced, or added
    after its port (or address) where the spec left the default out."""
    if has_key(text, path, "weight"):
        return replace_scalars(text, {(*path, "weight"): str(weight)})
    after = "port" if has_key(text, path, "port") else "address"
    return insert_key(text, path, "weight", str(weight), after=after)


def set_weight(text: str, filename: str, service: str, server: str, weight: int) -> OperationPlan:
    """A real server's weight, on every director; IPVS changes it in place (``set``), so
    no connection is dropped."""
    spec = _load(text, filename)
    index, vs = _service(spec, service)
    position = _find_server(vs, server)
    rs = vs.real_servers[position]
    if rs.weight == weight:
        raise UsageError(f"{rs.address}:{rs.port} in {service} has weight {weight} already")
    path = ("virtual_services", index, "real_servers", position)
    after = _checked(_with_weight(text, path, weight), filename)
    return OperationPlan(
        f"weight of {rs.address}:{rs.port} in {service}: {rs.weight} -> {weight}",
        filename, text, {"new": after}, (_expect(spec), *_rolling_apply(spec), _expect(spec)),
    )  # fmt: skip


def drain(
    text: str,
    filename: str,
    server: str,
    service: str | None = None,
    timeout: float = DRAIN_TIMEOUT,
) -> OperationPlan:
    """Take a real server out of ``service`` (default: every service it is in) without
    breaking a connection: weight 0, wait for its connections to end, then remove it."""
    spec = _load(text, filename)
    _address(server)  # a malformed address is named as such, not as a missing server
    found = []  # (service index, service, position)
    for index, vs in enumerate(spec.virtual_services):
        if service is not None and vs.name != service:
            continue
        try:
            found.append((index, vs, _find_server(vs, server)))
        except UsageError:
            if service is not None:
                raise
    if not found:
        if service is not None:
            _service(spec, service)  # an unknown service, named
        raise UsageError(f"{server} is not a real server of any virtual service in the spec")
    drained, removed, watched = text, text, []
    for index, vs, position in found:
        rs = vs.real_servers[position]
        path = ("virtual_services", index, "real_servers", position)
        if rs.weight != 0:
            drained = _with_weight(drained, path, 0)
        endpoint = join_host_port(rs.address, rs.port or 0)
        watched += [(str(s.key), endpoint) for s in services_from_spec(spec, vs)]
    for index, _, position in found:  # one entry per service: the indices stay valid
        removed = delete_item(removed, ("virtual_services", index, "real_servers"), position)
    _checked(drained, filename)
    _checked(removed, filename)
    waits = [Step("wait-drained", d.name, servers=tuple(watched), timeout=timeout)
             for d in [spec.master(), *_backups(spec)]]  # fmt: skip
    names = ", ".join(vs.name for _, vs, _ in found)
    alone = [vs.name for _, vs, _ in found if len(vs.real_servers) == 1]
    notes = (f"{', '.join(alone)} will have no real server left: it stops serving",) * bool(alone)
    return OperationPlan(
        f"drain {server} from {names}", filename, text, {"drained": drained, "new": removed},
        (_expect(spec), *_rolling_apply(spec, "drained"), *waits, *_rolling_apply(spec),
         _expect(spec)), notes,
    )  # fmt: skip


def rotate_password(
    text: str, filename: str, password: str, instances: list[str] | None = None
) -> OperationPlan:
    """A new VRRP password (PASS or AH) for every instance that has one, or ``instances``."""
    spec = _load(text, filename)
    chosen = []
    for index, inst in enumerate(spec.vrrp.instances):
        if instances and inst.name not in instances:
            continue
        if inst.auth is None:
            if instances:
                raise UsageError(f"VRRP instance {inst.name} has no auth to rotate")
            continue
        chosen.append(index)
    unknown = set(instances or ()) - {i.name for i in spec.vrrp.instances}
    if unknown:
        raise UsageError(f"no VRRP instance {', '.join(sorted(unknown))} in the spec")
    if not chosen:
        raise UsageError("no VRRP instance has auth; there is no password to rotate")
    after = _checked(
        replace_scalars(
            text, {("vrrp", "instances", i, "auth", "password"): password for i in chosen}
        ),
        filename,
    )
    backups, master = _backups(spec), spec.master()
    return OperationPlan(
        f"rotate the VRRP password of {', '.join(spec.vrrp.instances[i].name for i in chosen)}",
        filename, text, {"new": after},
        (_expect(spec), *(Step("stop", d.name) for d in backups), Step("apply", master.name),
         *(Step("apply", d.name) for d in backups), Step("wait-master", master.name)),
        ("the backups do not stand by from their stop until they start again",),
    )  # fmt: skip


def restart(text: str, filename: str, node: str) -> OperationPlan:
    """keepalived stopped and started again on ``node`` (the way to run an upgraded
    keepalived too): the master hands over gracefully first; a backup just restarts."""
    spec = _load(text, filename)
    director = spec.director(node)
    if director is None:
        names = ", ".join(d.name for d in spec.directors)
        raise UsageError(f"{node!r} is not a director of the spec (it has: {names})")
    master = spec.master()
    if director is not master:
        steps = (_expect(spec), Step("stop", node), Step("apply", node, "current"),
                 _expect(spec))  # fmt: skip
        return OperationPlan(f"restart keepalived on {node} (a backup)", filename, text,
                             {"new": text, "current": text}, steps)  # fmt: skip
    backup = max(_backups(spec), key=lambda d: d.priority, default=None)
    if backup is None:
        raise UsageError(f"{node} has no backup to hand over to; a restart stops the service")
    preempts = not any(i.nopreempt for i in spec.vrrp.instances)
    back = master if preempts else backup
    notes = () if preempts else (f"nopreempt: {backup.name} keeps the VIPs",)
    if master.priorities:  # per-instance priorities: no one number hands every instance over
        steps: tuple[Step, ...] = (Step("stop", node), Step("wait-master", backup.name))
        notes += (f"{node} has per-instance priorities: the stop hands over (priority 0), "
                  "and the service is out for the backup's skew time",)  # fmt: skip
        stages = {"new": text, "current": text}
    else:
        index = spec.directors.index(master)
        lowered = str(max(1, backup.priority - 1))
        handover = replace_scalars(text, {("directors", index, "priority"): lowered})
        stages = {"new": text, "current": text, "handover": _checked(handover, filename)}
        steps = (Step("apply", node, "handover"), Step("wait-master", backup.name),
                 Step("stop", node), Step("apply", node, "handover"))  # fmt: skip
    return OperationPlan(
        f"restart keepalived on {node} (the master), handing over to {backup.name}",
        filename, text, stages,
        (_expect(spec), *steps, Step("apply", node, "current"), Step("wait-master", back.name)),
        notes,
    )  # fmt: skip


def _expect(spec: ClusterSpec) -> Step:
    return Step("expect-master", spec.master().name)
