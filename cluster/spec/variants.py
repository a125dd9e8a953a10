"""Named changes to a spec's VRRP set-up, for the failover experiments and as presets.

Each function takes a spec and returns a new one (specs are immutable), so experiments stack
them: ``timing(article(seed), 1, 3)`` is the article's VRRP layout at advert_int 1 over
VRRPv3. The configurations compared in the failover benchmark are :data:`LAYOUTS`:

- ``article``: the 2007 article's own VRRP section: a sync group, no tracked links, PASS
  auth (the test suite checks it against the imported article files);
- ``split``: no sync group and no tracked links, each instance on its own;
- ``fixed``: the seed's: a sync group and each instance tracking the other link.

>>> from cluster.spec import load_seed_spec
>>> fast = subsecond(load_seed_spec())
>>> {(i.version, i.advert_int) for i in fast.vrrp.instances}
{(3, 0.1)}
>>> [i.track_interfaces for i in article(load_seed_spec()).vrrp.instances]
[[], []]
>>> split(load_seed_spec()).vrrp.sync_groups
[]
"""

from __future__ import annotations

from collections.abc import Callable

from cluster.spec.model import Auth, ClusterSpec, SyncDaemon, VrrpInstance

Variant = Callable[[ClusterSpec], ClusterSpec]


def _instances(spec: ClusterSpec, change: Callable[[VrrpInstance], VrrpInstance]) -> ClusterSpec:
    vrrp = spec.vrrp.model_copy(update={"instances": [change(i) for i in spec.vrrp.instances]})
    return spec.model_copy(update={"vrrp": vrrp})


def timing(spec: ClusterSpec, advert_int: float, version: int) -> ClusterSpec:
    """Every instance at ``advert_int`` over VRRP ``version``; v3 has no auth, so it goes.

    VRRPv2 rounds a sub-second interval up to 1 s, so sub-second needs ``version=3``.
    """
    return _instances(
        spec,
        lambda i: i.model_copy(
            update={
                "advert_int": advert_int,
                "version": version,
                "auth": i.auth if version == 2 else None,
            }
        ),
    )


def subsecond(spec: ClusterSpec) -> ClusterSpec:
    """The sub-second preset: VRRPv3 with an advert every 100 ms (failover in ~0.4 s)."""
    return timing(spec, 0.1, 3)


def article(spec: ClusterSpec) -> ClusterSpec:
    """The article's VRRP: its sync group, no tracked links, ``auth_type PASS`` 1111."""
    return _instances(
        spec,
        lambda i: i.model_copy(
            update={
                "track_interfaces": [],
                "auth": Auth(type="PASS", password="1111") if i.version == 2 else None,
            }
        ),
    )


def split(spec: ClusterSpec) -> ClusterSpec:
    """No sync group and no tracked links: each instance fails over on its own."""
    spec = article(spec)
    return spec.model_copy(update={"vrrp": spec.vrrp.model_copy(update={"sync_groups": []})})


def fixed(spec: ClusterSpec) -> ClusterSpec:
    """A sync group and, on each instance, every other VRRP link tracked."""
    links = {i.interface for i in spec.vrrp.instances}
    return _instances(
        spec,
        lambda i: i.model_copy(update={"track_interfaces": sorted(links - {i.interface})}),
    )


def sync_daemon(spec: ClusterSpec, instance: str | None = None) -> ClusterSpec:
    """IPVS connection sync on ``instance``'s link (default: the last instance, the DIP's)."""
    names = [i.name for i in spec.vrrp.instances]
    chosen = spec.vrrp.instances[names.index(instance) if instance else -1]
    daemon = SyncDaemon(interface=chosen.interface, instance=chosen.name)
    return spec.model_copy(update={"vrrp": spec.vrrp.model_copy(update={"sync_daemon": daemon})})


LAYOUTS: dict[str, Variant] = {"article": article, "split": split, "fixed": fixed}


def variant(
    spec: ClusterSpec,
    layout: str | None = None,
    advert_int: float | None = None,
    version: int | None = None,
    sync: bool = False,
) -> ClusterSpec:
    """The variants above in one call, as the CLI and the benchmark name them.

    Timing comes first, since the article's PASS auth exists only over VRRPv2.
    """
    if advert_int is not None or version is not None:
        first = spec.vrrp.instances[0]
        spec = timing(spec, advert_int or first.advert_int, version or first.version)
    if layout is not None:
        spec = LAYOUTS[layout](spec)
    return sync_daemon(spec) if sync else spec
