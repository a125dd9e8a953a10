"""Director failover, measured: VRRP timing theory, outage analysis, trials and charts.

:mod:`~cluster.failover.theory` and :mod:`~cluster.failover.outage` are pure (no root, no
lab); :mod:`~cluster.failover.bench` runs trials in the lab and
:mod:`~cluster.failover.plot` draws measured against theory.
"""
