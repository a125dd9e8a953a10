"""Values and references keepalived checks: the single-line mistakes of issue #11, each flagged
at its line with keepalived's meaning. Pure: the differential test does the same against the
real keepalived, with root."""

from __future__ import annotations

import doctest

import pytest

from cluster.keepalived import values
from cluster.keepalived.lint import lint
from cluster.keepalived.syntax import parse_text

CONFIG = """global_defs {
  router_id lb1
  enable_script_security
  smtp_server 192.0.2.25
  vrrp_garp_interval 0.001
}
vrrp_script chk {
  script "/bin/true"
}
vrrp_instance VI_1 {
  state BACKUP
  interface eth0
  virtual_router_id 51
  priority 100
  advert_int 1
  track_script {
    chk
  }
  virtual_ipaddress {
    192.168.1.10/24
  }
}
virtual_server 192.168.1.10 80 {
  delay_loop 6
  lvs_sched rr
  lvs_method NAT
  protocol TCP
  persistence_timeout 300
  real_server 10.0.0.1 80 {
    weight 1
    HTTP_GET {
      url {
        path /
        status_code 200
        digest 0123456789abcdef0123456789abcdef
      }
    }
  }
}
"""


def test_docstring_examples() -> None:
    assert doctest.testmod(values).failed == 0


def test_base_has_no_findings() -> None:
    # our own finding: NAT real servers need the DIP to float; keepalived is content
    problems = lint(parse_text(CONFIG, "t.conf"), {"eth0"})
    assert [p.code for p in problems] == ["nat-without-dip"]


def mutate(old: str, new: str) -> str:
    assert old in CONFIG
    return CONFIG.replace(old, new, 1)


@pytest.mark.parametrize(
    ("old", "new", "line", "code", "meaning"),
    [
        ("priority 100", "priority 300", 14, "bad-value", "uses priority 100"),
        ("priority 100", "priority 0", 14, "bad-value", "uses priority 100"),
        ("virtual_router_id 51", "virtual_router_id 0", 13, "bad-value", "drops it"),
        ("virtual_router_id 51", "virtual_router_id 256", 13, "bad-value", "drops it"),
        ("advert_int 1", "advert_int 0", 15, "bad-value", "every 1 s"),
        ("advert_int 1", "advert_int abc", 15, "bad-value", "every 1 s"),
        ("weight 1", "weight -5", 30, "bad-value", "negative"),
        ("persistence_timeout 300", "persistence_timeout -1", 28, "bad-value", "negative"),
        ("delay_loop 6", "delay_loop 0", 24, "bad-value", "keeps the default"),
        ("vrrp_garp_interval 0.001", "vrrp_garp_interval 0", 5, "bad-value", "outside"),
        ("state BACKUP", "state MASTR", 11, "bad-value", "starts the instance as BACKUP"),
        ("advert_int 1", "version 4", 15, "bad-value", "outside 2 to 3"),
        ("lvs_sched rr", "lvs_sched bogus", 25, "bad-value", "uses wlc"),
        ("lvs_method NAT", "lvs_method FOO", 26, "bad-value", "uses NAT"),
        ("protocol TCP", "protocol XYZ", 27, "bad-value", "uses UDP"),
        ("protocol TCP", "", 23, "keepalived-default", "defaults to UDP"),
        ("digest 0123456789abcdef0123456789abcdef", "digest abc", 35, "bad-value", "not 32"),
        ("status_code 200", "status_code 999", 34, "bad-value", "skips that code"),
        ("smtp_server 192.0.2.25", "smtp_server 192.0.2.300", 4, "bad-value", "no mail"),
        ("    chk\n", "    nochk\n", 17, "undefined-reference", "ignores this reference"),
        ('  script "/bin/true"\n', "", 8, "missing-keyword", "removes it"),
        ("192.168.1.10/24", "192.168.1.10/33", 20, "bad-value", "uses /32"),
        ("192.168.1.10/24", "192.168.1.10 label eth0:very-long-label", 20, "bad-value",
         "drops the VIP"),
        ("192.168.1.10/24", "192.168.1.10 dev eth9", 20, "unknown-interface", "does not exist"),
        ("interface eth0", "interface eth9", 12, "unknown-interface", "does not exist"),
        ("  priority 100\n", "  priority 100\n  authentication {\n    auth_type FOO\n  }\n", 16,
         "bad-value", "not one of PASS, AH"),
        # routes, rules and the VMAC/ipvlan options (keepalived's alloc_route/alloc_rule)
        ("  advert_int 1\n", "  advert_int 1\n  virtual_routes {\n    10.9.0.0/16 via "
         "2001:db8::1 dev eth0\n  }\n", 17, "bad-value", "mixes IPv4 and IPv6"),
        ("  advert_int 1\n", "  advert_int 1\n  virtual_routes {\n    via 10.0.0.1 dev eth0\n"
         "  }\n", 17, "bad-value", "no destination; keepalived skips the route"),
        ("  advert_int 1\n", "  advert_int 1\n  virtual_routes {\n    10.9.0.0/16 via 10.0.0.1\n"
         "  }\n", 17, "keepalived-default", "cannot track it"),
        ("  advert_int 1\n", "  advert_int 1\n  virtual_routes {\n    10.9.0.0/16 gw 10.0.0.1 "
         "dev eth0\n  }\n", 17, "deprecated-keyword", "please use via"),
        ("  advert_int 1\n", "  advert_int 1\n  virtual_routes {\n    10.9.0.0/16 dev eth9\n"
         "  }\n", 17, "unknown-interface", "skips the entry"),
        ("  advert_int 1\n", "  advert_int 1\n  virtual_rules {\n    from 10.9.0.0/16 priority 5"
         "\n  }\n", 17, "bad-value", "no action"),
        ("  advert_int 1\n", "  advert_int 1\n  virtual_rules {\n    from 10.9.0.0/16 table 5"
         "\n  }\n", 17, "keepalived-default", "no preference"),
        ("  advert_int 1\n", "  advert_int 1\n  virtual_rules {\n    from 10.9.0.0/16 goto 5 "
         "priority 9\n  }\n", 17, "bad-value", "preference below its target"),
        ("advert_int 1", "use_vmac 01:00:5e:00:01:33", 15, "bad-value", "multicast MAC"),
        ("advert_int 1", "use_ipvlan ipvl0 bridge vepa", 15, "bad-value", "one mode"),
        ("advert_int 1", "use_ipvlan ipvl0", 15, "missing-keyword", "FAULT"),
    ],
)  # fmt: skip
def test_single_line_mistakes(old: str, new: str, line: int, code: str, meaning: str) -> None:
    problems = lint(parse_text(mutate(old, new), "t.conf"), {"eth0"})
    found = [p for p in problems if (p.code, p.location.line) == (code, line)]
    assert found, [str(p) for p in problems]
    assert meaning in found[0].message and found[0].fix


