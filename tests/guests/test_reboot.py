"""A director that reboots: ``cluster apply`` under systemd, then ``systemctl reboot``.

director01 is a machine of its own (:mod:`cluster.lab.machine`): a guest whose PID 1 is the
host's systemd, on the lab's kernel, with a disk that keeps what it writes. Its peer, the
client, the router and the real servers are the lab's namespaces, linked to it by tunnels.
``cluster apply`` runs inside it as on a real director. Then it reboots, and what comes back
is judged by the kernel's state, by systemd, and by requests through the VIP: nothing is
applied again after the reboot.

The lab is one of its own (two guests: the lab's and the machine), so this module runs beside
tests/lab, at state directories beside the default lab's.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cluster.bench.load import load_test
from cluster.failover.bench import lab_variant
from cluster.lab import Lab, directors
from cluster.lab.machine import machine_paths
from cluster.lab.state import STATE_DIR, TMP_DIR, Paths
from cluster.lab.topology import as_machines, seed_topology
from cluster.spec import load_seed_spec

SPEC = lab_variant(load_seed_spec(), None, 1, 3)  # VRRPv3, advert_int 1: it settles in seconds
VIP = "192.168.0.174"
MACHINE, PEER = "director01", "director02"
PATHS = Paths(root=Path(f"{STATE_DIR}-reboot-test"), tmp=Path(f"{TMP_DIR}-reboot-test"))
UNITS = ("keepalived.service", "lvs-cluster-firewall.service", "lvs-cluster-vrrp-events.service")
BACKEND = ("--backend", "iptables")  # nftables reads back unlike its rendering (see the manual)
SYSCTLS = {"net.ipv4.ip_forward": "1"} | {
    f"net.ipv4.conf.{name}.send_redirects": "0" for name in ("all", "default", "eth0", "eth1")
}


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    handle = Lab.up(as_machines(seed_topology(), [MACHINE]), paths=PATHS)
    yield handle
    paths = machine_paths(PATHS, MACHINE)
    handle.close()
    Lab.down(PATHS)
    assert not paths.root.exists() and not paths.tmp.exists()


@pytest.fixture(scope="module")
def applied(lab: Lab) -> Lab:
    for node, result in directors.apply(lab, SPEC, options=BACKEND).items():
        assert result.rc == 0, f"{node}: {result.stderr}"
    directors.wait_for_master(lab, SPEC, MACHINE)
    return lab


def sh(lab: Lab, script: str) -> str:
    return lab.sh(MACHINE, script).check().stdout


def firewall(lab: Lab) -> str:
    """Every rule of filter and nat, as iptables lists them (no counters)."""
    return sh(lab, "iptables -t filter -S; iptables -t nat -S; ip6tables -t filter -S")


def sysctls(lab: Lab) -> dict[str, str]:
    return {key: sh(lab, f"sysctl -n {key}").strip() for key in SYSCTLS}


def units(lab: Lab, verb: str) -> list[str]:
    return lab.run(MACHINE, "systemctl", verb, *UNITS).stdout.split()


def test_apply_hands_keepalived_and_the_boot_to_systemd(applied: Lab) -> None:
    lab = applied
    assert units(lab, "is-active") == ["active", "inactive", "active"]  # the firewall: at boot
    assert units(lab, "is-enabled")[:2] == ["enabled", "enabled"]
    pid = sh(lab, "systemctl show -p MainPID --value keepalived.service").strip()
    argv = lab.read_text(MACHINE, f"/proc/{pid}/cmdline").split("\0")
    assert argv[-8:-1] == ["/etc/keepalived/keepalived.conf", "-p",
                           "/run/lvs-cluster/keepalived.pid", "-r", "/run/lvs-cluster/vrrp.pid",
                           "-c", "/run/lvs-cluster/checker.pid"]  # fmt: skip
    assert lab.read_text(MACHINE, "/etc/modules-load.d/lvs-cluster.conf").endswith(
        "ip_vs\nip_vs_rr\n"
    )
    assert "-A LVS-INPUT" in lab.read_text(MACHINE, "/etc/lvs-cluster/iptables.rules")
    result = directors.apply(lab, SPEC, [MACHINE], BACKEND)[MACHINE]  # nothing new
    assert result.rc == 0 and result.stdout.strip().endswith(f"{MACHINE}: no changes"), result
    # only the config changes: systemd reloads keepalived (SIGHUP), the same process runs on
    for spec in (lab_variant(load_seed_spec(), None, 2, 3), SPEC):
        result = directors.apply(lab, spec, [MACHINE], BACKEND)[MACHINE]
        assert result.rc == 0, result.stderr
        assert "==> keepalived reload (keepalived.service)" in result.stderr, result.stderr
        assert sh(lab, "systemctl show -p MainPID --value keepalived.service").strip() == pid


def test_a_failed_step_puts_the_units_back(applied: Lab) -> None:
    """``ipvs: direct`` needs keepalived with ``-P``: apply writes the drop-in, has systemd
    read it, then refuses to go on beside a keepalived that is not keepalived.service's. The
    drop-in is put back and read again, and keepalived runs on as it was."""
    lab = applied
    drop_in = "/etc/systemd/system/keepalived.service.d/lvs-cluster.conf"
    show = "systemctl show -p MainPID -p Environment keepalived.service"
    before = (lab.read_text(MACHINE, drop_in), sh(lab, show), firewall(lab))
    assert "-P" not in before[1]
    foreign = "/run/keepalived.pid"  # the distribution's pid file: PID 1 is alive, not ours
    lab.write_file(MACHINE, foreign, "1\n")
    try:
        direct = SPEC.model_copy(update={"ipvs": "direct"})
        result = directors.apply(lab, direct, [MACHINE], BACKEND)[MACHINE]
    finally:
        lab.run(MACHINE, "rm", "-f", foreign).check()
    assert result.rc == 7, result
    assert "==> keepalived.service ..." in result.stderr  # the new drop-in was in place
    assert "keepalived -t: another keepalived runs (pid 1" in result.stderr
    assert "rolled back" in result.stderr
    assert (lab.read_text(MACHINE, drop_in), sh(lab, show), firewall(lab)) == before


def test_after_a_reboot_the_director_serves_as_before(applied: Lab) -> None:
    lab = applied
    before = {"firewall": firewall(lab), "sysctls": sysctls(lab)}
    assert before["sysctls"] == SYSCTLS
    boot_id = lab.read_text(MACHINE, "/proc/sys/kernel/random/boot_id")
    peer_masters = masters(lab, PEER)
    started = time.monotonic()
    rebooting = lab.reboot(MACHINE)  # returns once the machine's system is up again
    directors.wait_for_master(lab, SPEC, MACHINE, timeout=60)
    print(f"reboot: {rebooting}, master again after {time.monotonic() - started:.1f} s")

    # the peer took over while the machine was away, and handed back when it returned
    assert masters(lab, PEER) == peer_masters + 1
    assert lab.read_text(MACHINE, "/proc/sys/kernel/random/boot_id") != boot_id
    assert units(lab, "is-active") == ["active"] * 3  # the firewall unit loaded the rules
    assert firewall(lab) == before["firewall"]
    assert sysctls(lab) == SYSCTLS
    # it runs before journald, which takes its lines from the kernel's log: no unit field
    journal = sh(lab, "journalctl -b -t systemd-modules-load --no-pager")
    for module in ("ip_vs", "ip_vs_rr"):
        assert f"Inserted module '{module}'" in journal, journal

    status = directors.status(lab, MACHINE, BACKEND)
    assert status.rc == 0, status.stdout + status.stderr
    assert "drift: none" in status.stdout
    assert "VI_EXTERNAL MASTER, VI_INTERNAL MASTER" in status.stdout
    assert "keepalived (keepalived.service): running" in status.stdout
    assert "VI_EXTERNAL BACKUP, VI_INTERNAL BACKUP" in directors.status(lab, PEER, BACKEND).stdout

    # the VIP serves through the rebooted director: IPVS there counts every connection
    result = load_test(lab, f"http://{VIP}/", MACHINE, requests=300)
    assert (result["complete"], result["failed"]) == (300, 0)
    assert result["split"] == {"192.168.170.25:80": 150, "192.168.170.35:80": 150}
    assert result["ipvs_split"] == result["split"]


def masters(lab: Lab, node: str) -> int:
    """How often ``node`` became master of the VIP's instance, by keepalived's own events."""
    events = directors.keepalived(lab, node).events()
    return sum(1 for e in events if (e.name, e.state) == ("VI_EXTERNAL", "MASTER"))
