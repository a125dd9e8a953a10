"""Set up one director from the spec: plan, apply as a whole or roll back, and report status.

:mod:`~cluster.director.plan` (pure) renders what the spec wants on a director and diffs it
against what the director has; :mod:`~cluster.director.status` (pure) judges the live IPVS
pool; :mod:`~cluster.director.apply` is the edge that reads and changes the machine it runs
on: sysctls, the firewall, the IPVS table (``ipvs: direct``), keepalived.conf and keepalived.
"""
