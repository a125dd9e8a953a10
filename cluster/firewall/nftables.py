"""The rule model as one nftables table of our own, ``inet lvs_cluster``, for ``nft -f``.

One ``inet`` table serves IPv4 and IPv6 alike. Other tables on the host (a distribution's
firewall, Docker's, fail2ban's) are never named, listed or flushed: ``flush ruleset``, the
usual first line of an nftables.conf, would wipe them. A base chain with policy drop in our
table drops what it does not accept even if another table accepts it, which is the point: a
director's firewall is a veto, whatever else is loaded.

The script replaces the table in one transaction: ``table`` (creates it if missing, so that
the next line cannot fail), ``delete table``, then the new table. ``nft -f`` applies all of it
or nothing, so a rule the kernel rejects leaves the previous table of ours as it was. (nft
1.0.6, Debian 12's, has no ``destroy table`` yet.)

>>> from cluster.spec import load_seed_spec
>>> from cluster.firewall.rules import director_rules
>>> text = ours(director_rules(load_seed_spec(), "director01"))["nft"]
>>> print(script(text, "").splitlines()[:3])
['table inet lvs_cluster', 'delete table inet lvs_cluster', 'table inet lvs_cluster {']
>>> vrrp = next(line.strip() for line in text.splitlines() if "VRRP" in line)
>>> print(vrrp.split(" counter")[0])
iifname "eth0" ip saddr 192.168.0.176 ip daddr 224.0.0.18 meta l4proto 112
"""

from __future__ import annotations

from collections.abc import Iterable

from cluster.firewall.rules import CHAINS, ChainName, Network, Rule, RuleSet

FAMILY = "inet"
TABLE = "lvs_cluster"
PROGRAM = "nft"
PROGRAMS: tuple[str, ...] = (PROGRAM,)

_HOOK_PRIORITY = {"filter": "filter", "nat": "srcnat"}
_IP = {4: "ip", 6: "ip6"}
_PROTOCOL_NUMBERS = {"vrrp": "112"}  # nft reads names from /etc/protocols; a number needs none


def ours(ruleset: RuleSet) -> dict[str, str]:
    return {PROGRAM: table(ruleset)}


def list_command(program: str) -> list[str]:
    return [PROGRAM, "list", "ruleset"]


def load_command(program: str) -> list[str]:
    return [PROGRAM, "-f", "-"]


def load_file_command(program: str, path: str) -> list[str]:
    """Load a :func:`script` kept in ``path``, as the boot-time unit does."""
    return [PROGRAM, "-f", path]


def unhook_commands(program: str) -> list[list[str]]:
    """Nothing to clear before loading a saved script again: it replaces the whole table."""
    return []


def listed(program: str, listing: str) -> str:
    """Our table's block out of ``nft list ruleset``; other tables are not ours to read."""
    lines = listing.splitlines(keepends=True)
    head = f"table {FAMILY} {TABLE} {{\n"
    if head not in lines:
        return ""
    start = lines.index(head)
    end = lines.index("}\n", start)
    return "".join(lines[start : end + 1])


def script(desired: str, current: str) -> str:
    """Replace our table, whatever ``current`` holds, by ``desired``; "" removes it.

    ``table`` first creates the table if it is missing, so that ``delete table`` cannot fail.
    """
    return f"table {FAMILY} {TABLE}\ndelete table {FAMILY} {TABLE}\n{desired}"


def table(ruleset: RuleSet) -> str:
    lines = [f"table {FAMILY} {TABLE} {{"]
    for name, rules in ruleset.chains.items():
        lines += _chain(name, rules)
    lines.append("}")
    return "\n".join(lines) + "\n"


def _chain(name: ChainName, rules: tuple[Rule, ...]) -> list[str]:
    chain = CHAINS[name]
    head = (
        f"type {chain.kind} hook {name} priority {_HOOK_PRIORITY[chain.kind]}; "
        f"policy {chain.policy};"
    )
    return [f"\tchain {name} {{", f"\t\t{head}", *(f"\t\t{_rule(r)}" for r in rules), "\t}"]


def _rule(rule: Rule) -> str:
    parts = []
    if rule.iif:
        parts.append(f"iifname {_set(rule.iif, quote=True)}")
    if rule.oif:
        parts.append(f"oifname {_set(rule.oif, quote=True)}")
    if rule.saddr:
        parts.append(f"{_IP[_family(rule)]} saddr {_set(map(_address, rule.saddr))}")
    if rule.daddr:
        parts.append(f"{_IP[_family(rule)]} daddr {_set(map(_address, rule.daddr))}")
    if rule.icmp_types:
        parts.append(f"{rule.protocol} type {_set(rule.icmp_types)}")
    elif rule.sport or rule.dport:
        parts += [
            f"{rule.protocol} {k} {v}"
            for k, v in (("sport", rule.sport), ("dport", rule.dport))
            if v
        ]
    elif rule.protocol:
        parts.append(f"meta l4proto {_PROTOCOL_NUMBERS.get(rule.protocol, rule.protocol)}")
    if rule.ct_state:
        parts.append(f"ct state {','.join(rule.ct_state)}")
    if rule.mark is not None:
        parts.append(f"meta mark {rule.mark:#x}")
    parts += ["counter", rule.verdict, f'comment "{rule.comment}"']
    return " ".join(parts)


def _family(rule: Rule) -> int:
    assert rule.family is not None, "a rule with addresses has their family (rules.per_family)"
    return rule.family


def _address(network: Network) -> str:
    """A host as nft prints it (no /32 or /128), so a listing reads like the rendering."""
    single = network.prefixlen == network.max_prefixlen
    return str(network.network_address) if single else str(network)


def _set(items: Iterable[object], quote: bool = False) -> str:
    values = [f'"{i}"' if quote else str(i) for i in items]
    return values[0] if len(values) == 1 else "{ " + ", ".join(values) + " }"
