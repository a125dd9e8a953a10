"""Firewall rule model and both back-ends, pure: what each director's rules allow and omit."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cluster.firewall import BACKENDS, render
from cluster.firewall import iptables as ipt
from cluster.firewall.rules import Rule, RuleSet, director_rules
from cluster.spec import ClusterSpec, load_seed_spec, load_spec
from cluster.spec.load import DUAL_STACK_PATH

EVERYTHING = Path(__file__).parent / "data" / "specs" / "everything.yaml"


def seed_with(**changes: Any) -> ClusterSpec:
    data = load_seed_spec().model_dump(mode="json")
    for key, value in changes.items():
        data[key] = value
    return ClusterSpec.model_validate(data)


def nets(*texts: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(t) for t in texts)


def by_comment(rules: tuple[Rule, ...], start: str) -> list[Rule]:
    return [r for r in rules if r.comment.startswith(start)]


def test_vrrp_is_ip_protocol_112_from_the_peer_only() -> None:
    rules = director_rules(load_seed_spec(), "director01").chains["input"]
    vrrp = [r for r in rules if r.protocol == "vrrp"]
    assert [(r.iif, r.saddr, r.daddr) for r in vrrp] == [
        (("eth0",), nets("192.168.0.176/32"), nets("224.0.0.18/32")),
        (("eth1",), nets("192.168.170.180/32"), nets("224.0.0.18/32")),
    ]


@pytest.mark.parametrize("backend", ["nftables", "iptables"])
def test_the_articles_heartbeat_port_is_not_vrrp(backend: str) -> None:
    text = render(load_seed_spec(), "director01", backend)  # type: ignore[arg-type]
    assert "694" not in text
    assert "224.0.0.0/4" not in text  # nor its "any multicast from the peer" stand-in


def test_vrrp_sources_are_the_peers_on_that_segment() -> None:
    spec = load_seed_spec().model_dump(mode="json")
    third = {
        "name": "director03",
        "router_id": "DIRECTOR03",
        "priority": 20,
        "interfaces": [
            {"name": "eth0", "segment": "external", "addresses": ["192.168.0.177/24"]},
            {"name": "eth1", "segment": "elsewhere", "addresses": ["10.9.0.1/24"]},
        ],
    }
    spec["directors"].append(third)
    rules = director_rules(ClusterSpec.model_validate(spec), "director01").chains["input"]
    sources = {r.iif: r.saddr for r in rules if r.protocol == "vrrp"}
    assert sources == {
        ("eth0",): nets("192.168.0.176/32", "192.168.0.177/32"),
        ("eth1",): nets("192.168.170.180/32"),  # director03's eth1 is on another segment
    }


def test_unicast_vrrp_comes_from_the_peers_to_the_director() -> None:
    """Unicast adverts are addressed to the director itself, not to 224.0.0.18."""
    spec = load_spec(EVERYTHING)
    for director, peer in (("lb-a", "10.1.0.3/32"), ("lb-b", "10.1.0.2/32")):
        rules = director_rules(spec, director).chains["input"]
        (back,) = [r for r in rules if r.protocol == "vrrp" and r.iif == ("int0",)]
        assert (back.saddr, back.daddr, back.comment) == (
            nets(peer),
            (),
            "VRRP BACK from its unicast peers",
        )


def test_a_lone_director_accepts_no_vrrp() -> None:
    spec = load_seed_spec()
    alone = spec.model_copy(update={"directors": spec.directors[:1]})
    assert all(r.protocol != "vrrp" for r in director_rules(alone, "director01").chains["input"])


def test_ipv6_vrrp_goes_to_ff02_12_from_link_local() -> None:
    spec = load_spec(EVERYTHING)
    rules = director_rules(spec, "lb-a").chains["input"]
    (v6,) = [r for r in rules if r.protocol == "vrrp" and r.family == 6]
    assert (v6.iif, v6.saddr, v6.daddr) == (("ext0",), nets("fe80::/10"), nets("ff02::12/128"))
    # Once the peer's link-local address is in the spec, only that one is accepted.
    data = spec.model_dump(mode="json")
    data["directors"][1]["interfaces"][0]["addresses"].append("fe80::3/64")
    rules = director_rules(ClusterSpec.model_validate(data), "lb-a").chains["input"]
    (v6,) = [r for r in rules if r.protocol == "vrrp" and r.family == 6]
    assert v6.saddr == nets("fe80::3/128") and "peer director" in v6.comment


def test_dual_stack_admits_each_familys_vrrp_from_the_peer_alone() -> None:
    rules = director_rules(load_spec(DUAL_STACK_PATH), "director01").chains["input"]
    vrrp = {(r.comment.split()[1], r.saddr, r.daddr) for r in rules if r.protocol == "vrrp"}
    assert vrrp == {
        ("VI_EXTERNAL", nets("192.168.0.176/32"), nets("224.0.0.18/32")),
        ("VI_INTERNAL", nets("192.168.170.180/32"), nets("224.0.0.18/32")),
        ("VI_EXTERNAL6", nets("fe80::176/128"), nets("ff02::12/128")),
        ("VI_INTERNAL6", nets("fe80::180/128"), nets("ff02::12/128")),
    }
    forward = director_rules(load_spec(DUAL_STACK_PATH), "director01").chains["forward"]
    out = next(r for r in forward if "masqueraded" in r.comment and r.family == 6)
    assert out.saddr == nets("2001:db8:0:170::/64")  # never the link-local network


def test_services_on_the_vip_and_fwmarks() -> None:
    rules = director_rules(load_spec(EVERYTHING), "lb-a").chains["input"]
    opened = {(r.protocol, r.daddr, r.dport, r.mark) for r in by_comment(rules, "virtual service")}
    assert opened == {
        ("tcp", nets("198.51.100.10/32"), 80, None),
        ("udp", nets("198.51.100.11/32"), 53, None),
        (None, (), None, 7),
        ("tcp", nets("2001:db8:1::10/128"), 443, None),
        # the group mail: one VIP on 25, a range of two on 587, and a mark
        ("tcp", nets("198.51.100.10/32"), 25, None),
        ("tcp", nets("198.51.100.11/32", "198.51.100.12/32"), 587, None),
        (None, (), None, 9),
    }


def test_nat_forwarding_and_masquerade() -> None:
    chains = director_rules(load_seed_spec(), "director01").chains
    replies = by_comment(chains["forward"], "real servers' replies")
    assert [(r.iif, r.saddr, r.sport) for r in replies] == [
        (("eth1",), nets("192.168.170.25/32", "192.168.170.35/32"), 80),
        (("eth1",), nets("192.168.170.35/32"), 443),
    ]
    (masquerade,) = chains["postrouting"]
    assert masquerade.verdict == "masquerade"
    # Only the real servers' own traffic: the VIP replies (source: the VIP) are not NATed.
    assert (masquerade.oif, masquerade.saddr) == (("eth0",), nets("192.168.170.0/24"))


def test_real_servers_are_not_reachable_from_outside() -> None:
    """Unlike the article's ``FORWARD -i eth0 -d 192.168.170.0/24 -j ACCEPT``."""
    for rule in director_rules(load_seed_spec(), "director01").chains["forward"]:
        inbound = "eth1" not in rule.iif and rule.oif != ("eth0",)
        if inbound:
            assert set(rule.ct_state) <= {"established", "related"}, rule


