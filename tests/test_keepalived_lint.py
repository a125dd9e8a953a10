"""The linter finds what keepalived -t finds, with the same lines, plus our semantic checks."""

from __future__ import annotations

import doctest
import os
import re
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from cluster.keepalived import lint as lint_module
from cluster.keepalived.lint import lint, lint_directors, lint_file
from cluster.keepalived.syntax import parse_text

ARTICLE = Path(__file__).parent / "data" / "article"

# What keepalived 2.2.7's -t prints for the article's configurations, as (our code, line),
# plus the missing '}' keepalived reports without a line, which we place on the '{' left open.
KEEPALIVED_FINDINGS = {
    "director01.conf": {
        ("unknown-keyword", 79),  # nat_mask
        ("deprecated-keyword", 102),  # nb_get_retry
        ("unknown-keyword", 111),  # virtual_server inside virtual_server
        ("ignored-brace", 111),  # Unexpected '{' - ignoring
        ("unknown-keyword", 115),  # nat_mask, read as part of the port-80 service
        ("deprecated-keyword", 129),
        ("unclosed-block", 75),  # There are 1 missing '}'s or extra '{'s
    },
    "director02.conf": {
        ("unknown-keyword", 54),
        ("deprecated-keyword", 75),
        ("unknown-keyword", 81),
        ("ignored-brace", 81),
        ("unknown-keyword", 85),
        ("deprecated-keyword", 99),
        ("unclosed-block", 50),
    },
}


def findings(text: str) -> set[tuple[str, int]]:
    return {(p.code, p.location.line) for p in lint(parse_text(text, "t.conf"))}


def test_docstring_examples() -> None:
    assert doctest.testmod(lint_module).failed == 0


@pytest.mark.parametrize("name", sorted(KEEPALIVED_FINDINGS))
def test_article_configs(name: str) -> None:
    problems = lint_file(ARTICLE / name)
    not_info = {(p.code, p.location.line) for p in problems if p.severity != "info"}
    auth_lines = {"director01.conf": {47, 64}, "director02.conf": {26, 42}}[name]
    # Our own findings: passwords in clear, and a notify script run as root.
    ours = {("plain-text-auth", n) for n in auth_lines} | {
        ("script-security", {"director01.conf": 3, "director02.conf": 1}[name])
    }
    assert not_info == KEEPALIVED_FINDINGS[name] | ours
    assert problems == sorted(problems, key=lambda p: p.location)
    assert all(p.fix for p in problems)
    swallowed = next(p for p in problems if p.code == "ignored-brace")
    assert "closes virtual_server instead" in swallowed.message


def test_article_first_config_is_the_one_with_the_missing_brace() -> None:
    unclosed = [p for p in lint_file(ARTICLE / "director01.conf") if p.code == "unclosed-block"]
    assert [str(p.location) for p in unclosed] == [f"{ARTICLE / 'director01.conf'}:75"]
    assert "There are 1 missing '}'s" in unclosed[0].message


def instance(body: str, *, extra: str = "") -> str:
    return (
        f"{extra}vrrp_instance VI_1 {{\n  interface eth0\n  virtual_router_id 41\n"
        f"{body}  virtual_ipaddress {{\n    10.0.0.1\n  }}\n}}\n"
    )


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("  priority 100\n", set()),
        ("  state MASTER\n", {("master-owner-priority", 4)}),
        (
            "  state MASTER\n  priority 100\n  nopreempt\n  preempt_delay 5\n",
            {("nopreempt-with-master", 6), ("preempt-delay-with-master", 7)},
        ),
        ("  advert_int 0.4\n", {("subsecond-advert", 4)}),
        ("  advert_int 0.4\n  version 3\n", set()),
        ("  advert_int 2\n", set()),
        ("  dont_track_primary\n", {("untracked-primary", 4)}),
        ("  dont_track_primary\n  track_interface {\n    eth1\n  }\n", set()),
        (
            "  authentication {\n    auth_type PASS\n    auth_pass 1111\n  }\n",
            {("plain-text-auth", 5)},
        ),
        (
            "  state MASTER\n  priority 100\n  authentication {\n    auth_type AH\n"
            "    auth_pass secret123\n  }\n",
            {("ah-auth", 7), ("bad-value", 8)},
        ),
        (
            "  version 3\n  authentication {\n    auth_type PASS\n    auth_pass 1\n  }\n",
            {("auth-ignored", 6)},
        ),
    ],
)
def test_vrrp_instance_checks(body: str, expected: set[tuple[str, int]]) -> None:
    assert findings(instance(body)) == expected


