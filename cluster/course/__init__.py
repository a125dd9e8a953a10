"""The notebook course: what each notebook shows, as package calls, on the lab or a director.

The notebooks in ``notebooks/`` hold prose, one parameter cell and one call per step; every
step lives here, tested like the rest of the package. A step takes a
:class:`~cluster.course.target.Target` (the lab, or "this machine") and returns a view that
shows itself in Jupyter (:mod:`cluster.views`, :class:`~cluster.course.figures.Chart`).

- :mod:`~cluster.course.target`: the lab or this machine; :mod:`~cluster.course.execute`
  runs the notebooks and keeps the executed copies;
- :mod:`~cluster.course.article`: the 2007 article's settings, as data, to set beside ours;
- the walk-through, one module per step: :mod:`~cluster.course.overview` (the cluster drawn
  from its spec), :mod:`~cluster.course.kernel`, :mod:`~cluster.course.config`
  (keepalived.conf), :mod:`~cluster.course.table` (IPVS), :mod:`~cluster.course.firewall`,
  :mod:`~cluster.course.health`, :mod:`~cluster.course.pair` (both directors),
  :mod:`~cluster.course.load`, :mod:`~cluster.course.troubleshoot`;
- the benchmarks and teaching aids: :mod:`~cluster.course.schedulers` (predicted split
  beside a live run), :mod:`~cluster.course.failover` (timings against theory, the cable
  pull), :mod:`~cluster.course.scale` (control-plane scale).
"""
