"""The ``cluster`` command: subcommands only parse arguments and call the package.

Exit codes (also in ``cluster --help``):

====  =====================================================================
0     success; for ``lint``, no error-level findings; for ``check``, every server up
1     ``lint`` found error-level problems; ``check`` found a real server down
2     bad command-line usage (missing file, unknown node, bad value)
3     an input file is wrong (spec or keepalived.conf); every problem has file:line
4     an external program (keepalived, nft, ipvsadm, ...) is missing or failed
5     a probe got no usable answer (refused, timeout, TLS failure, empty response)
6     the lab could not be built, reached or torn down
====  =====================================================================
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

from cluster import __version__, views
from cluster.errors import ClusterError, InputError, ToolError, UsageError
from cluster.files import write_atomic
from cluster.keepalived.importer import import_keepalived_confs
from cluster.keepalived.lint import lint_file
from cluster.keepalived.process import check_config
from cluster.keepalived.render import render_keepalived_conf
from cluster.keepalived.syntax import parse_file
from cluster.lab.faults import KINDS as DIRECTOR_FAULTS
from cluster.lab.servers import FAULT_KINDS
from cluster.probes.digest import PROTOCOLS
from cluster.spec import ClusterSpec, dump_spec, load_spec, read_spec
from cluster.spec.load import SEED_NAME, SEED_TEXT, read_spec_file
from cluster.spec.variants import LAYOUT_NAMES

EXIT_CODES = """exit codes:
  0  success (for lint: no error-level findings; for check: every server up)
  1  lint found error-level problems; check found a real server down
  2  bad command-line usage
  3  an input file is wrong; each problem is printed as file:line
  4  an external program (keepalived, nft, ipvsadm, ...) is missing or failed
  5  a probe got no usable answer (refused, timeout, TLS failure, empty response)
  6  the lab could not be built, reached or torn down
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


def _server(text: str) -> tuple[str, int | None]:
    from cluster.probes.checks import parse_server

    try:
        return parse_server(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"invalid server {err}") from None


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
        "lab",
        help="time lab up (guest boot included) and the lab agent's round trips",
        description="Take any lab down, time `lab up` from nothing, then time the agent's "
        "round trips: a ping, a trivial command, and netlink dumps in a lab namespace. "
        "Leaves the lab up. Needs root.",
    )
    p.add_argument("--mode", choices=["auto", "host", "guest"], default="auto")
    p.add_argument("-n", type=_positive, default=30, help="round trips of each kind (default 30)")
    p.add_argument("-o", "--output", type=Path, help="JSON file (default: stdout)")
    p.set_defaults(run=_run_bench_lab)
    p = kinds.add_parser(
        "failover",
        help="fault the lab's directors N times; outage and VIP takeover against theory",
        description="With keepalived on both lab directors (the seed spec in the chosen "
        "variant), a client probe sends a request to the VIP every 10 ms while the fault "
        "strikes; each trial's raw samples, address changes and VRRP events go to the JSON "
        "file. --connections instead holds long-lived connections through the VIP while the "
        "master dies, with and without IPVS connection sync. --chart draws result files. "
        "Needs a running lab (cluster lab up).",
    )
    p.add_argument("--scenario", default="dies", choices=DIRECTOR_FAULTS, help="default dies")
    p.add_argument("--interface", metavar="IFACE", help="for link-down and link-drop")
    p.add_argument("--on", choices=["master", "backup"], default="master")
    p.add_argument("--layout", choices=LAYOUT_NAMES, default="fixed")
    p.add_argument("--advert-int", type=_seconds, default=1.0, metavar="S", help="default 1")
    p.add_argument("--vrrp-version", type=int, choices=[2, 3], default=3, help="default 3")
    p.add_argument("--trials", type=_positive, default=5, help="default 5")
    p.add_argument("--connections", type=int, metavar="N", help="hold N connections instead")
    p.add_argument(
        "--cable-pull",
        nargs="+",
        choices=LAYOUT_NAMES,
        metavar="LAYOUT",
        help="the article's cable-pull table (and a silent drop, a partition) on each layout",
    )
    p.add_argument(
        "--chart",
        nargs="+",
        type=Path,
        metavar="JSON",
        help="draw these results (PNG and SVG) and print them as a Markdown table",
    )
    p.add_argument(
        "-o", "--output", type=Path, help="JSON file (default: out/failover/<scenario>.json)"
    )
    p.set_defaults(run=_run_bench_failover)


