"""``cluster ipvs`` against the real ipvsadm on the same kernel state, in the lab.

Our CLI runs inside the lab (the guest when the host lacks IPVS) next to ipvsadm 1.31, so
every comparison is byte for byte on one kernel's table: listings, counters after real
traffic, connections, save files, and tables we wrote through netlink read back by ipvsadm.
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cluster.ipvs.ipvsadm import format_save, parse_save
from cluster.lab import Lab, Result
from cluster.lab.topology import seed_topology
from cluster.spec.load import SEED_TEXT

TOPO = seed_topology()
VIP, DIP = TOPO.vip, TOPO.dip
CLIENT = TOPO.by_role("client")[0].name
DATA = Path(__file__).parent.parent / "data" / "ipvs"
RESTORE = "".join(
    line for line in (DATA / "table.restore").read_text().splitlines(True) if line[0] != "#"
)
SCRATCH, DIRECTOR = "director02", "director01"
VIEWS = ([], ["--stats"], ["--rate"], ["--thresholds"], ["--persistent-conn"],
         ["--stats", "--exact"])  # fmt: skip

Ours = Callable[..., Result]


@pytest.fixture(scope="module")
def ours(lab: Lab, request: pytest.FixtureRequest) -> Ours:
    """Run ``cluster`` on a lab node with the interpreter and path the lab's agent uses."""
    # tests/conftest.py's require() (skip here, fail in CI); this directory has its own
    # conftest module, so the shared one is reached through pytest rather than an import
    shared = request.config.pluginmanager.get_plugin(str(Path(__file__).parents[1] / "conftest.py"))
    shared.require(shutil.which("ipvsadm") is not None, "ipvsadm is not installed")

    def run(node: str, *args: str, input: str | None = None) -> Result:
        return lab.run_cluster(node, *args, input=input, timeout=120)

    return run


@pytest.fixture
def scratch(lab: Lab) -> Iterator[str]:
    lab.run(SCRATCH, "ipvsadm", "-C").check()
    yield SCRATCH
    lab.run(SCRATCH, "ipvsadm", "-C")


def test_list_and_save_equal_ipvsadm_on_every_kind_of_service(
    lab: Lab, ours: Ours, scratch: str
) -> None:
    lab.run(scratch, "ipvsadm-restore", input=RESTORE).check()
    for view in VIEWS:
        theirs = lab.run(scratch, "ipvsadm", "-Ln", *view).check().stdout
        assert ours(scratch, "ipvs", "list", *view).check().stdout == theirs, view
    theirs = lab.run(scratch, "ipvsadm-save", "-n").check().stdout
    assert ours(scratch, "ipvs", "save").check().stdout == theirs


def test_restore_writes_every_setting_through_netlink(lab: Lab, ours: Ours, scratch: str) -> None:
    """What we program, ipvsadm reads back as the same table (NAT included, not DR)."""
    result = ours(scratch, "ipvs", "restore", input=RESTORE).check()
    assert "applied" in result.stderr
    expected = format_save(parse_save(RESTORE))
    assert lab.run(scratch, "ipvsadm-save", "-n").check().stdout == expected
    assert "Masq" in lab.run(scratch, "ipvsadm", "-Ln").stdout
    again = ours(scratch, "ipvs", "restore", input=RESTORE).check()
    assert again.stdout == "no changes\n" and "applied" not in again.stderr


def test_weight_change_is_one_set_and_nothing_else(lab: Lab, ours: Ours, scratch: str) -> None:
    ours(scratch, "ipvs", "apply", "--node", "director01").check()
    lab.run(scratch, "ipvsadm", "-A", "-u", "192.0.2.99:53", "-s", "rr").check()  # not ours
    lab.run(scratch, "ipvsadm", "-e", "-t", f"{VIP}:80", "-r", "192.168.170.25:80", "-m",
            "-w", "4").check()  # fmt: skip
    plan = ours(scratch, "ipvs", "plan", "--node", "director01").check().stdout
    assert plan == f"  TCP {VIP}:80 rr\n~   -> 192.168.170.25:80 weight 4 -> 1\n"
    result = ours(scratch, "ipvs", "apply", "--node", "director01").check()
    assert "applied 1 changes" in result.stderr
    listing = lab.run(scratch, "ipvsadm", "-Ln").check().stdout
    assert "UDP  192.0.2.99:53 rr" in listing  # someone else's service is untouched
    assert ours(scratch, "ipvs", "plan", "--node", "director01").stdout == "no changes\n"
    pruned = ours(scratch, "ipvs", "apply", "--node", "director01", "--prune").check()
    assert pruned.stdout == "- UDP 192.0.2.99:53 rr\n"
    assert "192.0.2.99" not in lab.run(scratch, "ipvsadm", "-Ln").stdout


