"""Where a notebook's steps act: the lab, or the director the notebook runs on.

Every notebook runs against the lab by default, and one parameter cell switches it to
"this machine": a notebook opened in JupyterLab on a real director, as root, sets the director
up and reads it through the same package calls. A :class:`Target` is what the steps are given:

- :class:`LabTarget` looks at one director of the lab (``director01`` by default) and can
  reach every other host of it: a client for a load test, a real server to break, the mail
  server to send a spoofed VRRP advert from;
- :class:`LocalTarget` is the machine (and network namespace) this Python runs on: commands
  run here, ``cluster apply`` acts here, as :mod:`cluster.director.apply` does. It has no
  other hosts, so the steps that need one say so instead of running (``target.lab`` is None).

Both run ``cluster`` from this very package (``cluster apply``, ``cluster status``, ``cluster
ipvs list``) on the director, against the spec as a file the director can read
(:attr:`Target.spec_path`).

>>> target = LocalTarget(load_seed_spec(), "director01", spec_path="cluster.yaml")
>>> target.where, target.lab, target.layout.keepalived_conf
('this machine', None, '/etc/keepalived/keepalived.conf')
>>> target.director_argv("status")
['status', 'cluster.yaml', '--node', 'director01', '--root', '/']
>>> connect("elsewhere")
Traceback (most recent call last):
...
cluster.errors.UsageError: TARGET 'elsewhere': use 'lab' or 'this machine'
"""

from __future__ import annotations

import sys
import tempfile
from typing import TYPE_CHECKING, Any, Protocol

from cluster.command import run_status
from cluster.director.plan import REAL_DIRECTOR, Layout
from cluster.errors import UsageError
from cluster.keepalived.daemon import Keepalived
from cluster.spec import ClusterSpec, dump_spec, load_seed_spec, load_spec
from cluster.views import Note

if TYPE_CHECKING:  # the lab's API pulls in pyroute2: only a lab target needs it
    from cluster.lab.lab import Lab, Result

WHERES = ("lab", "this machine")


class Target(Protocol):
    """What a notebook step needs: one director to look at, and the lab if there is one."""

    where: str
    spec: ClusterSpec
    node: str
    lab: Lab | None

    @property
    def layout(self) -> Layout: ...

    @property
    def spec_path(self) -> str: ...

    def run(self, *argv: str, input: str | None = None, timeout: float = 60) -> Result: ...

    def cluster(self, *args: str, timeout: float = 300) -> Result: ...

    def keepalived(self) -> Keepalived: ...

    def apply(self, options: tuple[str, ...] = ()) -> dict[str, Result]: ...

    def status(self) -> Result: ...

    def provenance(self) -> dict[str, Any]: ...


def default_spec() -> ClusterSpec:
    """The seed cluster with VRRPv3 and an advert every second, as the lab's tests and the
    demo run it: failovers take seconds, not the seed's 15."""
    from cluster.failover.bench import lab_variant

    return lab_variant(load_seed_spec(), None, 1, 3)


def connect(
    where: str, node: str = "director01", spec: str | None = None, root: str = "/"
) -> Target:
    """The notebooks' parameter cell made a target: ``where`` is "lab" or "this machine",
    ``node`` the director to look at (this director's name in the spec), ``spec`` a YAML
    file (default: :func:`default_spec`), ``root`` where this director's /etc and /run are."""
    if where not in WHERES:
        raise UsageError(f"TARGET {where!r}: use 'lab' or 'this machine'")
    cluster = load_spec(spec) if spec else default_spec()
    if cluster.director(node) is None:
        names = ", ".join(d.name for d in cluster.directors)
        raise UsageError(f"NODE {node!r} is not a director of {cluster.name}: {names}")
    if where == "this machine":
        return LocalTarget(cluster, node, Layout(root), spec)
    from cluster.lab import Lab

    return LabTarget(Lab.up(), cluster, node)