def directors_findings(master: str, backup: str) -> set[tuple[str, str, int, str]]:
    trees = [parse_text(master, "d1.conf"), parse_text(backup, "d2.conf")]
    return {(p.code, p.location.file, p.location.line, p.severity) for p in lint_directors(trees)}


def test_the_article_directors_agree() -> None:
    trees = [parse_text((ARTICLE / n).read_text(), n) for n in sorted(KEEPALIVED_FINDINGS)]
    assert lint_directors(trees) == []


@pytest.mark.parametrize(
    ("master", "backup", "expected"),
    [
        ("  priority 100\n", "  priority 50\n", set()),
        ("  priority 100\n", "  priority 100\n", {("equal-priority", "d1.conf", 8, "warning")}),
        # v2 drops adverts with another interval: both become master
        (
            "  priority 100\n  advert_int 1\n",
            "  priority 50\n  advert_int 5\n",
            {("pair-mismatch", "d1.conf", 9, "error")},
        ),
        # v3 backups follow the master's interval
        (
            "  priority 100\n  version 3\n  advert_int 1\n",
            "  priority 50\n  version 3\n  advert_int 5\n",
            {("pair-mismatch", "d1.conf", 10, "warning")},
        ),
        # a weight of -30 cannot cross a gap of 50; -60 can; no weight faults the instance
        (
            "  priority 100\n  track_interface {\n    eth1 weight -30\n  }\n",
            "  priority 50\n",
            {("weight-within-gap", "d1.conf", 10, "warning")},
        ),
        ("  priority 100\n  track_interface {\n    eth1 weight -60\n  }\n", "  priority 50\n",
         set()),
        ("  priority 100\n  track_interface {\n    eth1\n  }\n", "  priority 50\n", set()),
        # -40 cannot cross a gap of 50, but it can once a passing script lifts the backup to 70
        ("  priority 100\n  track_script {\n    chk weight -40\n  }\n", "  priority 50\n",
         {("weight-within-gap", "d1.conf", 10, "warning")}),
        (
            "  priority 100\n  track_script {\n    chk weight -40\n  }\n",
            "  priority 50\n  track_script {\n    chk weight 20\n  }\n",
            set(),
        ),
    ],
)  # fmt: skip
def test_directors_read_together(master: str, backup: str, expected: set[tuple]) -> None:
    script = 'vrrp_script chk {\n  script "/bin/true"\n  weight -60\n}\n'
    assert directors_findings(instance(master, extra=script), instance(backup)) == expected


def test_ah_with_master_mentions_the_forced_backup_start() -> None:
    body = "  state MASTER\n  priority 100\n  authentication {\n    auth_type AH\n  auth_pass x }\n"
    (problem,) = lint(parse_text(instance(body)))
    assert "as BACKUP" in problem.message


def test_sync_group_checks() -> None:
    text = (
        "vrrp_sync_group G {\n  group {\n    VI_1\n    VI_9\n  }\n}\n"
        "vrrp_sync_group H {\n  group {\n    VI_1\n    VI_2\n  }\n}\n"
        + instance("  state MASTER\n")
        + instance("  priority 50\n").replace("VI_1", "VI_2")
    )
    assert findings(text) == {
        ("sync-group-unknown-instance", 4),
        ("sync-group-single", 1),
        ("sync-group-owner-mix", 7),
        ("master-owner-priority", 16),
    }


