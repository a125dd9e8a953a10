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
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from cluster import __version__
from cluster.errors import ClusterError, InputError, UsageError

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
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_lab(commands)
    _add_bench(commands)
    return parser


def _add_lab(commands: argparse._SubParsersAction) -> None:
    lab = commands.add_parser("lab", help="the seed cluster in namespaces on this machine")
    sub = lab.add_subparsers(dest="lab_command", metavar="ACTION", required=True)
    up = sub.add_parser("up", help="boot (if needed) and build the lab; idempotent")
    up.add_argument("--mode", choices=["auto", "host", "guest"], default="auto",
                    help="host namespaces need IPVS in the host kernel; auto picks (default)")
    up.add_argument("--clients", type=int, default=1, help="client namespaces (default 1)")
    up.set_defaults(run=_lab_up)
    down = sub.add_parser("down", help="remove everything the lab made, even after a crash")
    down.set_defaults(run=_lab_down)
    status = sub.add_parser("status", help="nodes, interfaces, addresses, processes")
    status.add_argument("--json", action="store_true", help="print JSON")
    status.set_defaults(run=_lab_status)
    exec_ = sub.add_parser("exec", help="run a command on a node: lab exec NODE -- CMD")
    exec_.add_argument("node")
    exec_.add_argument("argv", nargs=argparse.REMAINDER, metavar="-- CMD")
    exec_.add_argument("--timeout", type=float, default=60)
    exec_.set_defaults(run=_lab_exec)


def _add_bench(commands: argparse._SubParsersAction) -> None:
    bench = commands.add_parser("bench", help="measure and write JSON results")
    sub = bench.add_subparsers(dest="bench_command", metavar="WHAT", required=True)
    lab = sub.add_parser("lab", help="lab up wall time and agent round trips")
    lab.add_argument("--out", type=Path, help="write the JSON here as well as to stdout")
    lab.add_argument("--mode", choices=["auto", "host", "guest"], default="auto")
    lab.set_defaults(run=_bench_lab)


def _progress(message: str) -> None:
    print(f"==> {message}", file=sys.stderr, flush=True)


def _lab_up(args: argparse.Namespace) -> int:
    from cluster.lab import Lab
    from cluster.lab.topology import seed_topology

    with Lab.up(seed_topology(clients=args.clients), progress=_progress, mode=args.mode) as lab:
        print(f"lab up ({lab.state.mode} mode): {', '.join(lab.nodes)}")
    return 0


def _lab_down(args: argparse.Namespace) -> int:
    from cluster.lab import Lab

    removed = Lab.down(progress=_progress)
    print("lab down" if removed else "no lab was running")
    return 0


def _lab_status(args: argparse.Namespace) -> int:
    from cluster.lab import Lab

    with Lab() as lab:
        status = lab.status()
    if args.json:
        print(json.dumps(status, indent=2))
        return 0
    print(f"mode {status['mode']}, kernel {status['kernel']}, pids {status['pids']}")
    for node, links in status["nodes"].items():
        shown = [f"{name} {' '.join(v['addresses']) or '-'}" for name, v in links.items()
                 if name != "lo"]
        print(f"  {node:12} {'; '.join(shown)}")
    for svc in status["services"]:
        state = "running" if svc["returncode"] is None else f"exited {svc['returncode']}"
        print(f"  service pid {svc['pid']} on {svc['ns']}: {' '.join(svc['argv'])} ({state})")
    return 0


def _lab_exec(args: argparse.Namespace) -> int:
    from cluster.lab import Lab

    argv = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
    if not argv:
        raise UsageError("lab exec needs a command: cluster lab exec NODE -- CMD")
    with Lab() as lab:
        result = lab.run(args.node, *argv, timeout=args.timeout)
    sys.stdout.write(result.stdout)
    sys.stderr.write(result.stderr)
    return result.rc


def _bench_lab(args: argparse.Namespace) -> int:
    from cluster.bench.lab import bench_lab

    text = json.dumps(bench_lab(mode=args.mode, progress=_progress), indent=2)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
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
