"""The lab: the whole seed cluster on one machine, in network namespaces over real IPVS.

:class:`Lab` is the entry point; :mod:`cluster.lab.topology` describes the network (pure),
:mod:`cluster.lab.builder` builds it, :mod:`cluster.lab.guest` provides a kernel with IPVS and
:mod:`cluster.lab.agent` runs everything inside it.
"""

from cluster.lab.lab import Lab, Result

__all__ = ["Lab", "Result"]
