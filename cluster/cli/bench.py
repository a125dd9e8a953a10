"""bench: timed runs that write JSON results; speed targets live here, never in tests."""

from __future__ import annotations

import argparse
from pathlib import Path

from cluster.cli.common import Subcommands, add_command, positive, progress, write_json


def register(commands: Subcommands) -> None:
    bench = add_command(commands, "bench", None, "benchmarks that write JSON results")
    kinds = bench.add_subparsers(dest="benchmark", metavar="BENCHMARK", required=True)
    p = kinds.add_parser(
        "check",
        help="time one round of TCP_CHECK and HTTP_GET against loopback endpoints",
        description="Time one round of TCP_CHECKs, then one of HTTP_GETs with a digest, "
        "against loopback listeners on 127.0.1.x served by a child process.",
    )
    p.add_argument("--endpoints", type=positive, default=2000, help="default 2000")
    p.add_argument("--ports-per-ip", type=positive, default=100, help="default 100")
    p.add_argument("-o", "--output", type=Path, help="JSON file (default: stdout)")
    p.set_defaults(run=cmd_bench_check)
    p = kinds.add_parser(
        "lab",
        help="time lab up (guest boot included) and the lab agent's round trips",
        description="Take any lab down, time `lab up` from nothing, then time the agent's "
        "round trips: a ping, a trivial command, and netlink dumps in a lab namespace. "
        "Leaves the lab up. Needs root.",
    )
    p.add_argument("--mode", choices=["auto", "host", "guest"], default="auto")
    p.add_argument("-n", type=positive, default=30, help="round trips of each kind (default 30)")
    p.add_argument("-o", "--output", type=Path, help="JSON file (default: stdout)")
    p.set_defaults(run=cmd_bench_lab)


def cmd_bench_check(args: argparse.Namespace) -> int:
    from cluster.bench.check import run

    write_json(run(args.endpoints, args.ports_per_ip), args.output)
    return 0


def cmd_bench_lab(args: argparse.Namespace) -> int:
    from cluster.bench.lab import bench_lab

    write_json(bench_lab(args.mode, progress, args.n), args.output)
    return 0
