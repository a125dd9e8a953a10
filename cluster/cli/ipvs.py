"""ipvs list, save, restore, plan, apply: the kernel's IPVS table through netlink."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from cluster.cli.common import Command, Subcommands, add_command
from cluster.errors import UsageError

if TYPE_CHECKING:
    from cluster.ipvs.table import Table


def register(commands: Subcommands) -> None:
    ipvs = add_command(
        commands,
        "ipvs",
        None,
        "the kernel's IPVS table: list, save, restore, plan and apply",
        "Read and change the IPVS table through netlink (root, and a kernel "
        "with IPVS; in the lab: cluster lab exec director01 -- cluster ipvs list).",
    )
    actions = ipvs.add_subparsers(dest="ipvs_command", metavar="ACTION", required=True)

    def action(name: str, run: Command, help: str) -> argparse.ArgumentParser:
        sub = actions.add_parser(name, help=help, description=help)
        sub.add_argument("--netns", metavar="NS", help="a named network namespace (ip netns)")
        sub.set_defaults(run=run)
        return sub

    sub = action("list", _ipvs_list, "print the table exactly as `ipvsadm -Ln` does")
    view = sub.add_mutually_exclusive_group()
    for flag in ("stats", "rate", "thresholds", "persistent-conn"):
        view.add_argument(f"--{flag}", dest="view", action="store_const", const=flag)
    view.add_argument("-c", "--connection", action="store_true", help="connections (-Lnc)")
    sub.add_argument("--exact", action="store_true", help="exact numbers, no K/M/G")
    action("save", _ipvs_save, "print the table as `ipvsadm-save -n` does")
    sub = action(
        "restore",
        _ipvs_restore,
        "make the table hold what an ipvsadm-save file on stdin holds, with the fewest "
        "changes (unlike ipvsadm-restore, running it twice is harmless)",
    )
    sub.add_argument("--prune", action="store_true", help="also delete services not in the file")
    sub.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    for name, run, help in (
        ("plan", _ipvs_plan, "show what `ipvs apply` would change (a dry run)"),
        ("apply", _ipvs_apply, "program the spec's services (for `ipvs: direct`)"),
    ):
        sub = action(name, run, help)
        sub.add_argument("spec", nargs="?", metavar="SPEC", help="default: the seed cluster")
        sub.add_argument("--node", metavar="DIRECTOR", required=True, help="the director")
        sub.add_argument("--prune", action="store_true", help="also delete services not in SPEC")


def _ipvs_list(args: argparse.Namespace) -> int:
    from cluster.ipvs import ipvsadm, netlink

    if args.connection:
        sys.stdout.write(ipvsadm.format_connections(netlink.read_connections(args.netns)))
    else:
        table = netlink.read_table(args.netns)
        sys.stdout.write(ipvsadm.format_list(table, args.view or "default", args.exact))
    return 0


def _ipvs_save(args: argparse.Namespace) -> int:
    from cluster.ipvs import ipvsadm, netlink

    sys.stdout.write(ipvsadm.format_save(netlink.read_table(args.netns)))
    return 0


def _ipvs_change(args: argparse.Namespace, desired: Table, apply: bool) -> int:
    """Plan against the live table, print the plan, and apply it unless it is a dry run."""
    from cluster.ipvs import netlink
    from cluster.ipvs.plan import make_plan

    plan = make_plan(desired, netlink.read_table(args.netns), prune=args.prune)
    sys.stdout.write(plan.text())
    if apply and not plan.empty:
        print(f"applied {netlink.apply_plan(plan, args.netns)} changes", file=sys.stderr)
    return 0


def _ipvs_restore(args: argparse.Namespace) -> int:
    from cluster.ipvs.ipvsadm import parse_save

    return _ipvs_change(args, parse_save(sys.stdin.read(), "<stdin>"), apply=not args.dry_run)


def _spec_table(args: argparse.Namespace) -> Table:
    from cluster.ipvs.table import desired_table
    from cluster.spec import load_spec

    spec = load_spec(args.spec)
    if spec.director(args.node) is None:
        names = ", ".join(d.name for d in spec.directors)
        raise UsageError(f"--node {args.node}: no such director in {spec.name!r}; use {names}")
    return desired_table(spec)


def _ipvs_plan(args: argparse.Namespace) -> int:
    return _ipvs_change(args, _spec_table(args), apply=False)


def _ipvs_apply(args: argparse.Namespace) -> int:
    return _ipvs_change(args, _spec_table(args), apply=True)
