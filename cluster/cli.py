"""The ``cluster`` command: subcommands only parse arguments and call the package.

Exit codes (also in ``cluster --help``):

====  =====================================================================
0     success; for ``lint``, no error-level findings
1     ``lint`` found error-level problems
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
import asyncio
import ipaddress
import json
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from cluster import __version__, views
from cluster.errors import ClusterError, InputError, ToolError, UsageError
from cluster.files import write_atomic
from cluster.keepalived.importer import import_keepalived_confs
from cluster.keepalived.lint import lint_file
from cluster.keepalived.process import check_config
from cluster.keepalived.render import render_keepalived_conf
from cluster.keepalived.syntax import parse_file
from cluster.probes.digest import PROTOCOLS
from cluster.spec import dump_spec, load_spec, read_spec
from cluster.spec.load import SEED_NAME, SEED_TEXT, read_spec_file

if TYPE_CHECKING:
    from cluster.ipvs.table import Table

EXIT_CODES = """exit codes:
  0  success (for lint: no error-level findings)
  1  lint found error-level problems
  2  bad command-line usage
  3  an input file is wrong; each problem is printed as file:line
  4  an external program (keepalived, nft, ipvsadm, ...) is missing or failed
  5  a probe got no usable answer (refused, timeout, TLS failure, empty response)
  6  the lab could not be built, reached or torn down
  7  a change to the system failed or its state could not be read; the step is named
"""

Command = Callable[[argparse.Namespace], int]


class _Parser(argparse.ArgumentParser):
    """Bad usage as one line naming the fix, not argparse's usage block plus the error."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _ip(text: str) -> str:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"server should be an IP address, not {text!r}") from None


def _port(text: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise argparse.ArgumentTypeError(f"invalid port {text!r}: want 1-65535")
    return int(text)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"invalid timeout {text!r}: want seconds > 0")
    return value


def _url(text: str) -> str:
    # The url goes verbatim into the request line, so whitespace would forge another request.
    if not text or any(c.isspace() for c in text):
        raise argparse.ArgumentTypeError(f"invalid url {text!r}: want a path without spaces")
    return text


def _add_genhash(commands: argparse._SubParsersAction[_Parser]) -> None:
    p = commands.add_parser(
        "genhash",
        help="print the MD5 digest keepalived's HTTP_GET/SSL_GET would compare",
        description="Same options and digest as keepalived's genhash, but a failure to get "
        "a page exits 5 with one line instead of exiting 0.",
    )
    p.add_argument("-s", "--server", type=_ip, required=True, help="IP address of the server")
    p.add_argument("-p", "--port", type=_port, required=True)
    p.add_argument("-u", "--url", type=_url, required=True, help="path to GET, e.g. /index.html")
    p.add_argument("-S", "--use-ssl", action="store_true", help="TLS, without verification")
    p.add_argument("-V", "--use-virtualhost", metavar="HOST", help="Host: header (default ip:port)")
    p.add_argument("-I", "--use-sni", action="store_true", help="send the virtual host as SNI")
    p.add_argument(
        "-P",
        "--protocol",
        choices=PROTOCOLS,
        default="1.0",
        help="HTTP version; 1.0c adds 'Connection: close' (default 1.0)",
    )
    p.add_argument(
        "-t",
        "--timeout",
        type=_seconds,
        default=5.0,
        help="seconds for the connect and for each read (default 5)",
    )
    p.add_argument("-m", "--fwmark", type=int, help="firewall mark on the socket")
    p.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="also print the status line, the headers and what was hashed",
    )
    p.set_defaults(run=_run_genhash)


def _run_genhash(args: argparse.Namespace) -> int:
    from cluster.probes.http import Target, genhash

    target = Target(
        server=args.server,
        port=args.port,
        url=args.url,
        ssl=args.use_ssl,
        virtualhost=args.use_virtualhost,
        sni=args.use_sni,
        protocol=args.protocol,
        timeout=args.timeout,
        fwmark=args.fwmark,
    )
    response = asyncio.run(genhash(target))
    print("\n".join(response.describe() if args.verbose else [response.digest]))
    for warning in response.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return 0


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"invalid count {text!r}: want a whole number >= 1")
    return int(text)


def _add_bench(commands: argparse._SubParsersAction[_Parser]) -> None:
    bench = commands.add_parser("bench", help="benchmarks that write JSON results")
    kinds = bench.add_subparsers(dest="benchmark", metavar="BENCHMARK", required=True)
    p = kinds.add_parser(
        "check",
        help="time one round of TCP_CHECK and HTTP_GET against loopback endpoints",
        description="Time one round of TCP_CHECKs, then one of HTTP_GETs with a digest, "
        "against loopback listeners on 127.0.1.x served by a child process.",
    )
    p.add_argument("--endpoints", type=_positive, default=2000, help="default 2000")
    p.add_argument("--ports-per-ip", type=_positive, default=100, help="default 100")
    p.add_argument("-o", "--output", type=Path, help="JSON file (default: stdout)")
    p.set_defaults(run=_run_bench_check)
    p = kinds.add_parser(
        "ipvs",
        help="load 1,000 and 10,000 services through netlink vs ipvsadm-restore",
        description="Time loading N services x 4 real servers through our netlink path and "
        "through ipvsadm-restore, and one weight change in a big table. Clears the IPVS "
        "table where it runs: use --node to run it in a lab node.",
    )
    p.add_argument("--sizes", default="1000,10000", help="service counts (default 1000,10000)")
    p.add_argument("--weight-in", type=_positive, default=10000, help="table size for the "
                   "weight change (default 10000)")  # fmt: skip
    p.add_argument("--node", metavar="NODE", help="run inside this node of the running lab")
    p.add_argument("-o", "--output", type=Path, help="JSON file (default: stdout)")
    p.set_defaults(run=_run_bench_ipvs)
    lab = kinds.add_parser("lab", help="lab up wall time and agent round trips")
    lab.add_argument("--out", type=Path, help="write the JSON here as well as to stdout")
    lab.add_argument("--mode", choices=["auto", "host", "guest"], default="auto")
    lab.set_defaults(run=_bench_lab)


