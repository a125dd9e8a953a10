"""How long a VRRP backup waits before it takes over (RFC 3768 for v2, RFC 5798 for v3).

A backup declares the master dead ``master_down_interval`` after the last advert it heard::

    master_down_interval = 3 * advert_int + skew_time
    skew_time (VRRPv2)   = (256 - priority) / 256                 seconds
    skew_time (VRRPv3)   = (256 - priority) * advert_int / 256    seconds

``priority`` is the *backup's*: the lower it is, the longer it waits, so that the best
backup wins. A master that stops gracefully sends an advert with priority 0, and the backup
then waits the skew time alone.

The master dies at a random moment between two of its adverts, so the VIP moves between
``master_down_interval - advert_int`` and ``master_down_interval`` after the fault; a
graceful stop moves it ``skew_time`` after the priority-0 advert, whenever that is sent.

A graceful stop has two costs the formula leaves out, both measured in the lab: keepalived
reaches its priority-0 advert 5-60 ms after the SIGTERM, and its checker child removes the
IPVS services on the same signal, so the client may lose the service a few ms *before* that
advert. The skew is therefore counted from the advert (when the master drops its VIPs).

A killed VRRP child (SIGKILL: no priority 0) is a crash as far as the backup can tell: it
takes over in :func:`takeover_window`. keepalived's parent starts a new child ``respawn``
seconds later (a process start: 0.2-0.3 s in the lab's guest); the new child removes the
VIPs its predecessor left on the links, so the service stops there, and it starts as a
backup. With the master's higher priority it discards the backup's adverts and takes the VIPs
back when its own ``master_down_interval`` runs out, preempting the backup: the VIPs move
twice, and the outage ends at whichever takeover comes first (:func:`vrrp_child_window`).
Until the new child starts, the dead one's VIPs stay on the links and IPVS still forwards:
the service goes on. keepalived delays each further respawn twice as long as the last (1, 2,
4, 8 s after the death), so a child that keeps dying leaves the VIPs on both directors
(split brain) once the backup has taken over.

>>> round(master_down_interval(50, 1, 3), 3), round(skew_time(50, 1, 3), 3)
(3.805, 0.805)
>>> round(master_down_interval(50, 0.1, 3), 4)
0.3805
>>> round(master_down_interval(50, 1, 2), 3)   # v2: the skew does not scale with the advert
3.805
>>> round(master_down_interval(50, 5, 2), 3), round(master_down_interval(50, 5, 3), 3)
(15.805, 19.023)
>>> takeover_window(50, 1, 3)
(2.8046875, 3.8046875)
>>> takeover_window(50, 1, 3, graceful=True)
(0.8046875, 0.8046875)
>>> [round(t, 3) for t in vrrp_child_window(100, 50, 1, 3, respawn=0.25)]  # backup first
[2.805, 3.805]
>>> [round(t, 3) for t in vrrp_child_window(100, 50, 1, 3, respawn=0.1)]   # or the new child
[2.805, 3.709]
"""

from __future__ import annotations

import math


def effective_advert(advert_int: float, version: int) -> float:
    """keepalived rounds a VRRPv2 advert interval up to whole seconds (the v2 packet field)."""
    return float(max(1, math.ceil(advert_int))) if version == 2 else advert_int


def skew_time(priority: int, advert_int: float, version: int) -> float:
    if version == 2:
        return (256 - priority) / 256
    return (256 - priority) * effective_advert(advert_int, version) / 256


def master_down_interval(priority: int, advert_int: float, version: int) -> float:
    return 3 * effective_advert(advert_int, version) + skew_time(priority, advert_int, version)


def takeover_window(
    backup_priority: int, advert_int: float, version: int, graceful: bool = False
) -> tuple[float, float]:
    """Earliest and latest time from the fault to the backup becoming master: the skew
    after a graceful stop, else up to one advert interval short of the full wait."""
    if graceful:
        skew = skew_time(backup_priority, advert_int, version)
        return skew, skew
    down = master_down_interval(backup_priority, advert_int, version)
    return down - effective_advert(advert_int, version), down


def vrrp_child_window(
    master_priority: int, backup_priority: int, advert_int: float, version: int, respawn: float
) -> tuple[float, float]:
    """Earliest and latest time from killing the master's VRRP child to a VIP holder again:
    the backup's takeover as after a crash, unless the child restarted ``respawn`` seconds
    after the kill waits out its own master-down interval first."""
    low, high = takeover_window(backup_priority, advert_int, version)
    own = respawn + master_down_interval(master_priority, advert_int, version)
    return min(low, own), min(high, own)