def test_unicast_peer_is_checked() -> None:
    text = mutate("  advert_int 1\n", "  advert_int 1\n  unicast_peer {\n    10.0.0.300\n  }\n")
    (problem,) = [p for p in lint(parse_text(text, "t.conf")) if p.code == "bad-value"]
    assert problem.location.line == 17 and "skips this peer" in problem.message


def test_duplicates() -> None:
    second = CONFIG[CONFIG.index("vrrp_instance") : CONFIG.index("virtual_server")]
    text = CONFIG + second
    codes = {(p.code, p.location.line) for p in lint(parse_text(text, "t.conf"))}
    assert ("duplicate-name", CONFIG.count("\n") + 1) in codes


@pytest.mark.parametrize(
    ("kind", "args", "expected"),
    [
        (values.Number(0, 10), ("",), None),  # strtoul reads an empty word as 0
        (values.Number(0, 10), (" 5",), None),
        (values.Number(0, 10), ("+5",), None),
        (values.Number(0, 10), ("5x",), "'5x' is not a whole number"),
        (values.Seconds("0", "10"), (".5",), None),
        (values.Seconds("0", "10"), ("5.",), None),
        (values.Seconds("0", "10"), ("1e3",), "'1e3' is not a number"),
        (values.Seconds("0", "10"), ("0.0000001",), "0.0000001 has more than 6 decimal places"),
        (values.Address(), ("fe80::1%eth0",), "'fe80::1%eth0' is not an IP address"),
        (values.Choice("TCP", ignore_case=True), ("tcp",), None),
    ],
)
def test_keepalived_number_quirks(
    kind: values.Kind, args: tuple[str, ...], expected: str | None
) -> None:
    assert kind.check(args) == expected
