"""keepalived.conf rendering: what differs between directors, modern syntax, keepalived -t."""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest

from cluster.errors import UsageError
from cluster.keepalived.process import check_config
from cluster.keepalived.render import render_keepalived_conf
from cluster.spec import ClusterSpec, load_seed_spec, load_spec
from cluster.spec.load import DUAL_STACK_PATH

EVERYTHING = Path(__file__).parent / "data" / "specs" / "everything.yaml"


def changed_lines(a: str, b: str) -> list[str]:
    diff = difflib.unified_diff(a.splitlines(), b.splitlines(), lineterm="", n=0)
    return [line for line in diff if line[:1] in "+-" and line[:3] not in ("+++", "---")]


def test_directors_differ_only_in_state_router_id_and_priority() -> None:
    spec = load_seed_spec()
    one, two = (render_keepalived_conf(spec, d.name) for d in spec.directors)
    changed = {line[1:].strip().split()[0] for line in changed_lines(one, two)}
    assert changed == {"!", "state", "router_id", "priority"}
    assert "state MASTER" in one and "state MASTER" not in two


def test_modern_keywords_only() -> None:
    conf = render_keepalived_conf(load_seed_spec(), "director01")
    words = {line.split()[0] for line in conf.splitlines() if line.strip()}
    assert not words & {"nb_get_retry", "nat_mask", "lb_algo", "lb_kind", "auth_type"}
    assert {"retry", "lvs_sched", "lvs_method", "enable_script_security", "script_user"} <= words
    # Every block the renderer opens is closed: the 2007 article's missing brace cannot recur.
    assert conf.count("{") == conf.count("}")


def test_direct_mode_leaves_ipvs_to_cluster_apply() -> None:
    spec = load_seed_spec().model_copy(update={"ipvs": "direct"})
    conf = render_keepalived_conf(spec, "director01")
    assert "virtual_server" not in conf and "vrrp_instance VI_EXTERNAL" in conf


def test_unknown_director_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="use one of director01, director02"):
        render_keepalived_conf(load_seed_spec(), "director03")


def test_features_render_to_their_keywords() -> None:
    conf = render_keepalived_conf(load_spec(EVERYTHING), "lb-b")
    for expected in [
        "virtual_server fwmark 7 {",
        "  real_server 203.0.113.40 {",
        "  mh-fallback",
        "  lvs_method TUN",
        "  persistence_granularity 255.255.255.0",
        "  advert_int 0.1\n  version 3",
        '  notify_master "/bin/true master"',
        "    auth_pass s3cret",
        "  nopreempt",
        "        status_code 200",
        "    enable_sni",
        "virtual_server 2001:db8:1::10 443 {",
        "  unicast_peer {\n    10.1.0.2\n  }",  # lb-a's own address, left out of lb-a's file
    ]:
        assert expected in conf
    assert "unicast_src_ip" not in conf  # lb-b names none: keepalived takes int0's address
    front6 = conf[conf.index("vrrp_instance FRONT6") :].splitlines()
    assert (front6[1].strip(), front6[4].strip()) == ("state MASTER", "priority 200")
    # nopreempt only works from BACKUP, so no director starts BACKUP's instance as MASTER.
    master_conf = render_keepalived_conf(load_spec(EVERYTHING), "lb-a")
    back = master_conf[master_conf.index("vrrp_instance BACK") :]
    assert back.splitlines()[1].strip() == "state BACKUP"


def test_ipv6_adverts_leave_from_the_listed_link_local_address() -> None:
    """VRRPv3 sends IPv6 adverts from a link-local address; the one the spec lists is the one
    the peer's firewall admits, so keepalived is told to use it (an interface has others)."""
    conf = render_keepalived_conf(load_spec(DUAL_STACK_PATH), "director02")
    sources = {
        block.split()[0]: [line.strip() for line in block.splitlines() if "src_ip" in line]
        for block in conf.split("vrrp_instance ")[1:]
    }
    assert sources == {
        "VI_EXTERNAL": [],
        "VI_INTERNAL": [],
        "VI_EXTERNAL6": ["mcast_src_ip fe80::176"],
        "VI_INTERNAL6": ["mcast_src_ip fe80::180"],
    }


@pytest.mark.parametrize(
    "spec",
    [load_seed_spec(), load_spec(EVERYTHING), load_spec(DUAL_STACK_PATH)],
    ids=["seed", "all", "dual-stack"],
)
def test_real_keepalived_accepts_every_rendered_config(
    spec: ClusterSpec, root_with_keepalived: None
) -> None:
    for director in spec.directors:
        result = check_config(
            render_keepalived_conf(spec, director.name), [i.name for i in director.interfaces]
        )
        assert (result.exit_code, result.output) == (0, ""), director.name


def test_real_keepalived_rejects_what_it_should(root_with_keepalived: None) -> None:
    """The check above could pass vacuously if keepalived -t never complained; it does."""
    result = check_config("vrrp_instance X {\n  interface eth0\n  nat_mask 1\n}\n", ["eth0"])
    assert result.exit_code == 5
    assert "(-: Line 3) Unknown keyword 'nat_mask'" in result.output
