"""op add-server, weight, drain, rotate-password, restart: day-2 operations on the pair."""

from __future__ import annotations

import argparse
import stat
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from cluster.cli.common import Subcommands, add_command, progress, seconds
from cluster.errors import UsageError

if TYPE_CHECKING:
    from cluster.operations.plan import OperationPlan

DESCRIPTION = (
    "Change a running director pair one safe step at a time. Each operation reads SPEC, "
    "shows how the spec file changes and the ordered steps on each director, and with "
    "--confirm --lab carries them out on the running lab's directors (which must run SPEC: "
    "cluster lab apply SPEC), then writes the changed spec back to SPEC. For real directors, "
    "--write writes the spec files and prints the commands to run on each, in order. Config "
    "changes go to the backups first, then the master; see the manual's Day-2 operations page."
)


def register(commands: Subcommands) -> None:
    op = add_command(commands, "op", None, "day-2 operations: planned, shown, applied in order",
                     DESCRIPTION)  # fmt: skip
    actions = op.add_subparsers(dest="operation", metavar="OPERATION", required=True)

    def action(name: str, help: str) -> argparse.ArgumentParser:
        sub = actions.add_parser(name, help=help, description=f"{help}. {DESCRIPTION}")
        sub.add_argument("spec", metavar="SPEC", help="the cluster spec file (YAML)")
        sub.set_defaults(run=cmd_op)
        return sub

    p = action("add-server", "add a real server to a virtual service")
    p.add_argument("service", metavar="SERVICE", help="the virtual service's name")
    p.add_argument("server", metavar="ADDRESS[:PORT]", help="port: default the service's")
    p.add_argument("--weight", type=int, default=1, help="default 1")
    p.add_argument("--like", metavar="ADDRESS[:PORT]",
                   help="copy this real server's health check (default: the first's)")  # fmt: skip
    p = action("weight", "change a real server's weight")
    p.add_argument("service", metavar="SERVICE", help="the virtual service's name")
    p.add_argument("server", metavar="ADDRESS[:PORT]")
    p.add_argument("weight", type=int, metavar="WEIGHT", help="0-65535; 0 sends it nothing new")
    p = action(
        "drain",
        "take a real server out without breaking a connection: weight 0, wait until its "
        "active connections end (or --timeout), then remove it",
    )
    p.add_argument("server", metavar="ADDRESS[:PORT]")
    p.add_argument("--service", metavar="NAME", help="only this service (default: every one)")
    p.add_argument("--timeout", type=seconds, default=300, metavar="S", help="default 300")
    p = action(
        "rotate-password",
        "change the VRRP password (PASS or AH) without a moment when both directors are MASTER",
    )
    p.add_argument("--password-file", required=True, metavar="FILE",
                   help="the new password (1-8 characters) on its first line; - for stdin, "
                   "so it never shows in ps or the shell's history")  # fmt: skip
    p.add_argument("--instance", action="append", metavar="NAME",
                   help="only this VRRP instance (default: every one with auth)")  # fmt: skip
    p = action(
        "restart",
        "restart (or, after installing a new package, upgrade) keepalived on one director: "
        "the master hands its VIPs over gracefully first",
    )
    p.add_argument("node", metavar="DIRECTOR")
    for sub in actions.choices.values():
        sub.add_argument("--dry-run", action="store_true", help="show the plan, change nothing")
        sub.add_argument("--confirm", action="store_true", help="carry the plan out")
        sub.add_argument("--lab", action="store_true", help="on the running lab's directors")
        sub.add_argument(
            "--write",
            action="store_true",
            help="for real directors: write the spec (and any spec the steps pass through, "
            "beside it) and print the commands to run by hand",
        )


def _password(path: str) -> str:
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text()
    except OSError as err:
        raise UsageError(f"--password-file {path}: {err.strerror}") from None
    return text.splitlines()[0].strip() if text.strip() else ""


def _mode(path: str) -> int:
    """The spec file's permissions, for the files written from it (a spec may hold the
    VRRP password)."""
    return stat.S_IMODE(Path(path).stat().st_mode)


def make_plan(args: argparse.Namespace, text: str) -> OperationPlan:
    """The operation the arguments name, planned on ``text`` (the spec file's content)."""
    from cluster.operations import plan

    name = args.spec
    if args.operation == "add-server":
        return plan.add_server(text, name, args.service, args.server, args.weight, args.like)
    if args.operation == "weight":
        return plan.set_weight(text, name, args.service, args.server, args.weight)
    if args.operation == "drain":
        return plan.drain(text, name, args.server, args.service, args.timeout)
    if args.operation == "rotate-password":
        return plan.rotate_password(text, name, _password(args.password_file), args.instance)
    return plan.restart(text, name, args.node)


def cmd_op(args: argparse.Namespace) -> int:
    from cluster.files import write_atomic
    from cluster.spec.load import read_spec_file

    text = read_spec_file(args.spec)
    planned = make_plan(args, text)
    print(planned.text(), end="", flush=True)
    if args.dry_run or not (args.confirm or args.write):
        print("dry run: nothing changed" if args.dry_run else "nothing changed: add --confirm "
              "--lab to carry it out in the lab, or --write to run it by hand")  # fmt: skip
        return 0
    if args.write:
        for stage, path in planned.stage_files(args.spec).items():
            if path != args.spec:
                write_atomic(Path(path), planned.stages[stage], _mode(args.spec))
                print(f"wrote {path}")
        if planned.after != text:
            write_atomic(Path(args.spec), planned.after, _mode(args.spec))
            print(f"wrote {args.spec}")
        print("now, on the directors, in this order:\n" + planned.commands(args.spec), end="")
        return 0
    if not args.lab:
        raise UsageError(
            "--confirm drives the lab's directors only (--lab); for real directors, "
            "--write writes the spec files and prints the commands to run on each, in order"
        )
    from cluster.lab import Lab
    from cluster.operations.run import carry_out

    with Lab() as lab:
        carry_out(lab, planned, Path(args.spec), progress)
    if planned.after != text:
        print(f"wrote {args.spec}")
    print(f"done: {planned.title}")
    return 0
