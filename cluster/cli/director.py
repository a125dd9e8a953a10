"""apply, status, firewall and sysctl: set up one director, judge it, or render its parts."""

from __future__ import annotations

import argparse
import os

from cluster.cli.common import (
    Subcommands,
    add_command,
    add_node_argument,
    add_spec_argument,
    progress,
    seconds,
)
from cluster.errors import UsageError
from cluster.firewall import render as render_firewall
from cluster.spec import load_spec
from cluster.sysctl import render_sysctl_conf


def register(commands: Subcommands) -> None:
    p = add_command(
        commands,
        "apply",
        cmd_apply,
        "set up this director as the spec says, as a whole or not at all",
        "Plan the changes this director needs (sysctls, firewall, the IPVS table with "
        "ipvs: direct, keepalived.conf and keepalived, the /etc/sysctl.d file), print them "
        "as a diff, and apply them in that order. Where systemd runs the director, keepalived "
        "runs as keepalived.service with our options, and the modules, the firewall and "
        "keepalived are set to come back at boot. If a step fails, the steps before it are "
        "rolled back and the error names the step. A second run prints 'no changes'. Run "
        "it as root on the director itself.",
    )
    _director_arguments(p)
    p.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    p.add_argument(
        "--prune",
        action="store_true",
        help="also delete IPVS services the spec does not name (ipvs: direct only)",
    )
    p.add_argument(
        "--confirm",
        type=seconds,
        metavar="SECONDS",
        help="after applying, wait this long for 'yes' on stdin, else roll everything back "
        "(as iptables-apply does, for a rule set that locks you out)",
    )
    p = add_command(
        commands,
        "status",
        cmd_status,
        "this director against the spec: drift, keepalived, each real server",
        "Show what cluster apply would change (drift), whether keepalived runs and each "
        "VRRP instance's state, and every virtual service and real server in the kernel's "
        "IPVS table. With keepalived owning the table, a real server missing from it is "
        "probed with its own health check: 'down' (keepalived rightly removed it) or "
        "'missing' (drift). Exit 0 when healthy, 1 otherwise.",
    )
    _director_arguments(p)

    firewall = add_command(commands, "firewall", None, "a director's firewall rules")
    actions = firewall.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = actions.add_parser(
        "render",
        help="print the rules to load on one director",
        description="Print the nftables script (one table of our own, replaced atomically) "
        "or the iptables-restore --noflush input (chains of our own) for one director. "
        "SSH stays open in every rule set; VRRP is accepted from the peer directors only.",
    )
    add_spec_argument(p)
    add_node_argument(p)
    _backend_argument(p)
    p.set_defaults(run=cmd_firewall_render)

    sysctl = add_command(commands, "sysctl", None, "a director's kernel settings")
    actions = sysctl.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = actions.add_parser(
        "render",
        help="print the /etc/sysctl.d file for one director",
        description="Print the sysctl.d file (ip_forward, send_redirects on all, default "
        "and every interface) for one director, each setting under the reason for it.",
    )
    add_spec_argument(p)
    add_node_argument(p)
    p.set_defaults(run=cmd_sysctl_render)


def _director_arguments(p: argparse.ArgumentParser) -> None:
    add_spec_argument(p)
    add_node_argument(p, help="the director this is")
    _backend_argument(p)
    p.add_argument(
        "--root",
        default="/",
        metavar="DIR",
        help="where /etc and /run are (default /); the lab gives each director its own",
    )


def _backend_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--backend", choices=("nftables", "iptables"), help="default: the spec's firewall.backend"
    )


def _need_root() -> None:
    if os.geteuid() != 0:
        raise UsageError("this reads and changes the kernel's network settings; run it as root")


def cmd_apply(args: argparse.Namespace) -> int:
    from cluster.director.apply import apply_director, read_live
    from cluster.director.plan import Layout, desired_state, make_director_plan
    from cluster.director.systemd import service_manager
    from cluster.firewall.apply import ask

    spec = load_spec(args.spec)
    _need_root()
    layout = Layout(args.root)
    desired = desired_state(spec, args.node, args.backend, layout, service_manager(layout.root))
    plan = make_director_plan(desired, read_live(desired, layout), args.prune)
    print(plan.text(), end="", flush=True)
    if plan.empty or args.dry_run:
        return 0
    confirm = (lambda: ask(args.confirm)) if args.confirm else None
    apply_director(plan, desired, layout, progress, confirm)
    print(f"{args.node}: applied {', '.join(step for step, _ in plan.parts())}")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from cluster.director.apply import read_status
    from cluster.director.plan import Layout

    spec = load_spec(args.spec)
    _need_root()
    status = read_status(spec, args.node, args.backend, Layout(args.root))
    print(status.text(), end="")
    return 0 if status.healthy else 1


def cmd_firewall_render(args: argparse.Namespace) -> int:
    spec = load_spec(args.spec)
    print(render_firewall(spec, args.node, args.backend or spec.firewall.backend), end="")
    return 0


def cmd_sysctl_render(args: argparse.Namespace) -> int:
    print(render_sysctl_conf(load_spec(args.spec), args.node), end="")
    return 0