def _run_bench_check(args: argparse.Namespace) -> int:
    import json

    from cluster.bench.check import run

    text = json.dumps(run(args.endpoints, args.ports_per_ip), indent=2) + "\n"
    if args.output:
        args.output.write_text(text)
    else:
        sys.stdout.write(text)
    return 0


def _run_bench_lab(args: argparse.Namespace) -> int:
    import json

    from cluster.bench.lab import bench_lab

    text = json.dumps(bench_lab(args.mode, _progress, args.n), indent=2) + "\n"
    if args.output:
        args.output.write_text(text)
    else:
        sys.stdout.write(text)
    return 0


def _run_bench_failover(args: argparse.Namespace) -> int:
    import json

    if args.chart:
        from cluster.failover.outage import refresh
        from cluster.failover.plot import chart
        from cluster.failover.report import markdown

        documents = [json.loads(p.read_text()) for p in args.chart]
        documents = [refresh(d) if d.get("benchmark") == "failover" else d for d in documents]
        prefix = args.output or Path("out/failover/chart")
        for path in chart(documents, prefix.with_suffix("")):
            print(f"wrote {path}", file=sys.stderr)
        print(markdown(documents), end="")
        return 0
    from cluster.failover import bench
    from cluster.lab import Lab

    with Lab() as lab:
        if args.cable_pull:
            name = f"cable-pull-v{args.vrrp_version}-adv{args.advert_int:g}"
            result = bench.run_cable_table(lab, args.cable_pull, args.trials, args.advert_int,
                                           args.vrrp_version, _progress)  # fmt: skip
        elif args.connections:
            name = f"connections-adv{args.advert_int:g}"
            result = bench.run_connections(
                lab, args.trials, args.connections, args.advert_int, _progress
            )
        else:
            scenario = bench.Scenario(args.scenario, args.advert_int, args.vrrp_version,
                                      args.layout, args.interface, args.on)  # fmt: skip
            name = scenario.name
            result = bench.run(lab, scenario, args.trials, _progress)
    output = args.output or Path("out/failover") / f"{name}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=1) + "\n")
    from cluster.failover.report import markdown

    print(markdown([result]), end="")
    print(f"wrote {output}", file=sys.stderr)
    return 0


def _add_lab(commands: argparse._SubParsersAction[_Parser]) -> None:
    lab = commands.add_parser("lab", help="the whole cluster in namespaces on this machine")
    actions = lab.add_subparsers(dest="lab_command", metavar="ACTION", required=True)
    p = actions.add_parser(
        "up",
        help="boot (if needed) and build the lab; idempotent",
        description="Build one network namespace per host of the spec, plus clients, a router "
        "and the SMTP sink, in the host kernel if it has IPVS, else in a User-Mode Linux guest.",
    )
    p.add_argument(
        "spec",
        nargs="?",
        metavar="SPEC",
        help="cluster spec (YAML); default: the built-in seed cluster",
    )
    p.add_argument(
        "--mode",
        choices=["auto", "host", "guest"],
        default="auto",
        help="auto (default): host namespaces when the host kernel has IPVS",
    )
    p.add_argument("--clients", type=_positive, default=1, help="client nodes (default 1)")
    p.set_defaults(run=cmd_lab_up)
    p = actions.add_parser("down", help="remove everything the lab made, even after a crash")
    p.set_defaults(run=cmd_lab_down)
    p = actions.add_parser("status", help="nodes, interfaces, addresses and services")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=cmd_lab_status)
    p = actions.add_parser("exec", help="run a command on a node: lab exec NODE -- CMD ...")
    p.add_argument("node", metavar="NODE")
    p.add_argument("argv", nargs=argparse.REMAINDER, metavar="-- CMD")
    p.add_argument("--timeout", type=float, default=60, help="seconds (default 60)")
    p.set_defaults(run=cmd_lab_exec)
    p = actions.add_parser(
        "fault",
        help="inject a fault into a director or a real server, or clear it",
        description="Real servers: slow SECONDS answers after that delay; wrong-body sends "
        "another page (the digest differs); status CODE the right page with that status; "
        "down stops the server; clear serves normally. Directors (keepalived must run, see "
        "`lab keepalived`): dies kills keepalived and downs every link; stop is a graceful "
        "SIGTERM; vrrp-child kills the VRRP child; link-down IFACE pulls a cable; link-drop "
        "IFACE keeps the link up but drops everything; partition cuts the director off from "
        "its peers; clear undoes every fault on the director.",
    )
    kinds = sorted({*FAULT_KINDS, *DIRECTOR_FAULTS})
    p.add_argument("node", metavar="NODE", help="a real server or a director")
    p.add_argument("kind", choices=kinds, metavar="FAULT", help=", ".join(kinds))
    p.add_argument(
        "value", nargs="?", metavar="VALUE", help="seconds for slow, code for status, an interface"
    )
    p.set_defaults(run=cmd_lab_fault)
    p = actions.add_parser(
        "keepalived",
        help="start, reload or stop the real keepalived on every director",
        description="Render each director's keepalived.conf from SPEC (and the variant "
        "options), check it with keepalived -t in the director's namespace, and start it.",
    )
    p.add_argument("action", choices=["start", "reload", "stop"])
    spec_variant_arguments(p)
    p.set_defaults(run=cmd_lab_keepalived)
    p = actions.add_parser(
        "state", help="who holds each VIP, VRRP state per instance, the IPVS tables"
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=cmd_lab_state)
    p = actions.add_parser("mails", help="the mails the lab's SMTP sink received")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=cmd_lab_mails)