def test_mail_server_replies_and_allow_rules() -> None:
    spec = seed_with(
        firewall={"allow": [{"port": 161, "protocol": "udp", "sources": ["192.168.0.0/24"]}]}
    )
    rules = director_rules(spec, "director02").chains["input"]
    (mail,) = by_comment(rules, "mail server")
    assert (mail.saddr, mail.protocol, mail.sport, mail.ct_state) == (
        nets("192.168.0.15/32"),
        "tcp",
        25,
        ("established",),
    )
    (allow,) = by_comment(rules, "allow")
    assert (allow.iif, allow.saddr, allow.protocol, allow.dport) == (
        ("eth0",),
        nets("192.168.0.0/24"),
        "udp",
        161,
    )


def test_one_rule_set_two_spellings() -> None:
    rules = director_rules(load_seed_spec(), "director01")
    nft = BACKENDS["nftables"].ours(rules)["nft"]
    iptables = BACKENDS["iptables"].ours(rules)["iptables"]
    for rule in rules.chains["input"]:
        assert f'comment "{rule.comment}"' in nft
        assert ipt._quote(rule.comment) in iptables


def test_iptables_script_keeps_jumps_and_foreign_rules() -> None:
    wanted = ipt.ours(director_rules(load_seed_spec(), "director01"))["iptables"]
    fresh = ipt.script(wanted, "")
    assert "-I INPUT 1 -j LVS-INPUT" in fresh
    loaded = wanted.replace("-p 112", "-p vrrp")
    foreign = "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -s 10.9.9.9/32 -j ACCEPT\nCOMMIT\n"
    again = ipt.script(wanted, foreign + loaded)
    assert "-I INPUT" not in again and "10.9.9.9" not in again  # no second jump
    assert ipt.parse(foreign + loaded) == ipt.parse(loaded)
    gone = ipt.script("", loaded)
    assert "-D INPUT -j LVS-INPUT" in gone and "-X LVS-POSTROUTING" in gone
    assert ipt.script("", "") == ""


def test_unknown_director() -> None:
    with pytest.raises(Exception, match="use one of director01, director02"):
        director_rules(load_seed_spec(), "director09")


# -- SSH is open in every rendered rule set ---------------------------------------------------

NAMES = st.sampled_from(["eth0", "eth1", "bond0", "eth0.100", "ens3"])
SEGMENTS = st.sampled_from(["external", "internal", "dmz"])
V4 = st.ip_addresses(v=4).map(str)
ANY_IP = st.one_of(V4, st.ip_addresses(v=6).map(str))
NETWORKS = st.tuples(ANY_IP, st.integers(0, 32)).map(
    lambda a: str(ipaddress.ip_network(f"{a[0]}/{a[1]}", strict=False))
)
PORTS = st.integers(1, 65535)


