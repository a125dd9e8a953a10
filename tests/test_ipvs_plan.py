"""The desired table from a spec, and plans: minimal, ordered, idempotent, polite to others."""

from __future__ import annotations

import ipaddress
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from cluster.ipvs.plan import make_plan
from cluster.ipvs.table import (
    Destination,
    Service,
    ServiceKey,
    Table,
    desired_table,
    sched_flag_bits,
)
from cluster.spec.load import SEED_TEXT, read_spec

SEED, _ = read_spec(SEED_TEXT, "seed.yaml")
DESIRED = desired_table(SEED)
HTTP = ServiceKey.inet("TCP", "192.168.0.174", 80)


def test_seed_table_is_the_articles() -> None:
    http, https = DESIRED.services
    assert (http.key, http.scheduler, http.persistent) == (HTTP, "rr", False)
    assert [(str(d.address), d.port, d.weight, d.forwarding) for d in http.destinations] == [
        ("192.168.170.25", 80, 1, "NAT"),
        ("192.168.170.35", 80, 1, "NAT"),
    ]
    assert (https.key.port, https.timeout, https.netmask) == (443, 3600, 32)


def test_spec_features_reach_the_table() -> None:
    text = SEED_TEXT.replace(
        "virtual_services:\n",
        "virtual_services:\n"
        "  - name: dns\n    fwmark: 5\n    protocol: UDP\n    scheduler: mh\n"
        "    scheduler_flags: [mh-port]\n    forwarding: DR\n"
        "    persistence: {timeout: 60, netmask: 255.255.255.0}\n"
        "    real_servers: [{address: 192.168.170.25, weight: 7}]\n"
        "  - name: v6\n    address: 2001:db8::1\n    port: 80\n    forwarding: TUN\n"
        "    real_servers: [{address: 2001:db8:1::5}]\n",
    )
    spec, _ = read_spec(text, "x.yaml")
    table = desired_table(spec)
    dns = table.service(ServiceKey.mark(5))
    assert dns is not None
    assert (dns.scheduler, dns.sched_flags, dns.timeout, dns.netmask) == (
        "mh", sched_flag_bits(["mh-port"]), 60, 24)  # fmt: skip
    assert (dns.destinations[0].port, dns.destinations[0].forwarding) == (0, "DR")
    v6 = table.service(ServiceKey.inet("TCP", "2001:db8::1", 80))
    assert v6 is not None and v6.netmask == 128 and v6.destinations[0].forwarding == "TUN"


def test_a_group_service_is_one_ipvs_service_per_member() -> None:
    """keepalived programs each member of a virtual_server_group as a service of its own,
    with the group service's settings and real servers."""
    text = SEED_TEXT.replace(
        "virtual_services:\n",
        "virtual_server_groups:\n"
        "  - name: web\n    members:\n"
        "      - {address: 192.168.0.174, last: 192.168.0.175, port: 8080}\n"
        "      - {fwmark: 3}\n"
        "virtual_services:\n"
        "  - name: alt\n    group: web\n    scheduler: wrr\n"
        "    real_servers: [{address: 192.168.170.25, port: 80, weight: 4}]\n",
    )
    spec, _ = read_spec(text, "x.yaml")
    keys = [ServiceKey.inet("TCP", "192.168.0.174", 8080),
            ServiceKey.inet("TCP", "192.168.0.175", 8080), ServiceKey.mark(3)]  # fmt: skip
    services = [desired_table(spec).service(key) for key in keys]
    assert [(s.scheduler, [(d.port, d.weight) for d in s.destinations]) for s in services if s] == [
        ("wrr", [(80, 4)]),
    ] * 3


def test_empty_live_table_adds_everything_services_first() -> None:
    plan = make_plan(DESIRED, Table())
    assert [str(c) for c in plan] == [
        "add service TCP 192.168.0.174:80 rr",
        "add dest TCP 192.168.0.174:80 -> 192.168.170.25:80 NAT weight 1",
        "add dest TCP 192.168.0.174:80 -> 192.168.170.35:80 NAT weight 1",
        "add service TCP 192.168.0.174:443 rr persistent 3600",
        "add dest TCP 192.168.0.174:443 -> 192.168.170.35:443 NAT weight 1",
    ]
    assert make_plan(DESIRED, plan.applied_to(Table())).empty


