"""lab up, down, status, exec: the whole cluster in namespaces on this machine."""

from __future__ import annotations

import argparse
import sys

from cluster.cli.common import Subcommands, add_command, positive, progress, seconds
from cluster.errors import UsageError
from cluster.lab.faults import KINDS as DIRECTOR_FAULTS
from cluster.lab.servers import FAULT_KINDS
from cluster.spec import ClusterSpec, load_spec
from cluster.spec.variants import LAYOUT_NAMES


def register(commands: Subcommands) -> None:
    lab = add_command(commands, "lab", None, "the whole cluster in namespaces on this machine")
    actions = lab.add_subparsers(dest="lab_command", metavar="ACTION", required=True)
    p = actions.add_parser(
        "up",
        help="boot (if needed) and build the lab; idempotent",
        description="Build one network namespace per host of the spec, plus clients, a router "
        "and the SMTP sink, in the first kernel of the chain that passes its self-test: the "
        "host's own if it has IPVS, else Debian's User-Mode Linux (pinned to one host CPU), "
        "else Debian's generic kernel in QEMU (software emulation, slower).",
    )
    p.add_argument(
        "spec",
        nargs="?",
        metavar="SPEC",
        help="cluster spec (YAML); default: the built-in seed cluster",
    )
    mode_argument(p)
    p.add_argument("--clients", type=positive, default=1, help="client nodes (default 1)")
    p.add_argument(
        "--machine",
        action="append",
        default=[],
        metavar="NODE",
        help="make NODE a machine of its own (systemd as PID 1, a disk, reboots) instead of "
        "a namespace; repeatable; on the uml or qemu kernel",
    )
    p.add_argument(
        "--spares",
        type=int,
        choices=range(10),
        default=0,
        metavar="N",
        help="real servers the spec does not name (realserver3 ...), to add to the cluster "
        "later (cluster realserver add ... --lab); default 0",
    )
    p.set_defaults(run=cmd_lab_up)
    p = actions.add_parser(
        "reboot",
        help="reboot a lab machine (systemctl reboot) and wait until its system is up",
    )
    p.add_argument("node", metavar="NODE", help="a node made a machine by lab up --machine")
    p.set_defaults(run=cmd_lab_reboot)
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
        help="inject a fault into a director or a real server, or clear it",
        description="Real servers: slow SECONDS answers after that delay; wrong-body sends "
        "another page (the digest differs); status CODE the right page with that status; "
        "down stops the server; clear serves normally. Directors (keepalived must run, see "
        "`lab keepalived`): dies kills keepalived and downs every link; stop is a graceful "
        "SIGTERM; vrrp-child kills the VRRP child; link-down IFACE pulls a cable; link-drop "
        "IFACE keeps the link up but drops everything; partition cuts the director off from "
        "its peers; deaf makes it drop its peers' packets (one way); clear undoes every "
        "fault on the director.",
    )
    kinds = sorted({*FAULT_KINDS, *DIRECTOR_FAULTS})
    p.add_argument("node", metavar="NODE", help="a real server or a director")
    p.add_argument("kind", choices=kinds, metavar="FAULT", help=", ".join(kinds))
    p.add_argument(
        "value", nargs="?", metavar="VALUE", help="seconds for slow, code for status, an interface"
    )
    p.set_defaults(run=cmd_lab_fault)
    p = actions.add_parser(
        "keepalived",
        help="keepalived only: start, reload or stop it on every director (no firewall)",
        description="keepalived only, without the sysctls and the firewall of `lab apply`: "
        "render each director's keepalived.conf from SPEC (and the variant options), check "
        "it with keepalived -t in the director's namespace, and (re)start it. A quick way to "
        "try a keepalived.conf; `lab apply` sets a director up as `cluster apply` does.",
    )
    p.add_argument("action", choices=["start", "reload", "stop"])
    spec_variant_arguments(p)
    p.set_defaults(run=cmd_lab_keepalived)
    p = actions.add_parser(
        "apply",
        help="run cluster apply inside each director (or --node ones)",
        description="Set up the lab's directors from SPEC with the product's own "
        "`cluster apply`, run inside each director's namespace with a file-system root of "
        "its own: sysctls, firewall, keepalived.conf and keepalived (and the IPVS table "
        "with ipvs: direct). Backups first. Where the lab's kernel has no nftables NAT (the "
        "uml kernel), the firewall back-end defaults to iptables.",
    )
    spec_variant_arguments(p)
    p.add_argument("--node", action="append", metavar="DIRECTOR", help="only this director")
    p.add_argument("--backend", choices=("nftables", "iptables"), help="firewall back-end")
    p.add_argument("--dry-run", action="store_true", help="print each plan, change nothing")
    p.set_defaults(run=cmd_lab_apply)
    p = actions.add_parser(
        "state", help="who holds each VIP, VRRP state per instance, the IPVS tables"
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=cmd_lab_state)
    p = actions.add_parser("mails", help="the mails the lab's SMTP sink received")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=cmd_lab_mails)


def mode_argument(parser: argparse.ArgumentParser) -> None:
    """``--mode``: which kernel the lab runs on (the same choice for lab up and bench lab)."""
    from cluster.lab.kernels import CHOICES

    parser.add_argument(
        "--mode",
        choices=CHOICES,
        help="auto (default, or LVS_LAB_MODE): the first of host, uml, qemu that passes "
        "its self-test",
    )


