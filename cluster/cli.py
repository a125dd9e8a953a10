"""The ``cluster`` command: subcommands only parse arguments and call the package.

Exit codes (also in ``cluster --help``):

====  =====================================================================
0     success; for ``lint``, no error-level findings
1     ``lint`` found error-level problems; ``validate`` found the spec unsound
2     bad command-line usage (missing file, unknown node, bad value)
3     an input file is wrong (spec or keepalived.conf); every problem has file:line
4     an external program (keepalived, nft, ipvsadm, ...) is missing or failed
5     the lab could not be built, reached or torn down
====  =====================================================================
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from cluster import __version__
from cluster.errors import ClusterError, InputError

EXIT_CODES = """exit codes:
  0  success (for lint: no error-level findings)
  1  lint found error-level problems
  2  bad command-line usage
  3  an input file is wrong; each problem is printed as file:line
  4  an external program (keepalived, nft, ipvsadm, ...) is missing or failed
  5  the lab could not be built, reached or torn down
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
    parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    return parser


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