def _with_http(change_service=None, change_dest=None) -> Table:  # type: ignore[no-untyped-def]
    services = []
    for service in DESIRED:
        if service.key == HTTP:
            dests = tuple(change_dest(d) if change_dest else d for d in service.destinations)
            service = replace(service, destinations=dests)
            if change_service:
                service = change_service(service)
        services.append(service)
    return Table(tuple(services))


def test_weight_change_is_exactly_one_set() -> None:
    live = _with_http(change_dest=lambda d: replace(d, weight=5) if d.port == 80 and
                      str(d.address).endswith(".25") else d)  # fmt: skip
    plan = make_plan(DESIRED, live)
    assert [(c.op, c.target) for c in plan] == [("set", "dest")]
    assert plan.text() == ("  TCP 192.168.0.174:80 rr\n~   -> 192.168.170.25:80 weight 5 -> 1\n")


def test_scheduler_change_is_a_set_of_the_service_and_keeps_its_servers() -> None:
    live = _with_http(change_service=lambda s: replace(s, scheduler="wlc", timeout=300))
    plan = make_plan(DESIRED, live)
    assert [(c.op, c.target) for c in plan] == [("set", "service")]
    assert plan.text() == "~ TCP 192.168.0.174:80 scheduler wlc -> rr, timeout 300 -> -\n"
    after = plan.applied_to(live)
    assert after == DESIRED


def test_unowned_services_are_left_alone_unless_pruned() -> None:
    stranger = Service(
        ServiceKey.inet("UDP", "192.0.2.99", 53),
        destinations=(Destination(ipaddress.ip_address("10.9.9.9"), 53),),
    )
    live = Table((*DESIRED.services, stranger))
    assert make_plan(DESIRED, live).empty
    pruned = make_plan(DESIRED, live, prune=True)
    assert [str(c) for c in pruned] == ["del service UDP 192.0.2.99:53 wlc"]
    assert pruned.text() == "- UDP 192.0.2.99:53 wlc (and its 1 real servers)\n"
    assert pruned.applied_to(live) == DESIRED


def test_real_servers_the_spec_drops_are_deleted_from_its_services() -> None:
    extra = Destination(ipaddress.ip_address("192.168.170.99"), 80)
    live = _with_http(change_service=lambda s: replace(s, destinations=(*s.destinations, extra)))
    plan = make_plan(DESIRED, live)
    assert [str(c) for c in plan] == [
        "del dest TCP 192.168.0.174:80 -> 192.168.170.99:80 NAT weight 1"
    ]


# --- property: whatever the live table, one plan reaches the desired one --------------------

ADDRESSES = [ipaddress.ip_address(a) for a in ("10.0.0.1", "10.0.0.2", "192.0.2.7")]
KEYS = [ServiceKey.inet("TCP", "192.0.2.1", p) for p in (80, 443)] + [ServiceKey.mark(3)]
dests = st.builds(
    Destination,
    address=st.sampled_from(ADDRESSES),
    port=st.sampled_from([0, 80]),
    weight=st.integers(0, 3),
    forwarding=st.sampled_from(["NAT", "DR", "TUN"]),
)
services = st.builds(
    Service,
    key=st.sampled_from(KEYS),
    scheduler=st.sampled_from(["rr", "wlc", "sh"]),
    timeout=st.sampled_from([0, 300]),
    destinations=st.lists(dests, max_size=3, unique_by=lambda d: d.key).map(tuple),
)
tables = st.lists(services, max_size=3, unique_by=lambda s: s.key).map(lambda s: Table(tuple(s)))


@settings(max_examples=300, deadline=None)
@given(desired=tables, live=tables, prune=st.booleans())
def test_plan_reaches_desired_and_only_touches_what_it_owns(
    desired: Table, live: Table, prune: bool
) -> None:
    plan = make_plan(desired, live, prune)
    # minimal: each service and each real server is touched at most once, never re-created
    touched = [(c.service.key, c.dest.key if c.dest else None) for c in plan]
    assert len(touched) == len(set(touched))
    after = plan.applied_to(live)
    assert make_plan(desired, after, prune).empty
    for service in desired:
        assert after.service(service.key) == service
    for service in live:
        if desired.service(service.key) is None:
            assert (after.service(service.key) is None) == prune
