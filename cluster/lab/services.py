"""The lab's standing servers as data: which node runs which of :mod:`cluster.lab.servers`.

Pure, like the topology, so what ``lab up`` starts can be read without root; :class:`Lab`
does the starting and stopping.

>>> from cluster.lab.topology import seed_topology
>>> topo = seed_topology()
>>> roles(topo)
{'realserver1': 'realserver', 'realserver2': 'realserver', 'smtp': 'smtp'}
>>> from pathlib import Path
>>> service("smtp", "smtp", Paths(root=Path("/lab"))).args
('-m', 'cluster.lab.servers', 'smtp', '--store', '/lab/share/mail/mails.jsonl')
>>> certificates(topo)[1]
ServerCert(name='realserver2', addresses=('192.168.170.35',), hostnames=('test.mydomain',))
"""

from __future__ import annotations

from dataclasses import dataclass

from cluster.lab import pki
from cluster.lab.state import Paths
from cluster.lab.topology import Topology

SERVER_OF_ROLE = {"realserver": "www", "smtp": "smtp"}
"""Node role -> the :mod:`cluster.lab.servers` kind it runs, which also names its process."""


@dataclass(frozen=True)
class Service:
    node: str
    name: str
    args: tuple[str, ...]
    """The lab Python's arguments (the interpreter is the agent's, found at run time)."""


def roles(topo: Topology) -> dict[str, str]:
    return {n.name: n.role for n in topo.nodes if n.role in SERVER_OF_ROLE}


def service(node: str, role: str, paths: Paths) -> Service:
    kind = SERVER_OF_ROLE[role]
    args: tuple[str, ...] = ("-m", "cluster.lab.servers", kind)
    if kind == "www":
        args += (
            "--name", node,
            "--cert", str(pki.cert(paths.pki, node)),
            "--key", str(pki.key(paths.pki, node)),
            "--fault", str(paths.fault(node)),
            "--access-log", str(paths.access_log(node)),
        )  # fmt: skip
    else:
        args += ("--store", str(paths.mails))
    return Service(node, kind, args)


def certificates(topo: Topology) -> list[pki.ServerCert]:
    return [
        pki.ServerCert(n.name, (n.address,), topo.virtualhosts) for n in topo.by_role("realserver")
    ]
