"""The ``cluster`` command: subcommands only parse arguments and call the package.

Exit codes (also in ``cluster --help``):

====  =====================================================================
0     success; for ``lint``, no error-level findings
1     ``lint`` found error-level problems
2     bad command-line usage (missing file, unknown node, bad value)
3     an input file is wrong (spec or keepalived.conf); every problem has file:line
4     an external program (keepalived, nft, ipvsadm, ...) is missing or failed
====  =====================================================================
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from cluster import __version__, views
from cluster.errors import ClusterError, InputError, ToolError, UsageError
from cluster.files import write_atomic
from cluster.keepalived.process import check_config
from cluster.keepalived.render import render_keepalived_conf
from cluster.spec import load_spec, read_spec
from cluster.spec.load import SEED_NAME, SEED_TEXT, read_spec_file

EXIT_CODES = """exit codes:
  0  success (for lint: no error-level findings)
  1  lint found error-level problems
  2  bad command-line usage
  3  an input file is wrong; each problem is printed as file:line
  4  an external program (keepalived, nft, ipvsadm, ...) is missing or failed
"""

Command = Callable[[argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cluster",
        description="Set up, test and teach an LVS director pair with keepalived failover.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"cluster {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, run: Command, help: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(
            name,
            help=help,
            description=help,
            epilog=EXIT_CODES,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        sub.set_defaults(run=run)
        return sub

    def spec_argument(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "spec",
            nargs="?",
            metavar="SPEC",
            help="cluster spec (YAML); default: the built-in seed cluster",
        )

    sub = command("validate", cmd_validate, "check a cluster spec and print every problem")
    spec_argument(sub)

    sub = command("show", cmd_show, "print a spec's directors, VRRP instances and services")
    spec_argument(sub)

    sub = command("render", cmd_render, "render keepalived.conf for the directors of a spec")
    spec_argument(sub)
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
    return parser


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


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    command: Command = args.run
    try:
        return command(args)
    except InputError as err:
        for problem in err.problems:
            print(problem, file=sys.stderr)
        return err.exit_code
    except ClusterError as err:
        print(f"cluster: {err}", file=sys.stderr)
        return err.exit_code
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
