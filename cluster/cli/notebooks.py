"""notebooks: execute the course's notebooks, on the lab or as "this machine" in a director."""

from __future__ import annotations

import argparse
from pathlib import Path

from cluster.cli.common import Subcommands, add_command, progress


def register(commands: Subcommands) -> None:
    group = add_command(commands, "notebooks", None, "run the notebooks and keep their outputs")
    actions = group.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = actions.add_parser(
        "execute",
        help="execute notebooks in one kernel; the executed copies go to out/notebooks/",
        description="Execute the notebooks (all, or those named) in course order, in one "
        "Jupyter kernel run by this Python, against one lab (brought up by the first "
        "notebook, reused by the rest), and write each executed copy to --out. The docs "
        "build renders those copies. -p NAME=VALUE sets a parameter of every notebook run "
        "(TARGET, NODE, SPEC, ROOT, or a benchmark's size). --on-director runs the "
        "walk-through as 'this machine' inside that lab director instead, as if JupyterLab "
        "ran there (the lab's directors must be set up: run the walk-through on the lab "
        "first).",
    )
    p.add_argument("names", nargs="*", metavar="NOTEBOOK", help="file names or stems")
    p.add_argument(
        "--part",
        action="append",
        choices=["walk-through", "benchmark", "teaching"],
        help="only this part of the course (repeatable)",
    )
    p.add_argument("-p", "--parameter", action="append", default=[], metavar="NAME=VALUE")
    p.add_argument(
        "--out", type=Path, help="default out/notebooks (on a director: out/notebooks/this-machine)"
    )
    p.add_argument(
        "--stale-only",
        action="store_true",
        help="keep executed copies made from this same code and notebook",
    )
    p.add_argument("--on-director", metavar="NODE", help="the lab director to run it in")
    p.set_defaults(run=cmd_execute)


def cmd_execute(args: argparse.Namespace) -> int:
    from cluster.course import execute

    if args.on_director:
        from cluster.lab import Lab

        out = args.out or execute.OUT / "this-machine"
        with Lab() as lab:
            copies = execute.execute_on_director(lab, args.on_director, out, args.names, progress)
    else:
        parameters = dict(execute.parameter(p) for p in args.parameter)
        paths = execute.notebooks(args.names, args.part or ())
        copies = execute.execute(
            paths, args.out or execute.OUT, parameters, progress, args.stale_only
        )
    for path in copies:
        print(path)
    return 0
