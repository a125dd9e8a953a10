"""Step 5: the director's firewall: the rules from the spec, their counters, and proof that
a VRRP advert from a host that is no director is dropped while the peer's gets through.

The 2007 article opened UDP port 694 "for VRRP" (heartbeat's port) and then any multicast from
the peer; VRRP is IP protocol 112 to 224.0.0.18, and the rendered rules admit it from the peer
director's address on each instance's link only (:mod:`cluster.firewall.rules`). In the lab,
the mail server, on the VIP's segment, sends adverts claiming the VIP's virtual router with
priority 254, which would win any election they reached (:mod:`cluster.lab.adverts`), and the
peer director sends adverts with its own priority; the counters of the director's input chain
say where each went.

>>> listing = '''Chain LVS-INPUT (1 references)
...     pkts      bytes target     prot opt in     out     source               destination
...       20      560 RETURN     112  --  eth0   *       192.168.0.176        224.0.0.18  \
...  /* VRRP VI_EXTERNAL from the peer director */
...       31     1146 DROP       0    --  *      *       0.0.0.0/0            0.0.0.0/0   \
...  /* policy: drop */'''
>>> parse_counters(listing)
{'VRRP VI_EXTERNAL from the peer director': 20, 'policy: drop': 31}
>>> parse_counters('ip saddr 192.168.0.176 meta l4proto 112 counter packets 7 bytes 280 accept '
...                'comment "VRRP VI_EXTERNAL from the peer director"')
{'VRRP VI_EXTERNAL from the peer director': 7}
"""

from __future__ import annotations

import re
import time

from cluster.course.target import Target
from cluster.firewall import BackendName
from cluster.firewall import render as render_rules
from cluster.keepalived.daemon import current_states
from cluster.lab.adverts import vrrp_v3_advert
from cluster.lab.topology import from_spec
from cluster.spec.model import VrrpInstance
from cluster.views import Block, Note, Shows, SpecTable

DROPPED = "policy: drop"
_IPTABLES = re.compile(r"^\s*(\d+)\s+\d+\s+\S+.*/\* (.+?) \*/\s*$", re.MULTILINE)
_NFT = re.compile(r'counter packets (\d+) bytes \d+ .*?comment "(.+?)"')


def backend(target: Target) -> BackendName:
    """The back-end the director's firewall runs on: the lab's choice for its kernel (no
    nftables NAT in Debian's UML), else the spec's."""
    if target.lab is not None:
        from cluster.lab import directors

        if not directors.has_nftables_nat(target.lab, target.node):
            return "iptables"
    return target.spec.firewall.backend


def rules(target: Target) -> Block:
    """What ``cluster apply`` loads on the director (``cluster firewall render``)."""
    chosen = backend(target)
    text = render_rules(target.spec, target.node, chosen)
    return Block(f"{target.node}: cluster firewall render --backend {chosen}", text)


def parse_counters(listing: str) -> dict[str, int]:
    """Packets per rule, by the rule's comment, from ``iptables -L -v -x -n`` or ``nft list``
    output; the policy drop is a rule of its own in our iptables chain."""
    found = {comment: int(packets) for packets, comment in _IPTABLES.findall(listing)}
    found.update({comment: int(packets) for packets, comment in _NFT.findall(listing)})
    return found


def counters(target: Target, node: str | None = None) -> dict[str, int]:
    """The input chain's counters on ``node`` (the target's director by default); {} when
    none of our rules are loaded there."""
    argv = (
        ["iptables", "-L", "LVS-INPUT", "-v", "-x", "-n"]
        if backend(target) == "iptables"
        else ["nft", "list", "chain", "inet", "lvs_cluster", "input"]
    )
    if node is None or node == target.node:
        done = target.run(*argv)
    else:
        assert target.lab is not None
        done = target.lab.run(node, *argv)
    return parse_counters(done.stdout) if done.ok else {}


def _front(target: Target) -> VrrpInstance:
    """The VRRP instance that carries the first virtual service's address (the VIP)."""
    vip = str(next(vs.address for vs in target.spec.virtual_services if vs.address))
    return next(
        i
        for i in target.spec.vrrp.instances
        if any(str(a.ip) == vip for a in i.virtual_ipaddresses)
    )


def spoof(target: Target, count: int = 20) -> Shows:
    """``count`` adverts for the VIP's virtual router with priority 254 from the mail server,
    and ``count`` from the peer director with its own priority; the director's counters
    before and after, and whether it stayed master. Needs the lab's other hosts."""
    instance = _front(target)
    peer_rule = f"VRRP {instance.name} from the peer director"
    if target.lab is None:
        now = counters(target)
        table = SpecTable(
            f"{target.node}: VRRP in the firewall's counters",
            ("rule", "packets"),
            [(rule, str(now.get(rule, 0))) for rule in (peer_rule, DROPPED)],
        )
        skipped = Note(
            "a spoofed advert needs another host on the segment: run this notebook "
            "on the lab to see one dropped",
            "skipped",
        )
        return Shows((table, skipped))
    from cluster.lab import directors

    lab = target.lab
    topo = from_spec(target.spec)
    director = target.spec.director(target.node)
    assert director is not None
    link = director.interface(instance.interface)
    assert link is not None
    segment = link.segment
    # the mail server: a host of the segment with a route out (the router has none there)
    stranger = next(
        n for n in topo.by_role("smtp") if any(i.segment == segment for i in n.interfaces)
    )
    peer = next(d for d in target.spec.directors if d.name != target.node)
    peer_address = str(next(i for i in peer.interfaces if i.segment == segment).addresses[0].ip)
    vip = str(instance.virtual_ipaddresses[0].ip)
    sends = [
        (stranger.name, stranger.address, 254),
        (peer.name, peer_address, peer.priority),
    ]
    keepalived = target.keepalived()
    before = counters(target)
    states, holders = current_states(keepalived.events()), directors.holders(lab, target.spec)
    unmoved = True
    for node, source, priority in sends:
        advert = vrrp_v3_advert(source, instance.virtual_router_id, priority, vip).hex()
        lab.run(node, lab.python, "-m", "cluster.lab.adverts", advert, str(count)).check()
        time.sleep(0.5)
        if node == stranger.name:  # the peer's lower priority is news to keepalived; these not
            unmoved = (
                directors.holders(lab, target.spec) == holders
                and current_states(keepalived.events()) == states
            )
    after = counters(target)
    rows = [
        (
            rule,
            str(before.get(rule, 0)),
            str(after.get(rule, 0)),
            str(after.get(rule, 0) - before.get(rule, 0)),
        )
        for rule in (peer_rule, DROPPED)
    ]
    table = SpecTable(
        f"{target.node}: {count} adverts from {stranger.name} {stranger.address} (priority 254) "
        f"and {count} from {peer.name} {peer_address} (priority {peer.priority})",
        ("rule", "packets before", "after", "added"),
        rows,
    )
    dropped = after.get(DROPPED, 0) - before.get(DROPPED, 0)
    accepted = after.get(peer_rule, 0) - before.get(peer_rule, 0)
    notes = (
        Note(
            f"the spoofed adverts from {stranger.name} were dropped: {dropped} packets "
            f"dropped for {count} sent",
            "ok" if dropped >= count else "problem",
        ),
        Note(
            f"the peer's adverts were accepted: {accepted} packets for {count} sent",
            "ok" if accepted >= count else "problem",
        ),
        Note(
            f"{target.node}'s VRRP states and addresses did not change with the spoofed adverts: "
            + ", ".join(f"{name} {state}" for name, state in states.items()),
            "ok" if unmoved else "problem",
        ),
    )
    return Shows((table, *notes))
