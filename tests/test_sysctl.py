"""Director sysctls: the pure rendering, and applying them inside a namespace of our own."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator

import pytest
from needs import require

from cluster.errors import ToolError
from cluster.spec import ClusterSpec, load_seed_spec
from cluster.sysctl import apply_sysctls, director_sysctls, read_sysctls, render_sysctl_conf


def test_the_articles_settings_on_every_interface() -> None:
    values = director_sysctls(load_seed_spec(), "director02")
    assert values == {
        "net.ipv4.ip_forward": "1",
        "net.ipv4.conf.all.send_redirects": "0",
        "net.ipv4.conf.default.send_redirects": "0",
        "net.ipv4.conf.eth0.send_redirects": "0",
        "net.ipv4.conf.eth1.send_redirects": "0",
    }


def test_vlan_names_and_ipv6_nat() -> None:
    data = load_seed_spec().model_dump(mode="json")
    data["directors"][0]["interfaces"][1]["name"] = "eth1.170"
    data["directors"][0]["interfaces"][1]["addresses"].append("fd00:170::2/64")
    data["virtual_services"][0]["real_servers"].append({"address": "fd00:170::25"})
    spec = ClusterSpec.model_validate(data)
    values = director_sysctls(spec, "director01")
    assert values["net.ipv4.conf.eth1/170.send_redirects"] == "0"
    assert values["net.ipv6.conf.all.forwarding"] == "1"


def test_file_says_why() -> None:
    text = render_sysctl_conf(load_seed_spec(), "director01")
    assert "net.ipv4.conf.eth1.send_redirects = 0\n" in text
    assert text.count("# never tell") == 1 and "director01" in text.splitlines()[0]


@pytest.fixture
def netns() -> Iterator[str]:
    require(os.geteuid() == 0, "not root: network namespaces need root")
    name = f"fwtest-sysctl-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        for a, b in (("eth0", "peer0"), ("eth1", "peer1")):
            subprocess.run(
                ["ip", "-n", name, "link", "add", a, "type", "veth", "peer", "name", b], check=True
            )
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=True)


def test_apply_in_a_namespace_and_roll_back(netns: str) -> None:
    host_before = read_sysctls(["net.ipv4.ip_forward"])
    values = director_sysctls(load_seed_spec(), "director01")
    previous = apply_sysctls(values, netns)
    assert previous["net.ipv4.ip_forward"] == "0"
    assert previous["net.ipv4.conf.eth0.send_redirects"] == "1"
    assert read_sysctls(list(values), netns) == values
    apply_sysctls({k: v for k, v in previous.items() if v is not None}, netns)
    assert read_sysctls(list(values), netns) == previous
    assert read_sysctls(["net.ipv4.ip_forward"]) == host_before  # the host is not touched


def test_a_failing_setting_changes_nothing(netns: str) -> None:
    before = read_sysctls(["net.ipv4.ip_forward", "net.ipv4.conf.eth0.send_redirects"], netns)
    with pytest.raises(ToolError, match="eth7"):
        apply_sysctls(
            {
                "net.ipv4.ip_forward": "1",
                "net.ipv4.conf.eth0.send_redirects": "0",
                "net.ipv4.conf.eth7.send_redirects": "0",
            },
            netns,
        )
    assert read_sysctls(list(before), netns) == before
    assert read_sysctls(["net.ipv4.conf.eth7.send_redirects"], netns) == {
        "net.ipv4.conf.eth7.send_redirects": None
    }
