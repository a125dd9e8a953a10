"""Lint against the real ``keepalived -t``: one-line mutations of a config keepalived accepts.

The base config (tests/data/differential/base.conf) has one of every block keepalived 2.2.7
knows, and ``keepalived -t`` accepts it with exit 0 and no output. From the keyword table the
test makes one mutation per bad (and per good) value of every keyword: out of range, wrong
type, not in the enum, missing, an undefined reference. It also deletes and duplicates every
line of the base, which removes required keywords, duplicates names and breaks braces. Each
mutation goes through ``keepalived -t`` (in one scratch namespace with eth0 and eth1, many at a
time) and through lint, and the two must flag the same lines:

* keepalived names a line for most findings; lint must report exactly those lines;
* some checks keepalived makes after reading print no line ("no protocol set - defaulting to
  UDP"); then lint must report something inside the block that was mutated;
* when keepalived is silent, lint must be silent too.

Only lint's findings with a code in ``KEEPALIVED_CODES`` count: our own semantic findings
(a password sent in clear, a weight that cannot cross the priority gap) are not keepalived's.

Where the two disagree for a reason lint cannot know (the users of the machine, DNS), the
mutation is listed in ``KNOWN`` with the reason; any other disagreement fails the test, and so
does agreement under 95 %.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest

from cluster.keepalived import values
from cluster.keepalived.keywords import ENTRIES, GRAMMAR, TOP, VALUES
from cluster.keepalived.lint import KEEPALIVED_CODES, lint
from cluster.keepalived.process import check_configs
from cluster.keepalived.syntax import Node, parse_text

BASE = Path(__file__).parent / "data" / "differential" / "base.conf"
INTERFACES = ("eth0", "eth1")
LINE = re.compile(r"\((?:[^:()]+: )?Line (?P<line>\d+)\) ")
UNCLOSED = 0
"""keepalived counts missing '}'s without a line; both sides map that finding to line 0."""

_USERS = "keepalived looks the user up on the machine it runs on; lint cannot know its users"
_CPUS = "keepalived checks CPU numbers against this machine's CPU count; lint cannot know it"
KNOWN: dict[str, str] = {
    **{f"{block}/user {value!r}": _USERS for block in ("MISC_CHECK", "vrrp_script")
       for value in ("xxxxxxxx", "xxxxxxxxx", "xxxxxxxx xxxxxxxx", "xxxxxxxx xxxxxxxxx")},
    **{f"global_defs/script_user {value!r}": _USERS
       for value in ("", "xxxxxxxx", "xxxxxxxxx", "xxxxxxxx xxxxxxxx", "xxxxxxxx xxxxxxxxx")},
    "delete line 7: script_user root": "without script_user, keepalived runs scripts as "
    "keepalived_script, a user Debian does not create; " + _USERS,
    **{f"global_defs/{process}_cpu_affinity '2147483647'": _CPUS
       for process in ("vrrp", "checker", "bfd")},
    **{f"global_defs/config_save_dir {value!r}": "keepalived copies the config into this "
       "directory of the machine; lint does not look at the file system"
       for value in ("xxxxxxxx", "xxxxxxxxx")},
    "delete line 6: enable_script_security": "keepalived warns about script security only "
    "for scripts that exist on the machine; lint warns for every script (script-security, "
    "our own code)",
    "UDP_CHECK/min_reply_length '65535'": "a cross-check of min_reply_length against the "
    "default max_reply_length, not modelled",
    "bfd_instance/source_ip '::1'": "a cross-check of source_ip's family against "
    "neighbor_ip's, not modelled",
    "vrrp_track_process/quorum_max '0'": "a cross-check of quorum against an earlier "
    "quorum_max, not modelled",
}  # fmt: skip
"""Mutations where lint and keepalived -t disagree, with the reason lint cannot follow."""


@dataclass(frozen=True)
class Mutation:
    """One changed config and where the change is: its line and its top-level block."""

    label: str
    text: str
    line: int
    block: tuple[int, int]


def bad_and_good(kind: values.Kind) -> list[str]:
    """Argument strings for one kind: values keepalived should refuse, and some it takes.

    "" stands for the keyword alone.
    """
    if isinstance(kind, values.Number):
        low, high = kind.low, kind.high
        return [str(low - 1), str(high + 1), "abc", "", str(low), str(high)]
    if isinstance(kind, values.Seconds):
        low, high = Decimal(kind.low), Decimal(kind.high)
        step = Decimal(1).scaleb(-kind.digits)
        below = [f"{low - step:f}"] if low > 0 else []
        return [*below, f"{high + 1:f}", "abc", "-1", "1." + "1" * (kind.digits + 1), "",
                f"{low:f}", "1"]  # fmt: skip
    if isinstance(kind, values.Choice):
        return ["BOGUS", "", *kind.words]
    if isinstance(kind, values.Flag):
        return ["maybe", "", "on", "false"]
    if isinstance(kind, values.Word):
        longest = kind.max_len or 8
        return [*([""] if kind.required else []), "x" * (longest + 1), "x" * longest]
    if isinstance(kind, values.Address):
        good = "ff02::12" if kind.family == 6 else "224.0.0.18" if kind.multicast else "192.0.2.7"
        return ["300.1.1.1", "abc", "", "192.0.2.7" if kind.multicast else "::1", good]
    if isinstance(kind, values.Optional):
        return [value for value in bad_and_good(kind.kind) if value]
    if isinstance(kind, values.Args):
        first = bad_and_good(kind.kinds[0])
        good = first[-1]
        return first + [f"{good} {rest}" for rest in bad_and_good(kind.kinds[1]) if rest]
    if isinstance(kind, values.Each):
        return bad_and_good(kind.kind)
    return EXAMPLES.get(type(kind), [])


EXAMPLES: dict[type[values.Kind], list[str]] = {
    values.Host: ["10.0.0.300", "192.0.2.25 0", "192.0.2.25 70000", "192.0.2.25 587", "::1"],
    values.SyncDaemon: ["eth1 VI_1 300", "eth1 VI_1 id abc", "eth1 VI_1 bogus 1", "eth1 VI_1 id",
                        "eth1 VI_1 5", "eth1 VI_1 port 0", "eth1 VI_1 group 10.0.0.1",
                        "eth1 VI_1 id 7 port 8848", "eth1 inst VI_1"],
    values.Umask: ["0778", "IWGRP|BOGUS", "abc", "0077", "IWGRP|IWOTH"],
    values.ExtraInterval: ["all", "abc", "90000", "all 30", "30"],
    values.Forwarding: ["FOO", "TUN type gue", "TUN type bogus", "TUN port 80", "DR csum",
                        "TUN type gre remcsum", "DR", "TUN type gue port 6080", "TUN"],
    values.StatusCodes: ["999", "200-99", "20x", "", "200-299 404 503", "100"],
    values.Digest: ["abc", "0123456789abcdef0123456789abcdeg", "",
                    "0123456789ABCDEF0123456789ABCDEF"],
    values.Granularity: ["255.0.255.0", "300.0.0.0", "", "255.255.255.0"],
    values.Umask: ["0778", "IWGRP|BOGUS", "0077", "IWGRP|IWOTH"],
    values.Reported: [""],
    values.Either: ["BOGUS", "mtu", "1024"],
    values.Vip: ["192.168.1.10/33", "10.0.0.300", "10.0.0.5 dev", "10.0.0.5 bogus",
                 "10.0.0.5 scope bogus", "10.0.0.5 brd 1.2.3", "10.0.0.5 label eth0:averyverylong",
                 "10.0.0.5 dev eth9", "fe80::5 brd 10.0.0.255", "10.0.0.5/24 dev eth1 label eth1:a",
                 "10.0.0.5 scope link", "10.0.0.5 brd +", "2001:db8::5/64 dev eth0"],
    values.Peer: ["10.0.0.300", "abc", "10.0.0.3 min_ttl", "10.0.0.3 min_ttl 300",
                  "10.0.0.3 bogus 1", "10.0.0.3 min_ttl 200 max_ttl 100", "10.0.0.3",
                  "10.0.0.3 min_ttl 1 max_ttl 64"],
    values.Route: ["10.7.0.0/16 dev eth1", "default via 10.0.0.250 dev eth1 table 100",
                   "10.7.0.0/16 via 2001:db8::1 dev eth1", "10.7.0.0/16 dev eth1 metric abc",
                   "10.7.0.0/16 dev eth1 bogus", "via 10.0.0.250 dev eth1",
                   "10.7.0.0/16 via 10.0.0.250", "10.7.0.0/16 via 10.0.0.250 no_track",
                   "10.7.0.0/16 dev eth1 table bogus", "10.7.0.0/16 dev eth1 scope bogus",
                   "10.7.0.0/16 dev eth1 protocol static", "blackhole 10.7.0.0/16 dev eth1",
                   "10.7.0.0/16 dev eth1 hoplimit 300", "10.7.0.0/16 dev eth1 mtu lock 1400",
                   "10.7.0.0/16 gw 10.0.0.250 dev eth1", "10.7.0.0/16 dev eth9",
                   "10.7.0.0/16 src 10.0.0.254 dev eth1 metric 5 scope link"],
    values.Rule: [f"{rule} priority {n}" for n, rule in enumerate([
        "from 10.7.0.0/16 table 102", "from 10.7.0.0/16 table 102 bogus",
        "from 2001:db8::/32 to 10.7.0.0/16 table 102", "from abc table 102",
        "to 10.7.0.0/16 lookup main", "from 10.7.0.0/16 blackhole", "from 10.7.0.0/16 goto 50",
        "from 10.7.0.0/16 goto 500", "from 10.7.0.0/16 table 0", "from 10.7.0.0/16 table 102 nop",
        "not from 10.7.0.0/16 prohibit", "iif eth1 table 102", "iif eth9 table 102",
        "from 10.7.0.0/16 table bogus"], start=102)]
    + ["from 10.7.0.0/16 table 102", "from 10.7.0.0/16 priority 102",
       "from 10.7.0.0/16 table 102 priority x"],
    values.Vmac: ["", "vrrp.52", "vrrp.52 02:00:5e:00:01:34", "01:00:5e:00:01:34",
                  "00:00:5e:00:01:34", "averyveryverylongname", "zz:00", "02:00:5e:00:01"],
    values.Ipvlan: ["", "ipvl0", "ipvl0 10.0.0.99/24", "ipvl0 10.0.0.99/24 bridge",
                    "ipvl0 bridge private", "ipvl0 ipvl1", "averyveryverylongname"],
    values.Weighted: ["undefined_name", "NAME weight", "NAME weight 300", "NAME weight abc",
                      "NAME weight -254", "NAME bogus 5", "NAME weight 10 bogus", "NAME",
                      "NAME weight -60", "NAME weight 10 reverse"],
}  # fmt: skip


def _walk(nodes: tuple[Node, ...], block: str = TOP) -> Iterator[tuple[str, Node]]:
    for node in nodes:
        yield block, node
        sub = GRAMMAR[block].get(node.keyword, "")
        if node.children is not None and sub in GRAMMAR:
            yield from _walk(node.children, sub)


def _span(nodes: tuple[Node, ...], line: int) -> tuple[int, int]:
    """The lines of the top-level block holding ``line`` (or the line itself at the top)."""
    for node in nodes:
        end = node.end.line if node.end else node.location.line
        if node.location.line <= line <= end:
            return node.location.line, end
    return line, line


def mutations() -> list[Mutation]:
    text = BASE.read_text()
    lines = text.split("\n")
    tree = parse_text(text, "base.conf")
    first_block: dict[str, Node] = {}
    for block, node in _walk(tree.nodes):
        sub = GRAMMAR[block].get(node.keyword, "")
        if node.children is not None and sub in GRAMMAR:
            first_block.setdefault(sub, node)
    found: list[Mutation] = []

    def add(label: str, new_lines: list[str], line: int) -> None:
        new_text = "\n".join(new_lines)
        span = _span(parse_text(new_text, "m").nodes, line)
        found.append(Mutation(label, new_text, line, span))

    top_line = next(i for i, line in enumerate(lines) if not line.startswith("!"))
    for (block, keyword), kind in VALUES.items():
        if block == TOP:
            index, existing = top_line, None
        elif block in first_block:
            parent = first_block[block]
            index = parent.location.line  # 0-based index of the line after the opening one
            existing = parent.find(keyword)
        else:
            continue
        if GRAMMAR[block][keyword] != "value" and block != TOP:
            continue
        for value in bad_and_good(kind):
            if block == TOP and GRAMMAR[TOP][keyword] != "value":
                new = f"{keyword} {value} {{\n}}" if value else f"{keyword} {{\n}}"
            else:
                new = f"{keyword} {value}".rstrip()
            changed = list(lines)
            if existing is not None and existing.children is None:
                changed[existing.location.line - 1] = "  " + new
                line = existing.location.line
            else:
                changed.insert(index, "  " + new)
                line = index + 1
            add(f"{block}/{keyword} {value!r}", changed, line)
    for (block, keyword), kind in ENTRIES.items():
        parent = tree if block == TOP else first_block.get(block)
        node = parent.find(keyword) if parent else None
        if node is None:
            continue
        name = node.children[0].keyword if node.children else ""
        for value in bad_and_good(kind):
            changed = list(lines)
            changed.insert(node.location.line, "    " + value.replace("NAME", name))
            add(f"{block}/{keyword} entry {value!r}", changed, node.location.line + 1)
    for index, line in enumerate(lines):
        if line.strip() and not line.startswith("!"):
            add(f"delete line {index + 1}: {line.strip()}", lines[:index] + lines[index + 1 :],
                index + 1)  # fmt: skip
            add(f"duplicate line {index + 1}: {line.strip()}",
                lines[: index + 1] + lines[index:], index + 2)  # fmt: skip
    return found


def keepalived_lines(output: str) -> tuple[set[int], bool]:
    """The lines keepalived -t names, and whether it also said something without a line."""
    numbered: set[int] = set()
    lineless = False
    for line in output.splitlines():
        if match := LINE.search(line):
            numbered.add(int(match["line"]))
        elif "missing '}'s" in line:
            numbered.add(UNCLOSED)
        elif line.strip():
            lineless = True
    return numbered, lineless


def lint_lines(text: str) -> set[int]:
    problems = lint(parse_text(text, "-"), INTERFACES)
    return {
        UNCLOSED if p.code == "unclosed-block" else p.location.line
        for p in problems
        if p.code in KEEPALIVED_CODES and p.severity != "info"
    }


def agrees(mutation: Mutation, output: str) -> tuple[bool, str]:
    """Whether lint flags the lines keepalived flags, by the rules in the module docstring.

    Some of keepalived's own habits shape them: a keyword without its argument stops
    keepalived on the spot ("missing a parameter"), so it reports nothing after that line;
    with unbalanced braces -t skips most later checks; and once it has printed a finding
    without a line, the lines it names are not the whole story. Lint reports more in these
    cases, which is right, so there only keepalived's lines must be among lint's.
    """
    numbered, lineless = keepalived_lines(output)
    ours = lint_lines(mutation.text)
    if "is missing a parameter" in output or UNCLOSED in numbered or (numbered and lineless):
        ok = numbered <= ours
    elif numbered:
        ok = ours == numbered
    elif lineless:
        ok = bool(ours)
    else:
        ok = not ours
    return (
        ok,
        f"keepalived {sorted(numbered)}{' +lineless' if lineless else ''}, lint {sorted(ours)}",
    )


def test_base_is_clean_for_both(root_with_keepalived: None) -> None:
    (result,) = check_configs([BASE.read_text()], INTERFACES)
    assert (result.exit_code, result.output) == (0, "")
    assert lint_lines(BASE.read_text()) == set()


def test_lint_agrees_with_keepalived_on_mutations(
    root_with_keepalived: None, capsys: pytest.CaptureFixture[str]
) -> None:
    cases = mutations()
    results = check_configs([case.text for case in cases], INTERFACES)
    disagreements = {}
    for case, result in zip(cases, results, strict=True):
        ok, detail = agrees(case, result.output)
        if not ok:
            disagreements[case.label] = f"{detail}: {result.output.strip()[:300]}"
    agreed = len(cases) - len(disagreements)
    with capsys.disabled():
        print(f"\ndifferential: {len(cases)} mutations, {agreed} agree "
              f"({100 * agreed / len(cases):.1f} %), {len(disagreements)} differ")  # fmt: skip
        for label, detail in sorted(disagreements.items()):
            print(f"  {label}: {detail}")
    unexplained = {label: d for label, d in disagreements.items() if label not in KNOWN}
    assert agreed >= 0.95 * len(cases)
    assert unexplained == {}