def _progress(message: str) -> None:
    print(f"==> {message}", file=sys.stderr, flush=True)


def cmd_lab_up(args: argparse.Namespace) -> int:
    from cluster.lab import Lab
    from cluster.lab.topology import from_spec

    topology = from_spec(load_spec(args.spec), clients=args.clients)
    with Lab.up(topology, progress=_progress, mode=args.mode) as lab:
        print(f"lab up ({lab.state.mode} mode): {', '.join(lab.nodes)}")
    return 0


def cmd_lab_down(args: argparse.Namespace) -> int:
    from cluster.lab import Lab

    print("lab down" if Lab.down(progress=_progress) else "no lab was running")
    return 0


def cmd_lab_status(args: argparse.Namespace) -> int:
    import json

    from cluster.lab import Lab

    with Lab() as lab:
        status = lab.status()
    if args.json:
        print(json.dumps(status, indent=2))
        return 0
    print(
        f"{status['mode']} mode, kernel {status['kernel']}, guest user {status['guest_user']}, "
        f"pids {status['pids']}"
    )
    for node, links in status["nodes"].items():
        shown = [
            f"{name} {' '.join(v['addresses']) or '-'}" for name, v in links.items() if name != "lo"
        ]
        print(f"  {node:12} {'; '.join(shown)}")
    for node, server in status["servers"].items():
        state = f"pid {server['pid']}" if server["pid"] else "stopped"
        fault = f", fault: {server['fault']}" if server["role"] == "realserver" else ""
        print(f"  {node:12} {server['role']} server {state}{fault}")
    print(f"  SMTP sink: {status['mails']} mails (cluster lab mails)")
    for svc in status["services"]:
        state = "running" if svc["returncode"] is None else f"exited {svc['returncode']}"
        print(f"  pid {svc['pid']} on {svc['ns']}: {' '.join(svc['argv'])} ({state})")
    return 0


def cmd_lab_fault(args: argparse.Namespace) -> int:
    from cluster.lab import Lab
    from cluster.lab.faults import inject

    with Lab() as lab:
        print(inject(lab, args.node, args.kind, args.value))
    return 0


def spec_variant_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("spec", nargs="?", metavar="SPEC", help="cluster spec; default: the seed")
    p.add_argument(
        "--layout",
        choices=LAYOUT_NAMES,
        help="article: sync group, no tracked links (the 2007 config); split: neither; "
        "fixed: both (the seed's); watched: fixed plus a ping across each link",
    )
    p.add_argument("--advert-int", type=_seconds, metavar="S", help="every instance's advert_int")
    p.add_argument("--vrrp-version", type=int, choices=[2, 3], help="every instance's version")
    p.add_argument("--subsecond", action="store_true", help="the preset: VRRPv3, advert_int 0.1")
    p.add_argument("--sync-daemon", action="store_true", help="add IPVS connection sync")


