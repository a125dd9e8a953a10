"""IPVS: the table model, the plan, ipvsadm's formats (all pure) and the netlink edge.

- :mod:`cluster.ipvs.table`: the table as data, and :func:`~cluster.ipvs.table.desired_table`
  from a spec;
- :mod:`cluster.ipvs.plan`: the smallest ordered diff between two tables;
- :mod:`cluster.ipvs.ipvsadm`: ``ipvsadm -Ln`` views and the ``ipvsadm-save`` format;
- :mod:`cluster.ipvs.schedulers`: which real server each new connection reaches, as the
  kernel's schedulers and persistence decide it;
- :mod:`cluster.ipvs.netlink`: read the kernel's table and apply a plan through pyroute2;
  the only module here that needs root, a kernel with IPVS, or pyroute2.
"""
