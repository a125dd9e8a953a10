"""The rule model as chains of our own for ``iptables-restore --noflush`` (and ip6tables).

Our rules live in LVS-INPUT and LVS-FORWARD (table filter) and LVS-POSTROUTING (table nat),
each jumped to from the first position of its built-in chain. ``--noflush`` keeps every rule
we do not own; declaring one of our chains (``:LVS-INPUT - [0:0]``) empties it in the same
commit that refills it, so a table's change is all or nothing.

An accept in the model is ``-j RETURN`` here, and each filter chain of ours ends in
``-j DROP``: our chains can only veto, and what they let through goes on to the built-in
chain's other rules and policy. That is what the nftables back-end's own table does too (an
``accept`` there does not overrule another table's drop), so the two back-ends mean the same.

iptables-restore commits each table separately and IPv4 and IPv6 are two programs, so a
failure can leave filter loaded and nat not; :mod:`cluster.firewall.apply` restores the
previous chains of ours when any step fails.

Text is rendered as ``iptables-save`` prints it, so that what is loaded reads back line for
line. The one exception, ``-p 112``, which save prints by its /etc/protocols name ``vrrp``,
is read back as ``-p 112``, so that a second apply finds nothing to change.

>>> from cluster.spec import load_seed_spec
>>> from cluster.firewall.rules import director_rules
>>> wanted = ours(director_rules(load_seed_spec(), "director01"))
>>> vrrp = next(line for line in wanted["iptables"].splitlines() if "VI_EXTERNAL" in line)
>>> print(vrrp.replace(" -m", "\\n   -m"))
-A LVS-INPUT -s 192.168.0.176/32 -d 224.0.0.18/32 -i eth0 -p 112
   -m comment --comment "VRRP VI_EXTERNAL from the peer director" -j RETURN
>>> print(script(wanted["iptables"], "").splitlines()[-2])
-I POSTROUTING 1 -j LVS-POSTROUTING
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from cluster.firewall.rules import CHAINS, ChainName, Family, Rule, RuleSet

PROGRAMS: tuple[str, ...] = ("iptables", "ip6tables")
_FAMILIES: dict[str, Family] = {"iptables": 4, "ip6tables": 6}


@dataclass(frozen=True)
class OurChain:
    name: str
    table: str
    builtin: str


OUR_CHAINS: dict[ChainName, OurChain] = {
    "input": OurChain("LVS-INPUT", "filter", "INPUT"),
    "forward": OurChain("LVS-FORWARD", "filter", "FORWARD"),
    "postrouting": OurChain("LVS-POSTROUTING", "nat", "POSTROUTING"),
}
_BY_NAME = {c.name: c for c in OUR_CHAINS.values()}
_TABLES = tuple(dict.fromkeys(c.table for c in OUR_CHAINS.values()))

_PROTOCOLS: dict[Family, dict[str, str]] = {
    4: {"tcp": "tcp", "udp": "udp", "sctp": "sctp", "icmp": "icmp", "vrrp": "112"},
    6: {"tcp": "tcp", "udp": "udp", "sctp": "sctp", "icmpv6": "ipv6-icmp", "vrrp": "112"},
}
_ICMP_MATCH: dict[Family, tuple[str, str]] = {
    4: ("icmp", "--icmp-type"),
    6: ("icmp6", "--icmpv6-type"),
}
#: iptables-save prints ICMP types as numbers; nft's names are the model's.
_ICMP_TYPES: dict[Family, dict[str, int]] = {
    4: {
        "echo-request": 8,
        "destination-unreachable": 3,
        "time-exceeded": 11,
        "parameter-problem": 12,
    },
    6: {
        "destination-unreachable": 1,
        "packet-too-big": 2,
        "time-exceeded": 3,
        "parameter-problem": 4,
        "echo-request": 128,
        "mld-listener-query": 130,
        "nd-router-advert": 134,
        "nd-neighbor-solicit": 135,
        "nd-neighbor-advert": 136,
    },
}
_CT_ORDER = ("INVALID", "NEW", "RELATED", "ESTABLISHED")  # the order the conntrack match prints
_SAFE = frozenset("_-0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


@dataclass(frozen=True)
class Ours:
    """Our chains in one family's tables: their ``-A`` lines, and which ones are jumped to."""

    chains: dict[str, tuple[str, ...]]
    jumps: frozenset[str] = frozenset()


def ours(ruleset: RuleSet) -> dict[str, str]:
    """Per program, our chains as ``iptables-save`` would print them once loaded."""
    return {
        program: dump(
            Ours(
                {
                    OUR_CHAINS[name].name: _chain_lines(name, rules, _FAMILIES[program])
                    for name, rules in ruleset.chains.items()
                },
                frozenset(OUR_CHAINS[name].name for name in ruleset.chains),
            )
        )
        for program in PROGRAMS
    }


def list_command(program: str) -> list[str]:
    return [f"{program}-save"]


def load_command(program: str) -> list[str]:
    return [f"{program}-restore", "--noflush"]


def load_file_command(program: str, path: str) -> list[str]:
    """Load a :func:`script` kept in ``path``, as the boot-time unit does."""
    return [f"{program}-restore", "--noflush", path]


def unhook_commands(program: str) -> list[list[str]]:
    """What deletes our jumps before a saved :func:`script` is loaded again: the script
    inserts them anew, so a second load (a restarted unit) would stack them. Each command
    fails, harmlessly, when its jump is not there, as at boot."""
    return [[program, "-t", c.table, "-D", c.builtin, "-j", c.name] for c in OUR_CHAINS.values()]


