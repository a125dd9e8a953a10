"""lab up, down, status, exec: the whole cluster in namespaces on this machine."""

from __future__ import annotations

import argparse
import sys

from cluster.cli.common import Subcommands, add_command, positive, progress
from cluster.errors import UsageError
from cluster.lab.servers import FAULT_KINDS
from cluster.spec import load_spec


def register(commands: Subcommands) -> None:
    lab = add_command(commands, "lab", None, "the whole cluster in namespaces on this machine")
    actions = lab.add_subparsers(dest="lab_command", metavar="ACTION", required=True)
    p = actions.add_parser(
        "up",
        help="boot (if needed) and build the lab; idempotent",
        description="Build one network namespace per host of the spec, plus clients, a router "
        "and the SMTP sink, in the host kernel if it has IPVS, else in a User-Mode Linux guest.",
    )
    p.add_argument(
        "spec",
        nargs="?",
        metavar="SPEC",
        help="cluster spec (YAML); default: the built-in seed cluster",
    )
    p.add_argument(
        "--mode",
        choices=["auto", "host", "guest"],
        default="auto",
        help="auto (default): host namespaces when the host kernel has IPVS",
    )
    p.add_argument("--clients", type=positive, default=1, help="client nodes (default 1)")
    p.set_defaults(run=cmd_lab_up)
    p = actions.add_parser("down", help="remove everything the lab made, even after a crash")
    p.set_defaults(run=cmd_lab_down)
    p = actions.add_parser("status", help="nodes, interfaces, addresses and services")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=cmd_lab_status)
    p = actions.add_parser("exec", help="run a command on a node: lab exec NODE -- CMD ...")
    p.add_argument("node", metavar="NODE")
    p.add_argument("argv", nargs=argparse.REMAINDER, metavar="-- CMD")
    p.add_argument("--timeout", type=float, default=60, help="seconds (default 60)")
    p.set_defaults(run=cmd_lab_exec)
    p = actions.add_parser(
        "fault",
        help="make a real server slow, wrong or down, or clear that",
        description="Set a real server's fault; it applies from the next request and replaces "
        "the one before. slow SECONDS: answer only after that delay; wrong-body: another page "
        "(the digest differs); status CODE: the right page with that status; down: stop the "
        "server (connections are refused); clear: serve normally (and start it if down).",
    )
    p.add_argument("node", metavar="NODE", help="a real server, e.g. realserver1")
    p.add_argument("kind", choices=FAULT_KINDS, metavar="FAULT", help=", ".join(FAULT_KINDS))
    p.add_argument("value", nargs="?", metavar="VALUE", help="seconds for slow, code for status")
    p.set_defaults(run=cmd_lab_fault)
    p = actions.add_parser("mails", help="the mails the lab's SMTP sink received")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=cmd_lab_mails)


def cmd_lab_up(args: argparse.Namespace) -> int:
    from cluster.lab import Lab
    from cluster.lab.topology import from_spec

    topology = from_spec(load_spec(args.spec), clients=args.clients)
    with Lab.up(topology, progress=progress, mode=args.mode) as lab:
        print(f"lab up ({lab.state.mode} mode): {', '.join(lab.nodes)}")
    return 0


def cmd_lab_down(args: argparse.Namespace) -> int:
    from cluster.lab import Lab

    print("lab down" if Lab.down(progress=progress) else "no lab was running")
    return 0


def cmd_lab_status(args: argparse.Namespace) -> int:
    import json

    from cluster.lab import Lab

    with Lab() as lab:
        status = lab.status()
    if args.json:
        print(json.dumps(status, indent=2))
        return 0
    print(
        f"{status['mode']} mode, kernel {status['kernel']}, guest user {status['guest_user']}, "
        f"pids {status['pids']}"
    )
    for node, links in status["nodes"].items():
        shown = [
            f"{name} {' '.join(v['addresses']) or '-'}" for name, v in links.items() if name != "lo"
        ]
        print(f"  {node:12} {'; '.join(shown)}")
    for node, server in status["servers"].items():
        state = f"pid {server['pid']}" if server["pid"] else "stopped"
        fault = f", fault: {server['fault']}" if server["role"] == "realserver" else ""
        print(f"  {node:12} {server['role']} server {state}{fault}")
    print(f"  SMTP sink: {status['mails']} mails (cluster lab mails)")
    for svc in status["services"]:
        state = "running" if svc["returncode"] is None else f"exited {svc['returncode']}"
        print(f"  pid {svc['pid']} on {svc['ns']}: {' '.join(svc['argv'])} ({state})")
    return 0


def cmd_lab_fault(args: argparse.Namespace) -> int:
    from cluster.lab import Lab

    with Lab() as lab:
        fault = lab.fault(args.node, args.kind, args.value)
    print(f"{args.node}: {fault.describe()}")
    return 0


def cmd_lab_mails(args: argparse.Namespace) -> int:
    import dataclasses
    import json
    import time

    from cluster.lab import Lab

    with Lab() as lab:
        mails = lab.mails()
    if args.json:
        print(json.dumps([dataclasses.asdict(m) for m in mails], indent=2))
        return 0
    for mail in mails:
        when = time.strftime("%H:%M:%S", time.localtime(mail.time))
        print(f"{when} from {mail.sender or '<>'} to {', '.join(mail.recipients)}: {mail.subject}")
        print("".join(f"    {line}\n" for line in mail.body.splitlines()), end="")
    return 0


def cmd_lab_exec(args: argparse.Namespace) -> int:
    from cluster.lab import Lab

    argv = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
    if not argv:
        raise UsageError("lab exec needs a command: cluster lab exec NODE -- CMD ...")
    with Lab() as lab:
        result = lab.run(args.node, *argv, timeout=args.timeout)
    sys.stdout.write(result.stdout)
    sys.stderr.write(result.stderr)
    return result.rc
