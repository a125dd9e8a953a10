"""The lab: the whole seed cluster on one machine, in network namespaces over real IPVS.

:class:`Lab` is the entry point; :mod:`cluster.lab.topology` describes the network (pure),
:mod:`cluster.lab.builder` builds it, :mod:`cluster.lab.guest` provides a kernel with IPVS,
:mod:`cluster.lab.agent` runs everything inside it and :mod:`cluster.lab.servers` are the real
servers' web server and the SMTP sink.

``Lab`` is imported on first use, not here: the guest starts ``python3 -m cluster.lab.agent``
and one ``python3 -m cluster.lab.servers`` per real server, and importing the API (pyroute2,
pydantic) would cost each of them 3-4 s of start-up under UML.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cluster.lab.lab import Lab, Result

__all__ = ["Lab", "Result"]


def __getattr__(name: str) -> object:
    if name in __all__:
        from cluster.lab import lab

        return getattr(lab, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