def cmd_lab_up(args: argparse.Namespace) -> int:
    from cluster.lab import Lab
    from cluster.lab.topology import as_machines, from_spec

    topology = from_spec(load_spec(args.spec), clients=args.clients, spares=args.spares)
    try:
        topology = as_machines(topology, args.machine)
    except ValueError as err:
        raise UsageError(str(err)) from None
    with Lab.up(topology, progress=progress, mode=args.mode) as lab:
        print(f"lab up ({lab.state.mode} mode): {', '.join(lab.nodes)}")
    return 0


def cmd_lab_reboot(args: argparse.Namespace) -> int:
    from cluster.lab import Lab

    with Lab() as lab:
        took = lab.reboot(args.node)
    print(f"{args.node} rebooted: agent back after {took['agent_s']} s, "
          f"system up after {took['up_s']} s")  # fmt: skip
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
    where = status["provenance"]
    pinned = where["lab"]["pinned_cpus"]
    print(
        f"{status['mode']} mode, kernel {status['kernel']}, guest user {status['guest_user']}"
        f"{f', pinned to host CPU {pinned[0]}' if pinned else ''}, pids {status['pids']}"
    )
    print(f"  host: {where['host']['os']}, kernel {where['host']['kernel']}, "
          f"{where['host']['cpu_model']} ({', '.join(where['host']['cpu_flags'])})")  # fmt: skip
    for verdict in where["lab"]["passed_over"]:
        print(f"  not {verdict['mode']}: {verdict['passed over'].splitlines()[0]}")
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
    from cluster.lab.faults import inject

    with Lab() as lab:
        print(inject(lab, args.node, args.kind, args.value))
    return 0


def spec_variant_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("spec", nargs="?", metavar="SPEC", help="cluster spec; default: the seed")
    p.add_argument(
        "--layout",
        choices=LAYOUT_NAMES,
        help="article: sync group, no tracked links (the 2007 config); split: neither; "
        "fixed: both (the seed's); watched: fixed plus a ping across each link",
    )
    p.add_argument("--advert-int", type=seconds, metavar="S", help="every instance's advert_int")
    p.add_argument("--vrrp-version", type=int, choices=[2, 3], help="every instance's version")
    p.add_argument("--subsecond", action="store_true", help="the preset: VRRPv3, advert_int 0.1")
    p.add_argument("--sync-daemon", action="store_true", help="add IPVS connection sync")


def _spec_variant(args: argparse.Namespace) -> ClusterSpec:
    from cluster.failover.bench import lab_variant

    advert, version = (0.1, 3) if args.subsecond else (args.advert_int, args.vrrp_version)
    return lab_variant(load_spec(args.spec), args.layout, advert, version, args.sync_daemon)


def cmd_lab_keepalived(args: argparse.Namespace) -> int:
    from cluster.lab import Lab, directors

    with Lab() as lab:
        if args.action == "start":
            for node, warnings in directors.start(lab, _spec_variant(args)).items():
                print(f"{node}: keepalived running{f' ({warnings})' if warnings else ''}")
        elif args.action == "stop":
            directors.stop(lab)
            print("keepalived stopped on every director")
        else:
            for director in directors.running_spec(lab).directors:
                directors.keepalived(lab, director.name).reload()
            print("keepalived reloaded on every director")
    return 0


def cmd_lab_apply(args: argparse.Namespace) -> int:
    from cluster.lab import Lab, directors

    spec = _spec_variant(args)
    with Lab() as lab:
        backend = ["--backend", args.backend] if args.backend else []
        options = [*backend, *(["--dry-run"] * args.dry_run)]
        failed = 0
        for node, result in directors.apply(lab, spec, args.node, tuple(options)).items():
            print(f"== {node} ==\n{result.stdout}", end="")
            sys.stderr.write(result.stderr)
            failed = failed or result.rc
    return failed


def cmd_lab_state(args: argparse.Namespace) -> int:
    import dataclasses
    import json

    from cluster.lab import Lab, directors
    from cluster.lab.faults import active

    with Lab() as lab:
        spec = directors.running_spec(lab)
        states = directors.state(lab, spec)
        holders = directors.holders(lab, spec)
        in_force = active(lab)
    if args.json:
        document = {
            "holders": holders,
            "directors": [dataclasses.asdict(s) for s in states],
            "faults": [dataclasses.asdict(f) for f in in_force],
        }
        print(json.dumps(document, indent=2))
        return 0
    instances = directors.floating(spec)
    for vip, owners in holders.items():
        verdict = "SPLIT BRAIN" if len(owners) > 1 else ("nobody" if not owners else "")
        print(f"{vip:16} {instances[vip]:14} held by {', '.join(owners) or '-'} {verdict}".rstrip())
    for state in states:
        running = "keepalived " + (
            " ".join(f"{role} {pid}" for role, pid in state.pids.items()) or "not running"
        )
        vrrp = ", ".join(f"{name} {st}" for name, st in state.vrrp.items()) or "no VRRP events"
        print(f"\n{state.name}: {running}; {vrrp}")
        print("".join(f"    {line}\n" for line in state.ipvs.splitlines()), end="")
    for fault in in_force:
        print(f"fault in force: {fault.describe()}")
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