def _run_bench_ipvs(args: argparse.Namespace) -> int:
    try:
        sizes = [int(n) for n in args.sizes.split(",")]
    except ValueError:
        raise UsageError(f"--sizes {args.sizes!r}: want counts such as 1000,10000") from None
    if args.node:
        from cluster.lab import Lab
        from cluster.lab.guest import guest_python

        python, pythonpath = guest_python()
        argv = ["env", f"PYTHONPATH={pythonpath}", python, "-m", "cluster", "bench", "ipvs",
                "--sizes", args.sizes, "--weight-in", str(args.weight_in)]  # fmt: skip
        with Lab() as lab:
            text = lab.run(args.node, *argv, timeout=3600).check().stdout
    else:
        from cluster.bench.ipvs import run

        text = json.dumps(run(sizes, args.weight_in), indent=2) + "\n"
    if args.output:
        write_atomic(args.output, text)
    else:
        sys.stdout.write(text)
    return 0


def _run_bench_check(args: argparse.Namespace) -> int:
    from cluster.bench.check import run

    text = json.dumps(run(args.endpoints, args.ports_per_ip), indent=2) + "\n"
    if args.output:
        args.output.write_text(text)
    else:
        sys.stdout.write(text)
    return 0


def _add_lab(commands: argparse._SubParsersAction) -> None:
    lab = commands.add_parser("lab", help="the seed cluster in namespaces on this machine")
    sub = lab.add_subparsers(dest="lab_command", metavar="ACTION", required=True)
    up = sub.add_parser("up", help="boot (if needed) and build the lab; idempotent")
    up.add_argument(
        "--mode",
        choices=["auto", "host", "guest"],
        default="auto",
        help="host namespaces need IPVS in the host kernel; auto picks (default)",
    )
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
        shown = [
            f"{name} {' '.join(v['addresses']) or '-'}" for name, v in links.items() if name != "lo"
        ]
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


def _add_ipvs(commands: argparse._SubParsersAction[_Parser]) -> None:
    ipvs = commands.add_parser(
        "ipvs",
        help="the kernel's IPVS table: list, save, restore, plan and apply",
        description="Read and change the IPVS table through netlink (root, and a kernel "
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

    spec = load_spec(args.spec)
    if spec.director(args.node) is None:
        names = ", ".join(d.name for d in spec.directors)
        raise UsageError(f"--node {args.node}: no such director in {spec.name!r}; use {names}")
    return desired_table(spec)


def _ipvs_plan(args: argparse.Namespace) -> int:
    return _ipvs_change(args, _spec_table(args), apply=False)


def _ipvs_apply(args: argparse.Namespace) -> int:
    return _ipvs_change(args, _spec_table(args), apply=True)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
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
    sub = command("lint", cmd_lint, "find mistakes in keepalived.conf files, each at file:line")
    sub.add_argument("files", nargs="+", metavar="FILE", type=Path, help="keepalived.conf files")
    sub.add_argument("--errors-only", action="store_true", help="hide warnings and notes")

    sub = command("import", cmd_import, "turn keepalived.conf files into a cluster spec")
    sub.add_argument(
        "files",
        nargs="+",
        metavar="FILE",
        type=Path,
        help="one keepalived.conf per director, the master's first",
    )
    sub.add_argument("--name", default="imported", help="the spec's name (default: imported)")
    sub.add_argument(
        "-o",
        "--output",
        metavar="SPEC",
        type=Path,
        help="write the spec here instead of printing it",
    )

    _add_genhash(commands)
    _add_lab(commands)
    _add_ipvs(commands)
    _add_bench(commands)
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


def cmd_lint(args: argparse.Namespace) -> int:
    problems = [p for path in args.files for p in lint_file(path)]
    if args.errors_only:
        problems = [p for p in problems if p.severity == "error"]
    for problem in problems:
        print(problem)
    counts = Counter(p.severity for p in problems)
    files = ", ".join(map(str, args.files))
    print(
        f"{files}: {counts['error']} errors, {counts['warning']} warnings, {counts['info']} notes",
        file=sys.stderr,
    )
    return 1 if counts["error"] else 0


def cmd_import(args: argparse.Namespace) -> int:
    spec, warnings = import_keepalived_confs(
        [parse_file(path) for path in args.files], name=args.name
    )
    for warning in warnings:
        print(warning, file=sys.stderr)
    text = dump_spec(spec)
    if args.output:
        write_atomic(args.output, text)
        print(f"wrote {args.output}", file=sys.stderr)
    else:
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