def listed(program: str, listing: str) -> str:
    """Our part of a full ``iptables-save`` listing, in the form :func:`ours` renders."""
    return dump(parse(listing))


def script(desired: str, current: str) -> str:
    """The ``iptables-restore --noflush`` input that turns our ``current`` chains into ``desired``.

    Only our chains are declared (which empties them) and only our jumps are added or deleted;
    a jump that is already there is kept, so applying twice does not stack them.
    """
    want, have = parse(desired), parse(current)
    out = []
    for table in _TABLES:
        unhook, declare, drop, fill, hook = [], [], [], [], []
        for chain in (c for c in OUR_CHAINS.values() if c.table == table):
            if chain.name in want.chains:
                declare.append(f":{chain.name} - [0:0]")
                fill += want.chains[chain.name]
                if chain.name not in have.jumps:
                    hook.append(f"-I {chain.builtin} 1 -j {chain.name}")
            elif chain.name in have.chains:
                if chain.name in have.jumps:
                    unhook.append(f"-D {chain.builtin} -j {chain.name}")
                declare.append(f":{chain.name} - [0:0]")
                drop.append(f"-X {chain.name}")
        lines = unhook + declare + drop + fill + hook
        if lines:
            out += [f"*{table}", *lines, "COMMIT"]
    return "\n".join(out) + "\n" if out else ""


def parse(text: str) -> Ours:
    """Our chains, their rules and jumps, out of any iptables-save text; the rest is ignored."""
    chains: dict[str, list[str]] = {}
    jumps = set()
    for line in text.splitlines():
        line = line.replace(" -p vrrp ", " -p 112 ")
        words = line.split()
        if line.startswith(":") and line[1:].split()[0] in _BY_NAME:
            chains.setdefault(line[1:].split()[0], [])
        elif line.startswith("-A ") and words[1] in _BY_NAME:
            chains.setdefault(words[1], []).append(line)
        elif (
            line.startswith("-A ")
            and len(words) == 4
            and words[2] == "-j"
            and words[3] in _BY_NAME
            and _BY_NAME[words[3]].builtin == words[1]
        ):
            jumps.add(words[3])
    return Ours({k: tuple(v) for k, v in chains.items()}, frozenset(jumps))


def dump(ours: Ours) -> str:
    """``ours`` in iptables-save's layout: per table the declarations, jumps, then rules."""
    out = []
    for table in _TABLES:
        chains = [c for c in OUR_CHAINS.values() if c.table == table and c.name in ours.chains]
        if chains:
            out.append(f"*{table}")
            out += [f":{c.name} - [0:0]" for c in chains]
            out += [f"-A {c.builtin} -j {c.name}" for c in chains if c.name in ours.jumps]
            out += [line for c in chains for line in ours.chains[c.name]]
            out.append("COMMIT")
    return "\n".join(out) + "\n" if out else ""


def _chain_lines(name: ChainName, rules: tuple[Rule, ...], family: Family) -> tuple[str, ...]:
    chain = OUR_CHAINS[name].name
    lines = [
        line
        for rule in rules
        if rule.family in (None, family)
        for line in _lines(chain, rule, family)
    ]
    if CHAINS[name].policy == "drop":
        lines.append(f"-A {chain} -m comment --comment {_quote('policy: drop')} -j DROP")
    return tuple(lines)


def _lines(chain: str, rule: Rule, family: Family) -> list[str]:
    """One line per combination of the rule's sets: iptables matches one value per rule."""
    lines = []
    for iif, oif, saddr, daddr, icmp in itertools.product(
        rule.iif or [None],
        rule.oif or [None],
        rule.saddr or [None],
        rule.daddr or [None],
        rule.icmp_types or [None],
    ):
        words = ["-A", chain]
        words += ["-s", str(saddr)] if saddr else []
        words += ["-d", str(daddr)] if daddr else []
        words += ["-i", iif] if iif else []
        words += ["-o", oif] if oif else []
        if rule.protocol:
            words += ["-p", _PROTOCOLS[family][rule.protocol]]
        if rule.sport or rule.dport:
            words += ["-m", str(rule.protocol)]
            words += ["--sport", str(rule.sport)] if rule.sport else []
            words += ["--dport", str(rule.dport)] if rule.dport else []
        if icmp:
            module, option = _ICMP_MATCH[family]
            words += ["-m", module, option, str(_ICMP_TYPES[family][icmp])]
        if rule.mark is not None:
            words += ["-m", "mark", "--mark", f"{rule.mark:#x}"]
        if rule.ct_state:
            states = {s.upper() for s in rule.ct_state}
            words += ["-m", "conntrack", "--ctstate", ",".join(s for s in _CT_ORDER if s in states)]
        words += ["-m", "comment", "--comment", _quote(rule.comment)]
        words += ["-j", "RETURN" if rule.verdict == "accept" else "MASQUERADE"]
        lines.append(" ".join(words))
    return lines


def _quote(text: str) -> str:
    """Quote as iptables-save does (xtables_save_string), so that renderings read back equal."""
    if text and set(text) <= _SAFE:
        return text
    escaped = "".join("\\" + c if c in "\"\\'" else c for c in text)
    return f'"{escaped}"'