def test_a_refused_change_names_its_step(lab: Lab, ours: Ours, scratch: str) -> None:
    spec = Path(lab.paths.share) / "twos.yaml"
    spec.write_text(SEED_TEXT.replace("scheduler: rr", "scheduler: twos", 1))
    result = ours(scratch, "ipvs", "apply", str(spec), "--node", "director01")
    assert result.rc == 7
    assert result.stderr.startswith(f"cluster: add service TCP {VIP}:80 twos: ")
    assert lab.run(scratch, "ipvsadm", "-Ln").stdout.count("TCP") == 0


@pytest.fixture
def serving(lab: Lab, ours: Ours) -> Iterator[str]:
    """director01 holds the VIP and DIP, and the seed's services run through our netlink to
    the lab's real servers, which name themselves in the X-Real-Server header."""
    for node, address in ((DIRECTOR, f"{VIP}/24"), (DIRECTOR, f"{DIP}/24")):
        dev = "eth0" if address.startswith(VIP) else "eth1"
        lab.run(node, "ip", "addr", "add", address, "dev", dev).check()
    try:
        ours(DIRECTOR, "ipvs", "apply", "--node", DIRECTOR).check()
        yield DIRECTOR
    finally:
        lab.run(DIRECTOR, "ipvsadm", "-C")
        lab.run(DIRECTOR, "ip", "addr", "del", f"{VIP}/24", "dev", "eth0")
        lab.run(DIRECTOR, "ip", "addr", "del", f"{DIP}/24", "dev", "eth1")


def _wait_for(ready: Callable[[], object], timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def _settled(read: Callable[[], str], timeout: float = 15) -> str:
    """``read()`` once a whole 2 s fold has passed without changing it: the connections are
    counted before their last packets (the closing ACKs), which a later fold adds."""
    deadline, last = time.monotonic() + timeout, None
    while (now := read()) != last:
        assert time.monotonic() < deadline, "the counters never settled"
        last = now
        time.sleep(2.5)
    return now


def _layout(text: str) -> list[str]:
    """The text with every right-aligned number blanked to its field width."""
    return [re.sub(r" *\d+", lambda m: "#" * len(m.group()), line) for line in text.splitlines()]


def _numbers(text: str) -> list[list[int]]:
    return [[int(n) for n in re.findall(r"\d+", line)] for line in text.splitlines()]


def _same_as_ipvsadm_around(lab: Lab, ours: Ours, node: str, args: list[str]) -> None:
    """Rates decay and connections expire between two commands, so ours must have ipvsadm's
    layout and every number between what ipvsadm printed just before and just after."""
    before = lab.run(node, "ipvsadm", "-Ln", *args).check().stdout
    mine = ours(node, "ipvs", "list", *args).check().stdout
    after = lab.run(node, "ipvsadm", "-Ln", *args).check().stdout
    assert _layout(mine) == _layout(before) == _layout(after), f"{before}\n{mine}"
    for b_line, m_line, a_line in zip(
        _numbers(before), _numbers(mine), _numbers(after), strict=True
    ):
        for b, m, a in zip(b_line, m_line, a_line, strict=True):
            assert min(b, a) <= m <= max(b, a), f"{before}\n{mine}\n{after}"


def test_counters_and_connections_after_real_traffic(lab: Lab, ours: Ours, serving: str) -> None:
    answers = [
        lab.run(CLIENT, "curl", "-sS", "-o", "/dev/null", "-D", "-", "--max-time", "3",
                f"http://{VIP}/").check().stdout
        for _ in range(6)
    ]  # fmt: skip
    names = [re.search(r"X-Real-Server: (\S+)", a).group(1) for a in answers]  # type: ignore[union-attr]
    assert sorted(set(names)) == ["realserver1", "realserver2"]
    # IPVS folds per-CPU counters into the totals every 2 s
    counted = re.compile(rf"TCP  {re.escape(VIP)}:80 +6 ")
    _wait_for(lambda: counted.search(lab.run(serving, "ipvsadm", "-Ln", "--stats").stdout))
    stats = _settled(lambda: lab.run(serving, "ipvsadm", "-Ln", "--stats").check().stdout)
    assert ours(serving, "ipvs", "list", "--stats").check().stdout == stats
    assert "InActConn" in ours(serving, "ipvs", "list").stdout
    assert "TIME_WAIT" in lab.run(serving, "ipvsadm", "-Lnc").stdout
    for args in ([], ["--rate"], ["-c"], ["--persistent-conn"]):
        _same_as_ipvsadm_around(lab, ours, serving, args)
    rates = _numbers(lab.run(serving, "ipvsadm", "-Ln", "--rate").stdout)
    assert any(any(line) for line in rates[3:]), "no rate left to compare; traffic too old"
