"""Build, run and teach an LVS (IPVS) load-balancing cluster with keepalived director failover.

Everything starts from one declarative cluster spec (YAML). The pure core turns it into
keepalived.conf files, firewall rules, sysctls and IPVS tables; small adapter modules apply
them to a real director or to the lab.

>>> from cluster.spec import load_seed_spec
>>> spec = load_seed_spec()
>>> [d.name for d in spec.directors]
['director01', 'director02']
"""

__version__ = "0.1.0"