def _spec_variant(args: argparse.Namespace) -> ClusterSpec:
    from cluster.failover.bench import lab_variant

    advert, version = (0.1, 3) if args.subsecond else (args.advert_int, args.vrrp_version)
    return lab_variant(load_spec(args.spec), args.layout, advert, version, args.sync_daemon)


def cmd_lab_keepalived(args: argparse.Namespace) -> int:
    from cluster.lab import Lab, directors

    with Lab() as lab:
        if args.action == "start":
            for node, warnings in directors.start(lab, _spec_variant(args)).items():
                print(f"{node}: keepalived running{f' ({warnings})' if warnings else ''}")
        elif args.action == "stop":
            directors.stop(lab)
            print("keepalived stopped on every director")
        else:
            for director in directors.running_spec(lab).directors:
                directors.keepalived(lab, director.name).reload()
            print("keepalived reloaded on every director")
    return 0


def cmd_lab_state(args: argparse.Namespace) -> int:
    import dataclasses
    import json

    from cluster.lab import Lab, directors
    from cluster.lab.faults import active

    with Lab() as lab:
        spec = directors.running_spec(lab)
        states = directors.state(lab, spec)
        holders = directors.holders(lab, spec)
        in_force = active(lab)
    if args.json:
        document = {
            "holders": holders,
            "directors": [dataclasses.asdict(s) for s in states],
            "faults": [dataclasses.asdict(f) for f in in_force],
        }
        print(json.dumps(document, indent=2))
        return 0
    instances = directors.floating(spec)
    for vip, owners in holders.items():
        verdict = "SPLIT BRAIN" if len(owners) > 1 else ("nobody" if not owners else "")
        print(f"{vip:16} {instances[vip]:14} held by {', '.join(owners) or '-'} {verdict}".rstrip())
    for state in states:
        running = "keepalived " + (
            " ".join(f"{role} {pid}" for role, pid in state.pids.items()) or "not running"
        )
        vrrp = ", ".join(f"{name} {st}" for name, st in state.vrrp.items()) or "no VRRP events"
        print(f"\n{state.name}: {running}; {vrrp}")
        print("".join(f"    {line}\n" for line in state.ipvs.splitlines()), end="")
    for fault in in_force:
        print(f"fault in force: {fault.describe()}")
    return 0


def cmd_lab_mails(args: argparse.Namespace) -> int:
    import dataclasses
    import json
    import time

    from cluster.lab import Lab

    with Lab() as lab:
        mails = lab.mails()
    if args.json:
        print(json.dumps([dataclasses.asdict(m) for m in mails], indent=2))
        return 0
    for mail in mails:
        when = time.strftime("%H:%M:%S", time.localtime(mail.time))
        print(f"{when} from {mail.sender or '<>'} to {', '.join(mail.recipients)}: {mail.subject}")
        print("".join(f"    {line}\n" for line in mail.body.splitlines()), end="")
    return 0


def cmd_lab_exec(args: argparse.Namespace) -> int:
    from cluster.lab import Lab

    argv = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
    if not argv:
        raise UsageError("lab exec needs a command: cluster lab exec NODE -- CMD ...")
    with Lab() as lab:
        result = lab.run(args.node, *argv, timeout=args.timeout)
    sys.stdout.write(result.stdout)
    sys.stderr.write(result.stderr)
    return result.rc


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
    sub = command("check", cmd_check, "run a spec's health checks once and print each verdict")
    # No seed default: its addresses are the article's network, and probing them would send
    # traffic to whatever answers on the operator's own network.
    sub.add_argument("spec", nargs="?", metavar="SPEC", help="cluster spec (YAML) to check")
    sub.add_argument(
        "--conf",
        metavar="FILE",
        type=Path,
        help="check what this keepalived.conf configures instead of a spec",
    )
    sub.add_argument("--service", metavar="NAME", help="check this virtual service only")
    sub.add_argument(
        "--server",
        metavar="IP[:PORT]",
        type=_server,
        help="check this real server only (all its ports when no port is given)",
    )
    sub.add_argument("--json", action="store_true", help="print the verdicts as JSON")

    sub = command(
        "digest",
        cmd_digest,
        "fetch every page a spec's digests pin and show how the digests changed",
    )
    sub.add_argument("spec", metavar="SPEC", help="cluster spec (YAML) whose digests to refresh")
    sub.add_argument(
        "--update",
        action="store_true",
        help="write the new digests into SPEC, keeping its comments and layout; asks first "
        "on a terminal",
    )
    sub.add_argument("--yes", action="store_true", help="with --update: write without asking")
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


