"""bench: timed runs that write JSON results; speed targets live here, never in tests."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from cluster.cli.common import (
    Subcommands,
    add_command,
    ip_address,
    positive,
    progress,
    seconds,
    write_json,
)
from cluster.cli.lab import mode_argument
from cluster.errors import LabError, UsageError
from cluster.lab.faults import KINDS as DIRECTOR_FAULTS
from cluster.spec.variants import LAYOUT_NAMES


def register(commands: Subcommands) -> None:
    bench = add_command(commands, "bench", None, "benchmarks that write JSON results")
    kinds = bench.add_subparsers(dest="benchmark", metavar="BENCHMARK", required=True)
    p = kinds.add_parser(
        "check",
        help="time one round of TCP_CHECK and HTTP_GET against loopback or lab endpoints",
        description="Time one round of TCP_CHECKs, then one of HTTP_GETs with a digest, "
        "against loopback listeners on 127.0.1.x served by a child process; with --lab, "
        "against listeners on the lab's real servers, checked from director01 (needs a "
        "running lab: cluster lab up).",
    )
    p.add_argument("--endpoints", type=positive, default=2000, help="default 2000")
    p.add_argument("--ports-per-ip", type=positive, default=100,
                   help="loopback listeners per address (default 100)")  # fmt: skip
    where = p.add_mutually_exclusive_group()
    where.add_argument("--lab", action="store_true", help="endpoints on the lab's real servers")
    where.add_argument(
        "--targets",
        nargs="+",
        type=target,
        metavar="IP:FIRST-LAST",
        help="check listeners that already run there instead (what --lab runs in director01)",
    )
    p.add_argument("-o", "--output", type=Path, help="JSON file (default: stdout)")
    p.set_defaults(run=cmd_bench_check)
    p = kinds.add_parser(
        "lab",
        help="time lab up (guest boot included) and the lab agent's round trips",
        description="Take any lab down, time `lab up` from nothing, then time the agent's "
        "round trips: a ping, a trivial command, and netlink dumps in a lab namespace. "
        "Leaves the lab up. Needs root.",
    )
    mode_argument(p)
    p.add_argument("-n", type=positive, default=30, help="round trips of each kind (default 30)")
    p.add_argument("-o", "--output", type=Path, help="JSON file (default: stdout)")
    p.set_defaults(run=cmd_bench_lab)
    p = kinds.add_parser(
        "reboot",
        help="time a director's reboot under systemd: away, peer master, back, master again",
        description="Take any lab down, bring it up with director01 as a machine of its own "
        "(systemd as PID 1, a disk that keeps its files), run cluster apply on both "
        "directors, then reboot director01 TRIALS times, timing until the peer is master, "
        "until the machine's agent and system are back and until it is master again, and "
        "whether cluster status is clean. Leaves the lab up. Needs root.",
    )
    p.add_argument("--trials", type=positive, default=3, help="reboots (default 3)")
    p.add_argument("-o", "--output", type=Path, help="JSON file (default: stdout)")
    p.set_defaults(run=cmd_bench_reboot)
    p = kinds.add_parser(
        "load",
        help="ab through the VIP from a lab client, counted from ab, IPVS and the real servers",
        description="Run ApacheBench in a lab client against URL (default: the running "
        "spec's first virtual service), by default the 2007 article's -c 30 -n 300. Each "
        "trial is counted from ab, from the VIP holder's IPVS counters and connection table, "
        "and from the real servers' access logs, and every difference between the counts is "
        "explained; requests/s and latency p50/p90/p99/max come from ab. Needs a lab with "
        "its directors set up (cluster lab apply).",
    )
    p.add_argument("url", nargs="?", metavar="URL", help="http://VIP[:PORT]/ or https://...")
    p.add_argument("-n", "--requests", type=positive, default=300, help="default 300")
    p.add_argument("-c", "--concurrency", type=positive, default=30, help="default 30")
    p.add_argument("-k", "--keepalive", action="store_true", help="ab -k: several requests "
                   "per connection")  # fmt: skip
    p.add_argument("--trials", type=positive, default=3, help="ab runs (default 3)")
    p.add_argument(
        "--sweep", action="store_true",
        help="instead of ab: rr and wrr at weights 1:1, 1:2, 3:1, lc, wlc, sh and mh over many "
        "client addresses, persistence; each run's connections beside the scheduler model's",
    )  # fmt: skip
    p.add_argument("--connections", type=positive, default=60, metavar="N",
                   help="with --sweep: connections per run (default 60)")  # fmt: skip
    p.add_argument("--client", default="client1", help="the lab node that runs ab")
    p.add_argument("--chart", type=Path, metavar="PREFIX", help="also draw PREFIX-*.png/.svg")
    p.add_argument("-o", "--output", type=Path, help="JSON file (default: stdout)")
    p.set_defaults(run=cmd_bench_load)
    p = kinds.add_parser(
        "compare",
        help="what changed between two results of one benchmark; exit 1 beyond the noise",
        description="Compare two JSON results of the same benchmark, A before B: each timed "
        "figure's median against the spread of its trials (flagged when the change is beyond "
        "it), and exact outcomes (splits, predictions, failed requests) for equality. Prints "
        "where each ran; exits 1 when anything changed beyond the noise, 0 when not.",
    )
    p.add_argument("a", type=Path, metavar="A", help="the earlier result (JSON)")
    p.add_argument("b", type=Path, metavar="B", help="the later result (JSON)")
    p.set_defaults(run=cmd_bench_compare)
    p = kinds.add_parser(
        "ipvs",
        help="load 1,000 to 50,000 services through netlink vs ipvsadm-restore",
        description="At each size, load N services x 4 real servers through our netlink path "
        "(in process, and as `cluster ipvs restore` with the interpreter's start) and through "
        "ipvsadm-restore; with the table loaded, time one weight change (checked against "
        "dumps before and after) and a full diff of the unchanged table. Also where the time "
        "goes: the process path's phases, the kernel's share, peak memory. Medians of "
        "--repeat runs. Clears the IPVS table where it runs: use --node to run it in a lab "
        "node.",
    )
    p.add_argument("--sizes", default="1000,10000,50000",
                   help="service counts (default 1000,10000,50000)")  # fmt: skip
    p.add_argument("--repeat", type=positive, default=1,
                   help="runs of each (default 1; 3 or more for bench compare)")  # fmt: skip
    p.add_argument("--node", metavar="NODE", help="run inside this node of the running lab")
    p.add_argument("--chart", type=Path, metavar="PREFIX", help="also draw PREFIX-*.png/.svg")
    p.add_argument("-o", "--output", type=Path, help="JSON file (default: stdout)")
    p.set_defaults(run=cmd_bench_ipvs)
    p = kinds.add_parser(
        "failover",
        help="fault the lab's directors N times; outage and VIP takeover against theory",
        description="With keepalived on both lab directors (the seed spec in the chosen "
        "variant), a client probe sends a request to the VIP every 10 ms while the fault "
        "strikes; each trial's raw samples, address changes and VRRP events go to the JSON "
        "file. --connections instead holds long-lived connections through the VIP while the "
        "master dies, with and without IPVS connection sync. --chart draws result files. "
        "Needs a running lab (cluster lab up).",
    )
    p.add_argument("--scenario", default="dies", choices=DIRECTOR_FAULTS, help="default dies")
    p.add_argument("--interface", metavar="IFACE", help="for link-down and link-drop")
    p.add_argument("--on", choices=["master", "backup"], default="master")
    p.add_argument("--layout", choices=LAYOUT_NAMES, default="fixed")
    p.add_argument("--advert-int", type=seconds, default=1.0, metavar="S", help="default 1")
    p.add_argument("--vrrp-version", type=int, choices=[2, 3], default=3, help="default 3")
    p.add_argument("--trials", type=positive, default=5, help="default 5")
    p.add_argument(
        "--family",
        type=int,
        choices=[4, 6],
        default=4,
        help="6: the dual-stack spec, the client probing its IPv6 VIP (default 4)",
    )
    p.add_argument("--connections", type=int, metavar="N", help="hold N connections instead")
    p.add_argument(
        "--cable-pull",
        nargs="+",
        choices=LAYOUT_NAMES,
        metavar="LAYOUT",
        help="the article's cable-pull table (and a silent drop, a partition) on each layout",
    )
    p.add_argument(
        "--chart",
        nargs="+",
        type=Path,
        metavar="JSON",
        help="draw these results (PNG and SVG) and print them as a Markdown table",
    )
    p.add_argument(
        "-o", "--output", type=Path, help="JSON file (default: out/failover/<scenario>.json)"
    )
    p.set_defaults(run=cmd_bench_failover)
    p = kinds.add_parser(
        "day2",
        help="day-2 operations under a client's load: failed requests, the handover's outage",
        description="In the lab (built or extended as needed: a third real server joins), "
        "with the seed cluster over VRRPv2, advert_int 1 and PASS auth: add a real server, "
        "change its weight, drain another (connections held across the weight-0 step), "
        "rotate the VRRP password, restart keepalived on the backup, then on the master, "
        "each through the plans `cluster op` runs and under a probe that sends a request to "
        "the VIP every 10 ms. Reports each operation's failed requests (target 0, but for "
        "the master's restart) and the graceful handover's outage against the backup's skew "
        "time + 0.1 s, with every raw sample, step and IPVS table.",
    )
    p.add_argument("--trials", type=positive, default=1, help="default 1")
    p.add_argument("-o", "--output", type=Path, help="JSON file (default: out/day2/day2.json); "
                   "the spec the operations change is written beside it (.yaml)")  # fmt: skip
    p.set_defaults(run=cmd_bench_day2)


def cmd_bench_compare(args: argparse.Namespace) -> int:
    from cluster.bench.compare import compare, report

    documents = []
    for path in (args.a, args.b):
        try:
            documents.append(json.loads(path.read_text()))
        except (OSError, json.JSONDecodeError) as err:
            raise UsageError(f"{path}: not a benchmark result ({err})") from None
    comparison = compare(*documents)
    sys.stdout.write(report(comparison, str(args.a), str(args.b)))
    return 1 if comparison.flagged else 0


def write_result(document: dict[str, Any], output: Path | None, chart: Path | None = None) -> None:
    """A benchmark's JSON, with where it ran (:mod:`cluster.provenance`); with ``chart``,
    its charts too (:mod:`cluster.bench.plot`), each saying where it ran."""
    from cluster.provenance import collect

    document = {**document, "provenance": collect()}
    write_json(document, output)
    if chart:
        from cluster.bench.plot import charts

        for path in charts(document, chart):
            progress(f"wrote {path}")


def cmd_bench_ipvs(args: argparse.Namespace) -> int:
    try:
        sizes = [int(n) for n in args.sizes.split(",")]
    except ValueError:
        sizes = []
    if not sizes or min(sizes) < 1:
        raise UsageError(f"--sizes {args.sizes!r}: want counts such as 1000,10000")
    if args.node:  # run this same command inside the lab node, where the kernel has IPVS
        from cluster.bench.ipvs import run_in_node
        from cluster.lab import Lab

        with Lab() as lab:
            argv = ["--sizes", args.sizes, "--repeat", str(args.repeat)]
            result = run_in_node(lab, args.node, argv, progress)
    else:
        from cluster.bench.ipvs import run

        result = run(sizes, args.repeat, progress)
    write_result(result, args.output, args.chart)
    return 0


def target(text: str) -> tuple[str, range]:
    """``IP:FIRST-LAST``: an address and the ports listening there, for ``--targets``."""
    from cluster.bench.listeners import port_range

    address, _, ports = text.rpartition(":")
    try:
        return ip_address(address), port_range(ports)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"invalid target {text!r}: {err}") from None


def cmd_bench_check(args: argparse.Namespace) -> int:
    from cluster.bench import check

    if args.targets:
        result = check.run_targets(args.targets, progress)
    elif args.lab:
        from cluster.lab import Lab

        with Lab() as lab:
            result = check.run_lab(lab, args.endpoints, progress)
    else:
        result = check.run(args.endpoints, args.ports_per_ip, progress)
    write_result(result, args.output)
    return 0


def cmd_bench_load(args: argparse.Namespace) -> int:
    from cluster.bench.load import load_test, vip_port
    from cluster.lab import Lab, directors

    with Lab() as lab:
        spec = directors.running_spec(lab)
        if not spec.virtual_services:
            raise UsageError("the running spec has no virtual service to load")
        first = spec.virtual_services[0]
        url = args.url or f"http://{first.address}:{first.port}/"
        vip, _ = vip_port(url)
        # right after an apply the pair may still be electing: give the spec's master the
        # time to take its VIPs (a load split across a VIP move counts nothing); a pair
        # that is in failover on purpose keeps its holder
        try:
            directors.wait_for_master(lab, spec, spec.master().name, timeout=15)
        except LabError:
            progress(f"{spec.master().name} does not hold every VIP; loading whoever holds {vip}")
        holders = directors.holders(lab, spec).get(vip, [])
        if len(holders) != 1:
            raise UsageError(f"{vip} is held by {holders or 'nobody'}; want one director")
        if args.sweep:
            from cluster.bench.load import run_sweep

            document = run_sweep(lab, holders[0], vip, args.client, args.connections, progress)
        else:
            progress(f"ab -n {args.requests} -c {args.concurrency}{' -k' * args.keepalive} "
                     f"{url} from {args.client}, {args.trials} trials")  # fmt: skip
            document = load_test(lab, url, holders[0], args.requests, args.concurrency,
                                 args.client, args.keepalive, args.trials, progress)  # fmt: skip
    if args.sweep:
        exact = sum(r["exact"] for r in document["runs"])
        progress(f"{exact} of {len(document['runs'])} runs exactly as the model predicts")
    else:
        progress(
            f"{document['complete']} requests, {document['failed']} failed; requests per real "
            f"server {document['split']}, IPVS connections {document['ipvs_split']}"
        )
    write_result(document, args.output, args.chart)
    return 0


def cmd_bench_lab(args: argparse.Namespace) -> int:
    from cluster.bench.lab import bench_lab

    write_result(bench_lab(args.mode, progress, args.n), args.output)
    return 0


def cmd_bench_reboot(args: argparse.Namespace) -> int:
    from cluster.bench.reboot import bench_reboot

    write_result(bench_reboot(progress, args.trials), args.output)
    return 0


def cmd_bench_failover(args: argparse.Namespace) -> int:
    if args.chart:
        from cluster.failover.outage import refresh
        from cluster.failover.plot import chart
        from cluster.failover.report import markdown

        documents = [json.loads(p.read_text()) for p in args.chart]
        documents = [refresh(d) if d.get("benchmark") == "failover" else d for d in documents]
        prefix = args.output or Path("out/failover/chart")
        for path in chart(documents, prefix.with_suffix("")):
            print(f"wrote {path}", file=sys.stderr)
        print(markdown(documents), end="")
        return 0
    from cluster.failover import bench
    from cluster.lab import Lab

    with Lab() as lab:
        if args.cable_pull:
            name = f"cable-pull-v{args.vrrp_version}-adv{args.advert_int:g}"
            result = bench.run_cable_table(lab, args.cable_pull, args.trials, args.advert_int,
                                           args.vrrp_version, progress)  # fmt: skip
        elif args.connections:
            name = f"connections-adv{args.advert_int:g}"
            result = bench.run_connections(
                lab, args.trials, args.connections, args.advert_int, progress
            )
        else:
            scenario = bench.Scenario(args.scenario, args.advert_int, args.vrrp_version,
                                      args.layout, args.interface, args.on,
                                      args.family)  # fmt: skip
            name = scenario.name
            result = bench.run(lab, scenario, args.trials, progress)
    from cluster.failover.report import markdown

    print(markdown([result]), end="")
    write_result(result, args.output or Path("out/failover") / f"{name}.json")
    return 0


def cmd_bench_day2(args: argparse.Namespace) -> int:
    from cluster.bench import day2
    from cluster.lab import Lab

    output = args.output or Path("out/day2/day2.json")
    with Lab.up(day2.topology(), progress=progress) as lab:
        result = day2.run(lab, args.trials, output.with_suffix(".yaml"), progress)
    for kind, entry in result["summary"].items():
        line = f"{kind:16} failed requests per trial {entry['failed']}, slow {entry['slow']}"
        if "handover_stats" in entry:
            stats = entry["handover_stats"]
            line += (
                f"; handover outage median {stats['median']} s (max {stats['max']} s, "
                f"target {entry['target_s']} s), failed {entry['handover_failed']}; "
                f"return outage {entry['return_outage_s']} s, failed {entry['return_failed']}"
            )
        print(line)
    write_result(result, output)
    return 0