@st.composite
def specs(draw: st.DrawFn) -> ClusterSpec:
    interfaces = draw(st.lists(NAMES, min_size=1, max_size=3, unique=True))
    directors = [
        {
            "name": f"d{n}",
            "router_id": f"D{n}",
            "priority": 100 - n,
            "interfaces": [
                {
                    "name": name,
                    "segment": draw(SEGMENTS),
                    "addresses": draw(
                        st.lists(
                            ANY_IP.map(lambda a: f"{a}/64" if ":" in a else f"{a}/24"), max_size=2
                        )
                    ),
                }
                for name in interfaces
            ],
        }
        for n in range(draw(st.integers(1, 3)))
    ]
    services: list[dict[str, Any]] = []
    for n in range(draw(st.integers(0, 4))):
        service: dict[str, Any] = {"name": f"s{n}" * draw(st.integers(1, 20))}
        if draw(st.booleans()):
            service["fwmark"] = draw(st.integers(1, 2**32 - 1))
            service["real_servers"] = [
                {"address": a} for a in draw(st.lists(ANY_IP, max_size=3, unique=True))
            ]
        else:
            service |= {"address": draw(ANY_IP), "port": draw(PORTS)}
            service["protocol"] = draw(st.sampled_from(["TCP", "UDP", "SCTP"]))
            service["real_servers"] = [
                {"address": a, "port": draw(PORTS)}
                for a in draw(st.lists(ANY_IP, max_size=3, unique=True))
            ]
        services.append(service)
    data = {
        "name": "random",
        "directors": directors,
        "vrrp": {
            "instances": [
                {
                    "name": f"VI{n}",
                    "interface": draw(st.sampled_from(interfaces)),
                    "virtual_router_id": n + 1,
                    "version": 3,
                    "virtual_ipaddresses": [draw(ANY_IP)],
                }
                for n in range(draw(st.integers(0, 3)))
            ]
        },
        "virtual_services": services,
        "notification": {"smtp_server": draw(ANY_IP)} if draw(st.booleans()) else None,
        "firewall": {
            "ssh_port": draw(PORTS),
            "ssh_sources": draw(st.lists(NETWORKS, max_size=3)),
            "allow": [
                {
                    "port": draw(PORTS),
                    "protocol": draw(st.sampled_from(["tcp", "udp"])),
                    "sources": draw(st.lists(NETWORKS, max_size=2)),
                }
                for _ in range(draw(st.integers(0, 3)))
            ],
        },
    }
    return ClusterSpec.model_validate(data)


SSH_SAVE = "-m comment --comment SSH -j RETURN"
SSH_NFT = 'counter accept comment "SSH"'


def ssh_lines(spec: ClusterSpec, ruleset: RuleSet) -> dict[str, list[str]]:
    """The SSH rule as each loader program must contain it, worked out independently."""
    port, sources = spec.firewall.ssh_port, spec.firewall.ssh_sources
    nft, v4, v6 = [], [], []
    for family, save in ((4, v4), (6, v6)):
        mine = [str(s) for s in sources if s.version == family]
        for source in mine or ([] if sources else [None]):
            where = f"-s {source} " if source else ""
            save.append(f"-A LVS-INPUT {where}-p tcp -m tcp --dport {port} {SSH_SAVE}")
        if mine:
            full = "/32" if family == 4 else "/128"
            shown = [m.removesuffix(full) for m in mine]
            match = shown[0] if len(shown) == 1 else "{ " + ", ".join(shown) + " }"
            nft.append(f"ip{'' if family == 4 else '6'} saddr {match} tcp dport {port} {SSH_NFT}")
    if not sources:
        nft.append(f"tcp dport {port} {SSH_NFT}")
    return {"nft": nft, "iptables": v4, "ip6tables": v6}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=specs(), which=st.integers(0, 2))
def test_ssh_is_open_in_every_rendered_rule_set(spec: ClusterSpec, which: int) -> None:
    director = spec.directors[which % len(spec.directors)]
    ruleset = director_rules(spec, director.name)
    ssh = [r for r in ruleset.chains["input"] if r.comment == "SSH"]
    assert ssh and all(
        (r.protocol, r.dport, r.iif, r.ct_state) == ("tcp", spec.firewall.ssh_port, (), ())
        for r in ssh
    )
    expected = ssh_lines(spec, ruleset)
    texts = BACKENDS["nftables"].ours(ruleset) | BACKENDS["iptables"].ours(ruleset)
    for program, lines in expected.items():
        for line in lines:
            assert line in texts[program], (program, line)
    for program in ("iptables", "ip6tables"):
        chain = [line for line in texts[program].splitlines() if line.startswith("-A LVS-INPUT")]
        assert chain[-1].endswith("-j DROP")  # the only drop, after the SSH rules
        assert sum(line.endswith("-j DROP") for line in chain) == 1
    # nft refuses comments over 128 bytes; service names may be 64 characters long.
    assert all(len(r.comment.encode()) <= 128 for rules in ruleset.chains.values() for r in rules)
