"""genhash, check, digest: talk to real servers the way keepalived's checkers do.

``check`` and ``digest`` take no seed default: the seed's addresses are the 2007 article's
network, and probing them would send traffic to whatever answers on the operator's own.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from cluster import views
from cluster.cli.common import (
    Subcommands,
    add_command,
    ip_address,
    port,
    seconds,
    url_path,
)
from cluster.cli.spec import import_confs
from cluster.errors import UsageError
from cluster.files import write_atomic
from cluster.probes.digest import PROTOCOLS
from cluster.spec import load_spec, read_spec
from cluster.spec.load import read_spec_file


def server(text: str) -> tuple[str, int | None]:
    from cluster.probes.checks import parse_server

    try:
        return parse_server(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"invalid server {err}") from None


def register(commands: Subcommands) -> None:
    p = add_command(
        commands,
        "genhash",
        cmd_genhash,
        "print the MD5 digest keepalived's HTTP_GET/SSL_GET would compare",
        "Same options and digest as keepalived's genhash, but a failure to get "
        "a page exits 5 with one line instead of exiting 0.",
    )
    p.add_argument(
        "-s", "--server", type=ip_address, required=True, help="IP address of the server"
    )
    p.add_argument("-p", "--port", type=port, required=True)
    p.add_argument(
        "-u", "--url", type=url_path, required=True, help="path to GET, e.g. /index.html"
    )
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
        type=seconds,
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

    sub = add_command(
        commands, "check", cmd_check, "run a spec's health checks once and print each verdict"
    )
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
        type=server,
        help="check this real server only (all its ports when no port is given)",
    )
    sub.add_argument("--json", action="store_true", help="print the verdicts as JSON")

    sub = add_command(
        commands,
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


def cmd_genhash(args: argparse.Namespace) -> int:
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


def cmd_check(args: argparse.Namespace) -> int:
    import json

    from cluster.probes.checks import checks_in, run_round, select

    if (args.spec is None) == (args.conf is None):
        raise UsageError("give a SPEC or --conf keepalived.conf, one of the two")
    spec = load_spec(args.spec) if args.spec else import_confs([args.conf])
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
