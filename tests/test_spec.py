"""The cluster spec: loading with line numbers, type errors, and the cross-part rules."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cluster.errors import SpecError
from cluster.spec import dump_spec, load_seed_spec, read_spec
from cluster.spec.load import DUAL_STACK_PATH, SEED_TEXT


def errors_of(text: str) -> list[str]:
    with pytest.raises(SpecError) as caught:
        read_spec(text, "spec.yaml")
    return [str(p) for p in caught.value.problems]


def seed_with(old: str, new: str, count: int = 1) -> str:
    assert SEED_TEXT.count(old) >= count, f"seed no longer contains {old!r}"
    return SEED_TEXT.replace(old, new, count)


def line_of(text: str, needle: str, occurrence: int = 1) -> int:
    lines = [n for n, line in enumerate(text.splitlines(), 1) if needle in line]
    return lines[occurrence - 1]


def test_seed_is_the_articles_cluster() -> None:
    spec = load_seed_spec()
    assert [(d.name, d.priority) for d in spec.directors] == [
        ("director01", 100),
        ("director02", 50),
    ]
    vips = {i.name: [str(v.ip) for v in i.virtual_ipaddresses] for i in spec.vrrp.instances}
    assert vips == {"VI_EXTERNAL": ["192.168.0.174"], "VI_INTERNAL": ["192.168.170.1"]}
    endpoints = {v.endpoint: v for v in spec.virtual_services}
    assert set(endpoints) == {"192.168.0.174:80", "192.168.0.174:443"}
    https = endpoints["192.168.0.174:443"]
    assert https.persistence is not None and https.persistence.timeout == 3600
    assert [str(rs.address) for rs in endpoints["192.168.0.174:80"].real_servers] == [
        "192.168.170.25",
        "192.168.170.35",
    ]


def test_equal_priorities_are_reported_at_the_second_directors_line() -> None:
    text = seed_with("priority: 50", "priority: 100")
    assert errors_of(text) == [
        f"spec.yaml:{line_of(text, 'priority: 100', 2)}: error: priority 100 equals director01's,"
        " so the election falls to the higher IP address and the master is an accident of "
        "addressing (fix: give the intended backup a lower priority, e.g. 50)"
    ]


def test_vip_outside_the_interface_subnet() -> None:
    text = seed_with("[192.168.0.174/32]", "[10.9.9.9/32]")
    problems = errors_of(text)
    line = line_of(text, "10.9.9.9")
    assert all(p.startswith(f"spec.yaml:{line}: error: VIP 10.9.9.9 is outside") for p in problems)
    assert len(problems) == 2  # once per director


def test_duplicate_virtual_router_id_on_one_segment() -> None:
    text = seed_with("virtual_router_id: 42", "virtual_router_id: 41")
    # VI_INTERNAL is on another segment, so reusing 41 there is fine ...
    read_spec(text, "spec.yaml")
    # ... but two instances on eth0 with one id collide.
    text = seed_with(
        "interface: eth1\n      virtual_router_id: 42",
        "interface: eth0\n      virtual_router_id: 41",
    )
    text = text.replace("[192.168.170.1/32]", "[192.168.0.175/32]")
    assert any(
        "virtual_router_id 41 is already used by VI_EXTERNAL on segment external" in p
        for p in errors_of(text)
    )


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "digest: a0dcbc1a6e5dc4201a5a495fa858cdf6   #",
            "digest: a0dcbc1a6e5   #",
            "digest 'a0dcbc1a6e5' is not 32 hex digits",
        ),
        ("scheduler: rr", "scheduler: fastest", "'fastest' is not allowed"),
        ("priority: 50", "priority: high", "'high' is not a whole number"),
        ("192.168.0.176/24", "192.168.0.300/24", "'192.168.0.300/24' is not an address"),
        ("ssh_port: 22", "ssh_prot: 22", "unknown key 'ssh_prot' (fix: did you mean 'ssh_port'?)"),
        (
            "advert_int: 5\n      virtual_ipaddresses: [192.168.0.174/32]",
            "advert_int: 0.5\n      virtual_ipaddresses: [192.168.0.174/32]",
            "VRRPv2 counts advert_int in whole seconds",
        ),
        ("track_interfaces: [eth1]", "track_interfaces: [eth0]", "already watches its own"),
        (
            "instances: [VI_EXTERNAL, VI_INTERNAL]",
            "instances: [VI_EXTERNAL, VI_NOPE]",
            "names unknown instance 'VI_NOPE'",
        ),
        ("    port: 443", "    port: 80", "TCP 192.168.0.174:80 is already virtual service http"),
    ],
)
def test_each_mistake_names_its_line(old: str, new: str, expected: str) -> None:
    text = seed_with(old, new)
    problems = errors_of(text)
    matching = [p for p in problems if expected in p]
    assert matching, problems
    pairs = zip(text.splitlines(), SEED_TEXT.splitlines(), strict=True)
    changed = next(n for n, (a, b) in enumerate(pairs, 1) if a != b)
    assert matching[0].startswith(f"spec.yaml:{changed}:")


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "type: TCP_CHECK\n",
            "type: TCP_CHECK\n          enable_sni: true\n",
            "real_servers[0].check: enable_sni is an SSL_GET option",
        ),
        (
            "address: 192.168.0.174\n    port: 80\n",
            "fwmark: 80\n",
            "virtual_services[0]: a check behind a fwmark or group service has no port to connect",
        ),
    ],
)
def test_check_options_that_keepalived_cannot_use(old: str, new: str, expected: str) -> None:
    text = seed_with(old, new).replace("          connect_port: 80\n", "", 1)
    assert any(expected in p for p in errors_of(text)), errors_of(text)


def test_missing_key_points_at_the_parent() -> None:
    text = seed_with("    router_id: DIRECTOR02\n", "")
    assert errors_of(text) == [
        f"spec.yaml:{line_of(text, '- name: director02')}: error: directors[1]: missing key "
        "'router_id' (fix: add 'router_id:' here)"
    ]


def test_broken_yaml_names_the_line() -> None:
    text = seed_with("name: VG1", "name: [VG1")
    (problem,) = errors_of(text)
    assert problem.startswith("spec.yaml:") and "not valid YAML" in problem


def test_type_errors_come_before_cross_part_rules() -> None:
    text = seed_with("priority: 50", "priority: 100")
    text = text.replace("scheduler: rr", "scheduler: nope", 1)
    problems = errors_of(text)
    # Type errors stop the cross-part rules, so the first run shows the type error only;
    # both would otherwise be guesses.
    assert problems == [p for p in problems if "'nope' is not allowed" in p]


def test_warnings_do_not_stop_loading() -> None:
    text = seed_with(
        "        check:\n          type: TCP_CHECK\n          connect_timeout: 3\n"
        "          connect_port: 80\n",
        "",
    )
    spec, warnings = read_spec(text, "spec.yaml")
    assert spec.virtual_services[0].real_servers[0].check is None
    assert [w.severity for w in warnings] == ["warning"]
    assert "has no health check" in warnings[0].message


def _mutations(draw: st.DrawFn) -> str:
    lines = SEED_TEXT.splitlines()
    for _ in range(draw(st.integers(1, 4))):
        index = draw(st.integers(0, len(lines) - 1))
        action = draw(st.sampled_from(["delete", "duplicate", "garble", "dedent"]))
        if action == "delete":
            del lines[index]
        elif action == "duplicate":
            lines.insert(index, lines[index])
        elif action == "garble":
            lines[index] = draw(st.text(max_size=30))
        else:
            lines[index] = lines[index].lstrip()
    return "\n".join(lines)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.composite(_mutations)())
def test_mutated_specs_give_only_spec_errors(text: str) -> None:
    try:
        read_spec(text, "m.yaml")
    except SpecError as err:
        assert err.problems and all(p.location.file == "m.yaml" for p in err.problems)


def test_seed_round_trips_through_yaml_dump() -> None:
    """The model serialises to YAML that loads back to the same model (used by import)."""
    spec = load_seed_spec()
    again, _ = read_spec(dump_spec(spec), "dumped.yaml")
    assert again == spec


UNICAST = (
    "      track_interfaces: [eth1]   # its own link is watched anyway\n",
    "      track_interfaces: [eth1]   # its own link is watched anyway\n"
    "      unicast_peers: [192.168.0.204, 192.168.0.176]\n",
)


def test_unicast_peers_leave_out_each_directors_own_address() -> None:
    spec, warnings = read_spec(seed_with(*UNICAST), "spec.yaml")
    external = spec.vrrp.instances[0]
    assert [str(p) for p in external.peers_of(spec.directors[0])] == ["192.168.0.176"]
    assert [str(p) for p in external.peers_of(spec.directors[1])] == ["192.168.0.204"]
    assert warnings == []


@pytest.mark.parametrize(
    ("old", "new", "blamed", "expected"),
    [
        (
            "[192.168.0.204, 192.168.0.176]",
            "[192.168.0.204, 192.168.0.176, 192.168.0.176]",
            "unicast_peers:",
            "unicast peer 192.168.0.176 is listed twice",
        ),
        (
            "[192.168.0.204, 192.168.0.176]",
            "[192.168.0.204, 192.168.0.176, 2001:db8::1]",
            "unicast_peers:",
            "2001:db8::1 is not IPv4 like VI_EXTERNAL's VIPs; keepalived skips it",
        ),
        (
            "[192.168.0.204, 192.168.0.176]",
            "[192.168.0.204]",
            "unicast_peers:",
            "every unicast peer of VI_EXTERNAL is director01's own address",
        ),
        (
            "[192.168.0.204, 192.168.0.176]",
            "[192.168.0.204, 192.168.0.99]",
            "unicast_peers:",
            "none of director02's addresses on eth0 is a unicast peer of VI_EXTERNAL, so no "
            "other director sends it adverts and both become master (fix: add director02's "
            "address (192.168.0.176))",
        ),
        (
            "    priority: 50\n",
            "    priority: 50\n    unicast_src_ips: {VI_EXTERNAL: 192.168.0.99}\n",
            "unicast_src_ips:",
            "director02 has no address 192.168.0.99 on eth0 to send VI_EXTERNAL's adverts from "
            "(fix: use one of 192.168.0.176)",
        ),
        (
            "    priority: 50\n",
            "    priority: 50\n    unicast_src_ips: {VI_NOPE: 192.168.0.176}\n",
            "unicast_src_ips:",
            "director02's unicast_src_ips names unknown instance 'VI_NOPE'",
        ),
        (
            "    priority: 50\n",
            "    priority: 50\n    states: {VI_NOPE: MASTER}\n",
            "states:",
            "director02's states names unknown instance 'VI_NOPE'",
        ),
        (
            "vrrp:\n",
            "vrrp:\n  strict: true\n",
            "unicast_peers:",
            "VI_EXTERNAL has unicast_peers, which keepalived refuses in strict mode",
        ),
    ],
)
def test_unicast_mistakes_name_their_line(old: str, new: str, blamed: str, expected: str) -> None:
    assert_error_at(seed_with(*UNICAST).replace(old, new, 1), blamed, expected)


def assert_error_at(text: str, blamed: str, expected: str) -> None:
    """``text`` fails to load with an error saying ``expected`` on the line with ``blamed``."""
    problems = errors_of(text)
    where = f"spec.yaml:{line_of(text, blamed)}: error: "
    assert [p for p in problems if expected in p and p.startswith(where)], problems


def test_an_unused_unicast_source_is_a_warning() -> None:
    text = seed_with("    priority: 50\n", "    priority: 50\n    unicast_src_ips: {VI_EXTERNAL: "
                     "192.168.0.176}\n")  # fmt: skip
    _, warnings = read_spec(text, "spec.yaml")
    assert [(w.location.line, w.severity) for w in warnings] == [
        (line_of(text, "unicast_src_ips"), "warning")
    ]
    assert "VI_EXTERNAL has no unicast_peers, so it sends multicast adverts" in warnings[0].message


GROUP = (
    "virtual_services:\n",
    "virtual_server_groups:\n"
    "  - name: web\n"
    "    members:\n"
    "      - {address: 192.168.0.174, port: 8080}\n"
    "      - {fwmark: 3}\n"
    "virtual_services:\n"
    "  - name: alt\n"
    "    group: web\n"
    "    real_servers: [{address: 192.168.170.25, port: 80, check: {type: TCP_CHECK}}]\n",
)


def test_a_virtual_server_group_loads() -> None:
    spec, warnings = read_spec(seed_with(*GROUP), "spec.yaml")
    (alt, *_) = spec.virtual_services
    assert [m.endpoint for m in spec.members(alt)] == ["192.168.0.174:8080", "FWM 3"]
    assert alt.endpoint == "group web" and warnings == []


@pytest.mark.parametrize(
    ("old", "new", "blamed", "expected"),
    [
        ("    group: web\n", "    group: wbe\n", "group: wbe",
         "virtual service alt uses unknown group 'wbe' (fix: define it under "
         "virtual_server_groups (web))"),
        ("{address: 192.168.0.174, port: 8080}", "{address: 192.168.0.174, port: 80}",
         "    port: 80", "TCP 192.168.0.174:80 is already virtual service alt"),
        ("{address: 192.168.0.174, port: 8080}",
         "{address: 192.168.0.174, last: 192.168.0.170, port: 8080}", "last: 192.168.0.170",
         "the range 192.168.0.174 to 192.168.0.170 must rise within the last byte"),
        ("{fwmark: 3}", "{fwmark: 3, port: 80}", "{fwmark: 3, port: 80}",
         "a group member is a fwmark alone, or an address and a port"),
        ("    group: web\n", "    group: web\n    port: 80\n", "- name: alt",
         "give either address and port, or fwmark, or group"),
    ],
)  # fmt: skip
def test_group_mistakes_name_their_line(old: str, new: str, blamed: str, expected: str) -> None:
    assert_error_at(seed_with(*GROUP).replace(old, new, 1), blamed, expected)


def test_an_unused_group_is_a_warning() -> None:
    text = seed_with(*GROUP).replace("    group: web\n", "    address: 192.168.0.174\n"
                                     "    port: 8080\n")  # fmt: skip
    _, warnings = read_spec(text, "spec.yaml")
    assert [(w.location.line, w.message) for w in warnings] == [
        (line_of(text, "- name: web"), "virtual server group web is used by no virtual service, "
         "so nothing listens on its addresses"),
    ]  # fmt: skip


def test_per_instance_priorities_decide_each_election() -> None:
    text = seed_with("    priority: 50\n", "    priority: 50\n    priorities: {VI_INTERNAL: 150}\n")
    spec, _ = read_spec(text, "spec.yaml")
    assert [spec.master_of(i.name).name for i in spec.vrrp.instances] == [
        "director01",
        "director02",
    ]
    assert_error_at(
        text.replace("{VI_INTERNAL: 150}", "{VI_INTERNAL: 100}"),
        "priorities:",
        "priority 100 for VI_INTERNAL equals director01's",
    )
    assert_error_at(
        text.replace("{VI_INTERNAL: 150}", "{VI_NOPE: 150}"),
        "priorities:",
        "director02's priorities names unknown instance 'VI_NOPE'",
    )


def test_a_vip_on_a_missing_interface_names_its_line() -> None:
    text = seed_with(
        "      virtual_ipaddresses: [192.168.0.174/32]\n",
        "      virtual_ipaddresses: [192.168.0.174/32]\n"
        "      vip_options: {192.168.0.174/32: {dev: eth7}}\n",
    )
    assert_error_at(text, "vip_options:", "VI_EXTERNAL uses interface eth7, which director01")


def test_an_instance_holds_one_address_family() -> None:
    text = seed_with("[192.168.0.174/32]", "[192.168.0.174/32, 2001:db8::174/128]")
    text = text.replace("      advert_int: 5\n", "      advert_int: 5\n      version: 3\n", 1)
    assert_error_at(
        text, "2001:db8::174", "VI_EXTERNAL is an IPv4 instance; keepalived ignores its IPv6"
    )


def test_an_ipv6_instance_without_link_locals_is_a_warning() -> None:
    text = DUAL_STACK_PATH.read_text().replace(", fe80::176/64", "")
    _, warnings = read_spec(text, "spec.yaml")
    assert [(w.location.line, w.message.split(",")[0]) for w in warnings] == [
        (line_of(text, "2001:db8::176/64"), "director02 lists no link-local address on eth0")
    ]
    assert read_spec(DUAL_STACK_PATH.read_text(), "spec.yaml")[1] == []