def test_virtual_server_checks() -> None:
    text = (
        "virtual_server 10.0.0.1 80 {\n  lb_kind NAT\n"
        "  real_server 10.1.0.2 80 {\n    weight 1\n  }\n"
        "  real_server 10.1.0.3 80 {\n    TCP_CHECK {\n    }\n  }\n}\n"
    )
    assert findings(instance("  priority 100\n") + text) == {
        ("unchecked-real-server", 11),
        ("nat-without-dip", 9),
        ("keepalived-default", 9),  # no protocol, and no lvs_sched: keepalived says so
        ("legacy-keyword", 10),
    }
    with_dip = instance("  priority 100\n").replace(
        "    10.0.0.1\n", "    10.0.0.1\n    10.1.0.1\n"
    )
    assert ("nat-without-dip", 10) not in findings(with_dip + text)


def test_deprecated_keywords_follow_their_block() -> None:
    text = (
        "global_defs {\n  lvs_flush_onstop\n}\n"
        "vrrp_track_file f {\n  file /tmp/x\n}\n"
        "virtual_server 10.0.0.1 80 {\n  real_server 10.1.0.2 80 {\n"
        "    TCP_CHECK {\n      nb_get_retry 3\n    }\n  }\n}\n"
    )
    # nb_get_retry is deprecated in HTTP_GET/SSL_GET but never existed in TCP_CHECK;
    # keepalived -t says nothing about lvs_flush_onstop and vrrp_track_file, so neither do we,
    # beyond a note.
    assert findings(text) == {
        ("legacy-keyword", 2),
        ("legacy-keyword", 4),
        ("unknown-keyword", 10),
        ("keepalived-default", 7),
    }


KEEPALIVED = shutil.which("keepalived")
LINE = re.compile(r"\((?:(?P<file>[^:]+): )?Line (?P<line>\d+)\) (?P<message>.*)")
CODES = {
    "Unknown keyword": "unknown-keyword",
    "is deprecated": "deprecated-keyword",
    "Unexpected '{'": "ignored-brace",
    "Extra '}'": "extra-brace",
    "Missing '{'": "missing-brace",
}


def keepalived_findings(path: Path) -> set[tuple[str, int]]:
    """Run keepalived -t in a scratch network namespace; map each file:line message to a code."""
    namespace = f"kt-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    subprocess.run(["ip", "netns", "add", namespace], check=True)
    try:
        result = subprocess.run(
            ["ip", "netns", "exec", namespace, KEEPALIVED or "", "-t", "-l", "-D", "-f", str(path)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        subprocess.run(["ip", "netns", "del", namespace], check=True)
    found = set()
    for line in (result.stdout + result.stderr).splitlines():
        match = LINE.search(line)
        code = next((c for text, c in CODES.items() if match and text in match["message"]), None)
        if match and code:
            found.add((code, int(match["line"])))
        if "missing '}'s" in line:
            found.add(("unclosed-block", 0))
    return found


@pytest.mark.keepalived
@pytest.mark.skipif(KEEPALIVED is None or os.geteuid() != 0, reason="needs keepalived and root")
@pytest.mark.parametrize("name", sorted(KEEPALIVED_FINDINGS))
def test_lint_agrees_with_keepalived(name: str) -> None:
    ours = {
        (p.code, 0 if p.code == "unclosed-block" else p.location.line)
        for p in lint_file(ARTICLE / name)
        if p.code in {*CODES.values(), "unclosed-block"}
    }
    assert ours == keepalived_findings(ARTICLE / name)


def test_cli_lint_reads_conditionals_and_checks_interfaces(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from cluster.cli import main

    conf = tmp_path / "k.conf"
    conf.write_text(
        "vrrp_instance V {\n  @lb1 interface eth9\n  @^lb1 interface eth0\n"
        "  virtual_router_id 5\n  virtual_ipaddress {\n    10.0.0.1\n  }\n}\n"
    )
    assert main(["lint", "--interfaces", "eth0,eth1", str(conf)]) == 0
    assert main(["lint", "-i", "lb1", "--interfaces", "eth0,eth1", str(conf)]) == 1
    assert f"{conf}:2: error: interface eth9" in capsys.readouterr().out
