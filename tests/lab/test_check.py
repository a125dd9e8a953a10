"""``cluster check`` in the lab catches every fault a real server can inject, with its reason.

The real CLI runs in director01, the way an operator runs it on a director, against the seed
spec with its timing shortened (connect_timeout 1 s, one retry 0.2 s later) so that a fault
costs seconds rather than the seed's minute. realserver2 is faulted: it has the seed's
HTTP_GET and SSL_GET; realserver1's TCP_CHECK stays up throughout.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from cluster.lab import Lab
from cluster.lab.servers import WRONG_PAGE, response
from cluster.lab.topology import seed_topology
from cluster.probes.digest import parse_response
from cluster.spec import load_seed_spec
from cluster.spec.load import dump_spec

TOPO = seed_topology()
DIRECTOR = TOPO.by_role("director")[0].name
HEALTHY, FAULTY = (rs.address for rs in TOPO.by_role("realserver"))
FAULTY_NODE = TOPO.by_role("realserver")[1].name
SEED = load_seed_spec()
DIGEST = next(u.digest for vs in SEED.virtual_services for rs in vs.real_servers
              if rs.check for u in rs.check.urls)  # fmt: skip
WRONG_DIGEST = parse_response(response(FAULTY_NODE, 200, WRONG_PAGE)).digest
TIMING = {"connect_timeout": 1, "retry": 1, "delay_before_retry": 0.2}


def quick_spec() -> str:
    """The seed spec with every check's timing shortened, as YAML."""
    services = [
        vs.model_copy(update={"real_servers": [
            rs.model_copy(update={"check": rs.check.model_copy(update=TIMING)})
            if rs.check else rs
            for rs in vs.real_servers
        ]})
        for vs in SEED.virtual_services
    ]  # fmt: skip
    return dump_spec(SEED.model_copy(update={"virtual_services": services}))


@pytest.fixture(scope="module")
def spec(lab: Lab) -> str:
    """The quick spec in the lab's share, written from inside so the guest sees it at once."""
    path = str(lab.paths.share / "check" / "quick.yaml")
    lab.write_file(DIRECTOR, path, quick_spec())
    return path


@pytest.fixture
def faulty(lab: Lab) -> Iterator[str]:
    """realserver2 for a fault case, served normally again afterwards."""
    yield FAULTY_NODE
    lab.fault(FAULTY_NODE, "clear")
    assert lab.faults()[FAULTY_NODE] == "clear"


def check(lab: Lab, spec: str) -> tuple[int, dict[tuple[str, str], dict[str, Any]]]:
    """``cluster check --json`` on the director: its exit code and verdicts by (check, server)."""
    result = lab.run_cluster(DIRECTOR, "check", "--json", spec, timeout=120)
    assert result.rc in (0, 1), f"exit {result.rc}: {result.stderr}"
    verdicts = json.loads(result.stdout)
    return result.rc, {(v["check"], v["server"]): v for v in verdicts}


def test_all_up_exits_0(lab: Lab, spec: str) -> None:
    rc, verdicts = check(lab, spec)
    assert rc == 0
    assert {key: (v["up"], v["reason"]) for key, v in verdicts.items()} == {
        ("TCP_CHECK", f"{HEALTHY}:80"): (True, "ok"),
        ("HTTP_GET", f"{FAULTY}:80"): (True, "ok"),
        ("SSL_GET", f"{FAULTY}:443"): (True, "ok"),
    }


@pytest.mark.parametrize(
    ("fault", "value", "reason"),
    [
        ("down", None, "refused"),
        ("slow", 3, "timeout after 1 s waiting for data (0 bytes in)"),
        ("wrong-body", None, f"digest mismatch: expected {DIGEST}, got {WRONG_DIGEST}"),
        ("status", 503, "status 503 not in 200-299"),
    ],
)
def test_each_fault_is_caught_with_its_reason(
    lab: Lab, spec: str, faulty: str, fault: str, value: int | None, reason: str
) -> None:
    lab.fault(faulty, fault, value)
    rc, verdicts = check(lab, spec)
    assert rc == 1
    assert verdicts[("TCP_CHECK", f"{HEALTHY}:80")]["up"] is True
    for key in [("HTTP_GET", f"{FAULTY}:80"), ("SSL_GET", f"{FAULTY}:443")]:
        verdict = verdicts[key]
        assert (verdict["up"], verdict["reason"], verdict["attempts"]) == (False, reason, 2), key


def test_the_table_prints_the_reason(lab: Lab, spec: str, faulty: str) -> None:
    lab.fault(faulty, "status", 503)
    result = lab.run_cluster(DIRECTOR, "check", "--server", FAULTY, spec, timeout=120)
    assert result.rc == 1
    assert result.stdout.count("DOWN") == 2 and "status 503 not in" in result.stdout
