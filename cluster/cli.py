"""The ``cluster`` command: subcommands only parse arguments and call the package.

Exit codes (also in ``cluster --help``):

====  =====================================================================
0     success; for ``lint``, no error-level findings
1     ``lint`` found error-level problems
2     bad command-line usage (missing file, unknown node, bad value)
3     an input file is wrong (spec or keepalived.conf); every problem has file:line
4     an external program (keepalived, nft, ipvsadm, ...) is missing or failed
5     a probe got no usable answer (refused, timeout, TLS failure, empty response)
====  =====================================================================
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

from cluster import __version__, views
from cluster.errors import ClusterError, InputError, ToolError, UsageError
from cluster.files import write_atomic
from cluster.firewall import render as render_firewall
from cluster.keepalived.process import check_config
from cluster.keepalived.render import render_keepalived_conf
from cluster.probes.digest import PROTOCOLS
from cluster.spec import load_spec, read_spec
from cluster.spec.load import SEED_NAME, SEED_TEXT, read_spec_file
from cluster.sysctl import render_sysctl_conf

EXIT_CODES = """exit codes:
  0  success (for lint: no error-level findings)
  1  lint found error-level problems
  2  bad command-line usage
  3  an input file is wrong; each problem is printed as file:line
  4  an external program (keepalived, nft, ipvsadm, ...) is missing or failed
  5  a probe got no usable answer (refused, timeout, TLS failure, empty response)
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


def _run_bench_check(args: argparse.Namespace) -> int:
    import json

    from cluster.bench.check import run

    text = json.dumps(run(args.endpoints, args.ports_per_ip), indent=2) + "\n"
    if args.output:
        args.output.write_text(text)
    else:
        sys.stdout.write(text)
    return 0


def _spec_argument(sub: argparse.ArgumentParser) -> None:
    sub.add_argument(
        "spec",
        nargs="?",
        metavar="SPEC",
        help="cluster spec (YAML); default: the built-in seed cluster",
    )


def _add_firewall(commands: argparse._SubParsersAction[_Parser]) -> None:
    firewall = commands.add_parser("firewall", help="a director's firewall rules")
    actions = firewall.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = actions.add_parser(
        "render",
        help="print the rules to load on one director",
        description="Print the nftables script (one table of our own, replaced atomically) "
        "or the iptables-restore --noflush input (chains of our own) for one director. "
        "SSH stays open in every rule set; VRRP is accepted from the peer directors only.",
    )
    _spec_argument(p)
    p.add_argument("--node", metavar="DIRECTOR", required=True, help="director to render for")
    p.add_argument(
        "--backend",
        choices=("nftables", "iptables"),
        help="default: the spec's firewall.backend",
    )
    p.set_defaults(run=cmd_firewall_render)


def _add_sysctl(commands: argparse._SubParsersAction[_Parser]) -> None:
    sysctl = commands.add_parser("sysctl", help="a director's kernel settings")
    actions = sysctl.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = actions.add_parser(
        "render",
        help="print the /etc/sysctl.d file for one director",
        description="Print the sysctl.d file (ip_forward, send_redirects on all, default "
        "and every interface) for one director, each setting under the reason for it.",
    )
    _spec_argument(p)
    p.add_argument("--node", metavar="DIRECTOR", required=True, help="director to render for")
    p.set_defaults(run=cmd_sysctl_render)


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

    sub = command("validate", cmd_validate, "check a cluster spec and print every problem")
    _spec_argument(sub)

    sub = command("show", cmd_show, "print a spec's directors, VRRP instances and services")
    _spec_argument(sub)

    sub = command("render", cmd_render, "render keepalived.conf for the directors of a spec")
    _spec_argument(sub)
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
    _add_genhash(commands)
    _add_bench(commands)
    _add_firewall(commands)
    _add_sysctl(commands)
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


def cmd_firewall_render(args: argparse.Namespace) -> int:
    spec = load_spec(args.spec)
    print(render_firewall(spec, args.node, args.backend or spec.firewall.backend), end="")
    return 0


def cmd_sysctl_render(args: argparse.Namespace) -> int:
    print(render_sysctl_conf(load_spec(args.spec), args.node), end="")
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
