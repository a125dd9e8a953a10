"""validate, show, render, lint, import: the spec and keepalived.conf, no network needed."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from cluster import views
from cluster.cli.common import Subcommands, add_command, add_spec_argument
from cluster.errors import ToolError, UsageError
from cluster.files import write_atomic
from cluster.keepalived.importer import import_keepalived_confs
from cluster.keepalived.lint import lint, lint_directors
from cluster.keepalived.process import check_config
from cluster.keepalived.render import render_keepalived_conf
from cluster.keepalived.syntax import parse_file
from cluster.spec import ClusterSpec, dump_spec, load_spec, read_spec
from cluster.spec.load import SEED_NAME, SEED_TEXT, read_spec_file


def register(commands: Subcommands) -> None:
    sub = add_command(
        commands, "validate", cmd_validate, "check a cluster spec and print every problem"
    )
    add_spec_argument(sub)

    sub = add_command(
        commands, "show", cmd_show, "print a spec's directors, VRRP instances and services"
    )
    add_spec_argument(sub)

    sub = add_command(
        commands, "render", cmd_render, "render keepalived.conf for the directors of a spec"
    )
    add_spec_argument(sub)
    sub.add_argument(
        "--node", metavar="DIRECTOR", help="render for this director only (default: all)"
    )
    sub.add_argument(
        "--out",
        metavar="DIR",
        type=Path,
        help="write DIR/<director>/keepalived.conf (mode 0600) instead of printing",
    )
    sub.add_argument(
        "--check",
        action="store_true",
        help="also run the real `keepalived -t` on each file, in a scratch network "
        "namespace with the director's interfaces (needs root)",
    )

    sub = add_command(
        commands, "lint", cmd_lint, "find mistakes in keepalived.conf files, each at file:line"
    )
    sub.add_argument(
        "files",
        nargs="+",
        metavar="FILE",
        type=Path,
        help="keepalived.conf files; give both directors' to compare them",
    )
    sub.add_argument("--errors-only", action="store_true", help="hide warnings and notes")
    add_config_id_argument(sub)
    sub.add_argument(
        "--interfaces",
        metavar="NAMES",
        type=lambda text: [name for name in text.split(",") if name],
        help="the director's interfaces, comma-separated (eth0,eth1): names the config uses "
        "that are not among them are errors, as keepalived refuses them; default: not checked",
    )

    sub = add_command(
        commands, "import", cmd_import, "turn keepalived.conf files into a cluster spec"
    )
    sub.add_argument(
        "files",
        nargs="+",
        metavar="FILE",
        type=Path,
        help="one keepalived.conf per director, the master's first",
    )
    sub.add_argument("--name", default="imported", help="the spec's name (default: imported)")
    add_config_id_argument(sub)
    sub.add_argument("-o", "--output", metavar="SPEC", type=Path,
                     help="write the spec here instead of printing it")  # fmt: skip


def cmd_validate(args: argparse.Namespace) -> int:
    name = args.spec or SEED_NAME
    text = read_spec_file(args.spec) if args.spec else SEED_TEXT
    spec, warnings = read_spec(text, name)
    for warning in warnings:
        print(warning, file=sys.stderr)
    print(f"{name}: valid -- {views.summary(spec)}")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    views.print_spec(load_spec(args.spec))
    return 0


def cmd_render(args: argparse.Namespace) -> int:
    spec = load_spec(args.spec)
    if args.node and spec.director(args.node) is None:
        names = ", ".join(d.name for d in spec.directors)
        raise UsageError(f"--node {args.node}: no such director in {spec.name!r}; use {names}")
    directors = [d for d in spec.directors if args.node in (None, d.name)]
    for director in directors:
        text = render_keepalived_conf(spec, director.name)
        if args.check:
            result = check_config(text, [i.name for i in director.interfaces])
            if not result.clean:
                raise ToolError(
                    f"keepalived -t rejects the config for {director.name} "
                    f"(exit {result.exit_code}): {result.output.strip()}"
                )
            print(f"{director.name}: keepalived -t: clean", file=sys.stderr)
        if args.out:
            path = args.out / director.name / "keepalived.conf"
            write_atomic(path, text, mode=0o600)
            print(f"wrote {path}", file=sys.stderr)
        else:
            if len(directors) > 1:
                print(f"! ===== {director.name} =====")
            print(text, end="")
    return 0


def add_config_id_argument(sub: argparse.ArgumentParser) -> None:
    sub.add_argument(
        "-i",
        "--config-id",
        metavar="ID",
        help="read '@ID' conditional lines as `keepalived -i ID` does (default: none; "
        "keepalived itself uses the host name)",
    )


def cmd_lint(args: argparse.Namespace) -> int:
    trees = [parse_file(path, config_id=args.config_id) for path in args.files]
    problems = [p for tree in trees for p in lint(tree, args.interfaces)]
    if len(trees) > 1:  # the directors' files: compare each VRRP instance across them
        problems += lint_directors(trees)
    if args.errors_only:
        problems = [p for p in problems if p.severity == "error"]
    for problem in problems:
        print(problem)
    counts = Counter(p.severity for p in problems)
    files = str(args.files[0]) if len(args.files) == 1 else f"{len(args.files)} files"
    print(
        f"{files}: {counts['error']} errors, {counts['warning']} warnings, {counts['info']} notes",
        file=sys.stderr,
    )
    return 1 if counts["error"] else 0


def import_confs(
    files: Sequence[Path], name: str = "imported", config_id: str | None = None
) -> ClusterSpec:
    """A spec from keepalived.conf files; what it leaves out is printed, never dropped silently."""
    trees = [parse_file(path, config_id=config_id) for path in files]
    spec, warnings = import_keepalived_confs(trees, name=name)
    for warning in warnings:
        print(warning, file=sys.stderr)
    return spec


def cmd_import(args: argparse.Namespace) -> int:
    text = dump_spec(import_confs(args.files, args.name, args.config_id))
    if args.output:
        write_atomic(args.output, text)
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        print(text, end="")
    return 0
