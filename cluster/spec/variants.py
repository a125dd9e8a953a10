"""Named changes to a spec's VRRP set-up, for the failover experiments and as presets.

Each function takes a spec and returns a new one (specs are immutable), so experiments stack
them: ``timing(article(seed), 1, 3)`` is the article's VRRP layout at advert_int 1 over
VRRPv3. The configurations compared in the failover benchmark are :data:`LAYOUTS`:

- ``article``: the 2007 article's own VRRP section: a sync group, no tracked links, PASS
  auth (the test suite checks it against the imported article files);
- ``split``: no sync group and no tracked links, each instance on its own;
- ``fixed``: the seed's: a sync group and each instance tracking the other link;
- ``watched`` (:func:`watched`): ``fixed`` plus a ping across each link, which also notices
  a link that stays up but drops everything.

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

from cluster.spec.model import Auth, ClusterSpec, SyncDaemon, TrackScript, VrrpInstance

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


def watched(spec: ClusterSpec, neighbours: dict[str, list[str]]) -> ClusterSpec:
    """``fixed`` plus, per VRRP link, a track script that pings ``neighbours[link]`` (the
    addresses on that segment that belong to no director, e.g. the router, the real
    servers); one answer is enough, so a single real server going down faults nobody.

    Every instance tracks every script, so a director that cannot reach either segment goes
    to FAULT and the sync group hands both VIPs to the peer. Pinging the peer director would
    not do: after a failover the peer is the one whose link is broken.
    """
    scripts = [
        TrackScript(
            name=f"reach_{link}",
            script="/bin/sh -c 'for a in " + " ".join(addresses) + "; do "
            f"ping -c 1 -W 1 -I {link} $a >/dev/null && exit 0; done; exit 1'",
            interval=1, timeout=3, fall=2, rise=2,
        )
        for link, addresses in sorted(neighbours.items())
    ]  # fmt: skip
    spec = fixed(spec)
    names = [s.name for s in scripts]
    spec = _instances(spec, lambda i: i.model_copy(update={"track_scripts": names}))
    return spec.model_copy(update={"vrrp": spec.vrrp.model_copy(update={"scripts": scripts})})


LAYOUTS: dict[str, Variant] = {"article": article, "split": split, "fixed": fixed}
#: Every layout :func:`variant` knows; ``watched`` also needs the addresses to ping.
LAYOUT_NAMES = (*LAYOUTS, "watched")


def variant(
    spec: ClusterSpec,
    layout: str | None = None,
    advert_int: float | None = None,
    version: int | None = None,
    sync: bool = False,
    neighbours: dict[str, list[str]] | None = None,
) -> ClusterSpec:
    """The variants above in one call, as the CLI and the benchmark name them.

    Timing comes first, since the article's PASS auth exists only over VRRPv2. ``watched``
    needs ``neighbours`` (link -> addresses to ping across it).
    """
    if advert_int is not None or version is not None:
        first = spec.vrrp.instances[0]
        spec = timing(spec, advert_int or first.advert_int, version or first.version)
    if layout == "watched":
        if not neighbours:
            raise ValueError("the watched layout needs an address to ping across each link")
        spec = watched(spec, neighbours)
    elif layout is not None:
        spec = LAYOUTS[layout](spec)
    return sync_daemon(spec) if sync else spec
