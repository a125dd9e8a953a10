"""Every ``cluster bench`` command on the lab, small: each writes its JSON (with where it ran)
and its charts, and what it measures holds: every request counted from ab, IPVS and the
real servers; each sweep run exactly as the scheduler model predicts; ``bench compare``
quiet on two runs of the same code and loud on a slowed real server.

Speed targets live in the benchmarks' JSON, never here. The commands run as a user runs
them (``python -m cluster bench ...``), with this shell's ``LVS_LAB_*`` settings.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from cluster.failover.bench import lab_variant
from cluster.lab import Lab, directors
from cluster.spec import load_seed_spec

SPEC = lab_variant(load_seed_spec(), None, 1, 3)  # VRRPv3, advert_int 1: settles in seconds
LOAD = ["load", "-n", "60", "-c", "10", "--trials", "3"]


def bench(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "cluster", "bench", *args],
        capture_output=True, text=True, timeout=900, env=os.environ, check=False,
    )  # fmt: skip
    if check:
        assert done.returncode == 0, done.stderr[-2000:]
    return done


def written(path: Path) -> dict[str, Any]:
    document = json.loads(path.read_text())
    assert document["provenance"]["lab"]["mode"] in ("host", "uml", "qemu")
    return dict(document)


def charts(prefix: Path, *names: str) -> None:
    for name in names:
        for suffix in (".png", ".svg"):
            path = prefix.with_name(f"{prefix.name}-{name}{suffix}")
            assert path.stat().st_size > 1000, path


@pytest.fixture(scope="module")
def cluster(lab: Lab) -> Lab:
    for node, result in directors.apply(lab, SPEC).items():
        assert result.ok, f"{node}: {result.stderr}"
    directors.wait_for_master(lab, SPEC, "director01")
    deadline = time.monotonic() + 60  # keepalived's checkers add the real servers
    while not lab.run("client1", "curl", "-sf", "-m", "1", "-o", "/dev/null",
                      "http://192.168.0.174/").ok:  # fmt: skip
        assert time.monotonic() < deadline, "the VIP never served"
        time.sleep(1)
    return lab


@pytest.fixture(scope="module")
def first_load(cluster: Lab, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("load") / "a.json"
    # a throwaway run first: the first requests after the set-up are slower (keepalived's
    # checkers and ARP settling), and compare's "same code" run must meet the same lab
    bench("load", "-n", "60", "-c", "10", "-o", str(out))
    bench(*LOAD, "-o", str(out), "--chart", str(out.with_suffix("")))
    return out


def test_load_counts_every_request_from_ab_ipvs_and_the_real_servers(first_load: Path) -> None:
    doc = written(first_load)
    assert (doc["complete"], doc["failed"]) == (180, 0)
    for trial in doc["runs"]:
        assert sum(trial["server_requests"].values()) == trial["complete"] == 60
        # each connection IPVS scheduled has a fate: a request, none, or never accepted
        assert sum(trial["fates"].values()) == sum(trial["ipvs_connections"].values())
        assert set(trial["latency_ms"]) == {"p50", "p90", "p99", "max"}
        assert len(trial["percentiles_ms"]) == 101 and trial["explained"]
    # rr over two servers: IPVS's connections split as the model spreads them
    assert sorted(doc["ipvs_split"].values(), reverse=True) == doc["model"]["counts"]
    charts(first_load.with_suffix(""), "split", "latency")


def test_sweep_runs_exactly_as_the_scheduler_model_predicts(cluster: Lab, tmp_path: Path) -> None:
    out = tmp_path / "sweep.json"
    bench("load", "--sweep", "--connections", "12", "-o", str(out), "--chart", str(tmp_path / "s"))
    doc = written(out)
    runs = {run["name"]: run for run in doc["runs"]}
    assert {"rr 1:1", "wrr 1:2", "wrr 3:1", "lc 1:1", "wlc 3:1", "sh 1:1", "mh 1:2"} <= set(runs)
    assert any(run["persistence_s"] for run in doc["runs"])
    wrong = {n: (r["mismatches"][:3], r.get("counters")) for n, r in runs.items() if not r["exact"]}
    assert not wrong
    assert runs["wrr 3:1"]["measured_split"] == runs["wrr 3:1"]["predicted_split"]
    assert runs["lc 1:1"]["counters"]["measured"] == runs["lc 1:1"]["counters"]["predicted"]
    charts(tmp_path / "s", "split")


def test_compare_is_quiet_on_the_same_code_and_flags_a_slowed_real_server(
    cluster: Lab, first_load: Path, tmp_path: Path
) -> None:
    again, slowed = tmp_path / "b.json", tmp_path / "slow.json"
    bench(*LOAD, "-o", str(again))
    same = bench("compare", str(first_load), str(again), check=False)
    assert same.returncode == 0, same.stdout
    assert "nothing changed beyond the noise" in same.stdout
    cluster.fault("realserver1", "slow", 0.25)
    try:
        bench(*LOAD, "-o", str(slowed))
    finally:
        cluster.fault("realserver1", "clear")
    worse = bench("compare", str(first_load), str(slowed), check=False)
    assert worse.returncode == 1, worse.stdout
    # half the answers wait 250 ms: their latency leaves the noise on any host; requests/s
    # does too on a quiet one, but not always beside a busy neighbour, so it is not asserted
    assert "latency p90 ms (worse)" in worse.stdout, worse.stdout


def test_failover_writes_trials_and_charts(cluster: Lab, tmp_path: Path) -> None:
    out = tmp_path / "stop.json"
    bench("failover", "--scenario", "stop", "--advert-int", "1", "--trials", "2", "-o", str(out))
    doc = written(out)
    assert len(doc["trials"]) == 2 and doc["trials"][0]["samples"]
    prefix = tmp_path / "failover"
    bench("failover", "--chart", str(out), "-o", str(prefix))
    for name in ("failover.png", "failover.svg", "failover-timeline-1.png"):
        assert (tmp_path / name).stat().st_size > 1000


def test_ipvs_scale_small_in_a_lab_node(cluster: Lab, tmp_path: Path) -> None:
    """In the router's namespace: the benchmark clears the IPVS table where it runs."""
    out = tmp_path / "ipvs.json"
    bench("ipvs", "--node", "router", "--sizes", "50,200", "--repeat", "1", "-o", str(out),
          "--chart", str(tmp_path / "ipvs"))  # fmt: skip
    doc = written(out)
    assert [size["services"] for size in doc["sizes"]] == [50, 200]
    for size in doc["sizes"]:
        assert size["other_entries_unchanged"]
        assert size["runs"][0]["cycle_plan"]  # the cycle set the weight back
        phases = {"start_s", "parse_s", "read_and_plan_s", "plan_text_s", "apply_s"}
        assert set(size["process_phases_s"]) == phases
    charts(tmp_path / "ipvs", "scale")


def test_check_and_lab_write_their_json(cluster: Lab, tmp_path: Path) -> None:
    """Last: ``bench lab`` takes the lab down and builds it again."""
    check = tmp_path / "check.json"
    bench("check", "--lab", "--endpoints", "100", "-o", str(check))
    assert {r["kind"] for r in written(check)["rounds"]} == {"TCP_CHECK", "HTTP_GET"}
    cluster.close()
    lab = tmp_path / "lab.json"
    bench("lab", "-n", "5", "-o", str(lab))
    doc = written(lab)
    assert len(doc["agent_ping"]["samples_ms"]) == 5 and doc["lab_up_s"] > 0
