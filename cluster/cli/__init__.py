"""The ``cluster`` command: subcommands only parse arguments and call the package.

Each family of subcommands lives in its own module with a ``register(commands)`` function:
:mod:`~cluster.cli.spec` (validate, show, render, lint, import), :mod:`~cluster.cli.probes`
(genhash, check, digest), :mod:`~cluster.cli.director` (apply, status, firewall, sysctl),
:mod:`~cluster.cli.operations` (op: day-2 operations), :mod:`~cluster.cli.ipvs`,
:mod:`~cluster.cli.lab`, :mod:`~cluster.cli.bench` and :mod:`~cluster.cli.notebooks`.

Exit codes (also in ``cluster --help``):

====  =====================================================================
0     success; for ``lint``, no error-level findings; for ``check``, every server up
1     ``lint`` found error-level problems; ``check`` found a real server down;
      ``status`` found drift or keepalived not running
2     bad command-line usage (missing file, unknown node, bad value)
3     an input file is wrong (spec or keepalived.conf); every problem has file:line
4     an external program (keepalived, nft, ipvsadm, ...) is missing or failed
5     a probe got no usable answer (refused, timeout, TLS failure, empty response)
6     the lab could not be built, reached or torn down
7     a change to the system failed or its state could not be read; the step is named
====  =====================================================================
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from cluster import __version__
from cluster.cli.common import EXIT_CODES, Command, Parser
from cluster.errors import ClusterError, InputError

FAMILIES = ("spec", "probes", "director", "operations", "ipvs", "lab", "bench", "notebooks")
#: Commands parsed with their own family alone, so that the rest is never imported: ``cluster
#: ipvs restore`` is timed as a process against ipvsadm-restore, and in the lab's guest the
#: other families' imports (pydantic, pyroute2, ...) cost two seconds.
ALONE = ("ipvs",)


def build_parser(families: Sequence[str] = FAMILIES) -> argparse.ArgumentParser:
    parser = Parser(
        prog="cluster",
        description="Set up, test and teach an LVS director pair with keepalived failover.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"cluster {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for family in families:
        importlib.import_module(f"cluster.cli.{family}").register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    alone = words[0] if words and words[0] in ALONE else None
    args = build_parser([alone] if alone else FAMILIES).parse_args(words)
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
