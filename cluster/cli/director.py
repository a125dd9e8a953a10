"""firewall and sysctl: what `cluster apply` will set on a director, rendered for review."""

from __future__ import annotations

import argparse

from cluster.cli.common import Subcommands, add_command, add_node_argument, add_spec_argument
from cluster.firewall import render as render_firewall
from cluster.spec import load_spec
from cluster.sysctl import render_sysctl_conf


def register(commands: Subcommands) -> None:
    firewall = add_command(commands, "firewall", None, "a director's firewall rules")
    actions = firewall.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = actions.add_parser(
        "render",
        help="print the rules to load on one director",
        description="Print the nftables script (one table of our own, replaced atomically) "
        "or the iptables-restore --noflush input (chains of our own) for one director. "
        "SSH stays open in every rule set; VRRP is accepted from the peer directors only.",
    )
    add_spec_argument(p)
    add_node_argument(p)
    p.add_argument(
        "--backend",
        choices=("nftables", "iptables"),
        help="default: the spec's firewall.backend",
    )
    p.set_defaults(run=cmd_firewall_render)

    sysctl = add_command(commands, "sysctl", None, "a director's kernel settings")
    actions = sysctl.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = actions.add_parser(
        "render",
        help="print the /etc/sysctl.d file for one director",
        description="Print the sysctl.d file (ip_forward, send_redirects on all, default "
        "and every interface) for one director, each setting under the reason for it.",
    )
    add_spec_argument(p)
    add_node_argument(p)
    p.set_defaults(run=cmd_sysctl_render)


def cmd_firewall_render(args: argparse.Namespace) -> int:
    spec = load_spec(args.spec)
    print(render_firewall(spec, args.node, args.backend or spec.firewall.backend), end="")
    return 0


def cmd_sysctl_render(args: argparse.Namespace) -> int:
    print(render_sysctl_conf(load_spec(args.spec), args.node), end="")
    return 0