class LabTarget:
    """A director of the running lab; every other host of the lab is at hand."""

    where = "lab"

    def __init__(self, lab: Lab, spec: ClusterSpec, node: str = "director01") -> None:
        self.lab: Lab | None = lab
        self._lab = lab
        self.spec = spec
        self.node = node
        self._spec_path: str | None = None

    @property
    def layout(self) -> Layout:
        from cluster.lab import directors

        return directors.layout(self._lab, self.node)

    @property
    def spec_path(self) -> str:
        """The spec in the lab's share, written once: the share has the same path inside."""
        if self._spec_path is None:
            path = self._lab.paths.share / "notebooks" / f"{self.spec.name}.yaml"
            self._lab.write_file(self.node, str(path), dump_spec(self.spec))
            self._spec_path = str(path)
        return self._spec_path

    def run(self, *argv: str, input: str | None = None, timeout: float = 60) -> Result:
        return self._lab.run(self.node, *argv, input=input, timeout=timeout)

    def cluster(self, *args: str, timeout: float = 300) -> Result:
        return self._lab.run_cluster(self.node, *args, timeout=timeout)

    def keepalived(self) -> Keepalived:
        from cluster.lab import directors

        return directors.keepalived(self._lab, self.node)

    def apply(self, options: tuple[str, ...] = ()) -> dict[str, Result]:
        """``cluster apply`` on this director alone (the lab's choice of firewall back-end)."""
        from cluster.lab import directors

        return directors.apply(self._lab, self.spec, [self.node], options)

    def status(self) -> Result:
        """``cluster status`` against the spec the lab's directors last applied."""
        from cluster.lab import directors

        return directors.status(self._lab, self.node)

    def provenance(self) -> dict[str, Any]:
        from cluster.provenance import collect

        return collect(self._lab.state)


class LocalTarget:
    """The director this runs on, as root: what ``cluster apply`` on the director acts on."""

    where = "this machine"
    lab: Lab | None = None

    def __init__(
        self,
        spec: ClusterSpec,
        node: str,
        layout: Layout = REAL_DIRECTOR,
        spec_path: str | None = None,
    ) -> None:
        self.spec = spec
        self.node = node
        self._layout = layout
        self._spec_path = spec_path

    @property
    def layout(self) -> Layout:
        return self._layout

    @property
    def spec_path(self) -> str:
        if self._spec_path is None:
            with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as out:
                out.write(dump_spec(self.spec))
            self._spec_path = out.name
        return self._spec_path

    def run(self, *argv: str, input: str | None = None, timeout: float = 60) -> Result:
        from cluster.lab.lab import Result

        done = run_status(argv, input=input, timeout=timeout)
        return Result(self.node, argv, done.returncode, done.stdout, done.stderr)

    def director_argv(self, command: str, *options: str) -> list[str]:
        """``cluster apply`` or ``cluster status`` for this director, with its spec and root."""
        return [command, *options, self.spec_path, "--node", self.node, "--root", self._layout.root]

    def cluster(self, *args: str, timeout: float = 300) -> Result:
        return self.run(sys.executable, "-m", "cluster", *args, timeout=timeout)

    def keepalived(self) -> Keepalived:
        from cluster.director.apply import keepalived_on_this_machine

        return keepalived_on_this_machine(self.node, self._layout)

    def apply(self, options: tuple[str, ...] = ()) -> dict[str, Result]:
        return {self.node: self.cluster(*self.director_argv("apply", *options))}

    def status(self) -> Result:
        return self.cluster(*self.director_argv("status"))

    def provenance(self) -> dict[str, Any]:
        from cluster.provenance import collect

        return collect(None)


def where_it_ran(target: Target) -> Note:
    """Where the notebook's figures come from: this machine, or the lab and its kernel."""
    from cluster.charts import where

    record = where([{"provenance": target.provenance()}])
    return Note(f"target: {target.where}, director {target.node}; {record}", "note")