def cmd_check(args: argparse.Namespace) -> int:
    import json

    from cluster.probes.checks import checks_in, run_round, select

    if (args.spec is None) == (args.conf is None):
        raise UsageError("give a SPEC or --conf keepalived.conf, one of the two")
    spec = load_spec(args.spec) if args.spec else _import([args.conf])
    jobs = select(checks_in(spec), args.service, args.server)
    if not jobs:
        raise UsageError(f"{spec.name!r} configures no health checks; nothing to run")
    verdicts = asyncio.run(run_round(jobs))
    if args.json:
        print(json.dumps([v.as_dict() for v in verdicts], indent=2))
    else:
        views.print_table(views.verdict_table(verdicts))
    return 0 if all(v.ok for v in verdicts) else 1


def cmd_digest(args: argparse.Namespace) -> int:
    import difflib
    import stat

    from cluster.probes.pins import fetch_pages, new_digests, pins_in
    from cluster.spec.edit import replace_scalars

    if args.yes and not args.update:
        raise UsageError("--yes confirms --update; add --update to write the digests")
    path = Path(args.spec)
    text = read_spec_file(path)
    spec, _ = read_spec(text, args.spec)
    pins = pins_in(spec)
    for pin in pins:
        if not pin.pinned:
            print(f"note: {pin}: no digest key, so a status check; add 'digest: ~' to pin it",
                  file=sys.stderr)  # fmt: skip
    pins = [pin for pin in pins if pin.pinned]
    if not pins:
        print(f"{args.spec}: no url has a digest to refresh", file=sys.stderr)
        return 0
    pages = asyncio.run(fetch_pages(pins))
    changes = new_digests(pins, pages)
    for target, page in pages.items():
        for warning in page.warnings:
            print(f"warning: {target.where}: {warning}", file=sys.stderr)
    if not changes:
        print(f"{args.spec}: all {len(pins)} digests are current", file=sys.stderr)
        return 0
    new_text = replace_scalars(text, changes)
    sys.stdout.writelines(difflib.unified_diff(
        text.splitlines(keepends=True), new_text.splitlines(keepends=True), args.spec, args.spec
    ))  # fmt: skip
    count = f"{len(changes)} of {len(pins)} digests"
    if not args.update:
        print(f"{count} differ; `cluster digest --update` writes them", file=sys.stderr)
        return 0
    if not args.yes:
        if not sys.stdin.isatty():
            raise UsageError(f"not written: no terminal to confirm on; add --yes to write {count}")
        print(f"write {count} to {args.spec}? [y/N] ", end="", file=sys.stderr, flush=True)
        if sys.stdin.readline().strip().lower() not in ("y", "yes"):
            print("not written", file=sys.stderr)
            return 0
    write_atomic(path, new_text, mode=stat.S_IMODE(path.stat().st_mode))
    print(f"wrote {count} to {args.spec}", file=sys.stderr)
    return 0


def cmd_lint(args: argparse.Namespace) -> int:
    problems = [p for path in args.files for p in lint_file(path)]
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


def _import(files: Sequence[Path], name: str = "imported") -> ClusterSpec:
    """A spec from keepalived.conf files; what it leaves out is printed, never dropped silently."""
    spec, warnings = import_keepalived_confs([parse_file(path) for path in files], name=name)
    for warning in warnings:
        print(warning, file=sys.stderr)
    return spec


def cmd_import(args: argparse.Namespace) -> int:
    text = dump_spec(_import(args.files, args.name))
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
