"""The parser must read configurations as keepalived 2.2.7 does, and never crash."""

from __future__ import annotations

import doctest
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cluster.errors import ConfigSyntaxError, Location
from cluster.keepalived import keywords, syntax
from cluster.keepalived.syntax import ConfigTree, parse_file, parse_text

SAMPLES = sorted(Path("/usr/share/doc/keepalived/samples").glob("keepalived.conf.*"))
ARTICLE = sorted((Path(__file__).parent / "data" / "article").glob("*.conf"))

# The one Debian sample keepalived itself rejects: "group { VI_1" leaves VI_2, VI_3 outside.
SAMPLE_ERRORS = {"keepalived.conf.vrrp.lvs_syncd": {("unknown-keyword", 4), ("unknown-keyword", 5)}}


def codes(tree: ConfigTree) -> set[tuple[str, int]]:
    return {(problem.code, problem.location.line) for problem in tree.problems}


@pytest.mark.parametrize("module", [syntax, keywords])
def test_docstring_examples(module: object) -> None:
    assert doctest.testmod(module).failed == 0  # type: ignore[arg-type]


@pytest.mark.skipif(not SAMPLES, reason="keepalived samples not installed")
@pytest.mark.parametrize("sample", SAMPLES, ids=lambda path: path.name)
def test_debian_samples_parse_as_keepalived_does(sample: Path) -> None:
    tree = parse_file(sample)
    errors = {(p.code, p.location.line) for p in tree.problems if p.severity != "info"}
    assert errors == SAMPLE_ERRORS.get(sample.name, set())
    assert tree.nodes


def test_braces_split_wherever_they_stand() -> None:
    tree = parse_text(
        'global_defs{router_id "lb 1"}\n'
        "vrrp_instance VI_1 { state BACKUP\n"
        "  virtual_ipaddress { 10.0.0.1/24 dev eth0 }}\n"
    )
    assert tree.problems == ()
    assert tree.find("global_defs").find("router_id").args == ("lb 1",)  # type: ignore[union-attr]
    vi = tree.find("vrrp_instance")
    assert vi is not None and vi.find("state").args == ("BACKUP",)  # type: ignore[union-attr]
    entry = vi.find("virtual_ipaddress").children[0]  # type: ignore[union-attr,index]
    assert (entry.keyword, entry.args, entry.location.line) == ("10.0.0.1/24", ("dev", "eth0"), 3)


def test_comments_end_lines_but_not_quoted_strings() -> None:
    tree = parse_text(
        "! whole line\n"
        "vrrp_script chk { # trailing\n"
        '  script "/bin/check --tag #1 !x"   ! comment\n'
        "  weight \\#2\n"
        "}\n"
    )
    script = tree.find("vrrp_script")
    assert script is not None and tree.problems == ()
    assert script.find("script").args == ("/bin/check --tag #1 !x",)  # type: ignore[union-attr]
    assert script.find("weight").args == ("#2",)  # type: ignore[union-attr]


def test_unknown_keyword_block_is_swallowed_into_the_enclosing_block() -> None:
    tree = parse_text(
        "vrrp_instance VI_1 {\n  bogus_block {\n    priority 50\n  }\n  priority 100\n}\n"
    )
    vi = tree.find("vrrp_instance")
    assert vi is not None
    # The bogus block's '}' closes vrrp_instance; "priority 100" lands at the top level.
    assert [n.keyword for n in vi.children or ()] == ["priority"]
    assert codes(tree) == {
        ("unknown-keyword", 2),
        ("ignored-brace", 2),
        ("unknown-keyword", 5),
        ("unknown-keyword", 6),
    }


def test_stray_and_missing_braces() -> None:
    tree = parse_text(
        "}\nvrrp_script chk\n  script /bin/true\n}\nvrrp_instance X {\n  state MASTER"
    )
    # As keepalived does, the '}' closing the brace-less block also counts as an extra '}'.
    assert codes(tree) == {
        ("extra-brace", 1),
        ("missing-brace", 3),
        ("extra-brace", 4),
        ("unclosed-block", 5),
    }
    assert tree.find("vrrp_script").find("script") is not None  # type: ignore[union-attr]


def test_list_block_without_brace_takes_lines_up_to_the_next_close() -> None:
    tree = parse_text("vrrp_instance X {\n  track_interface eth0\n  eth1\n}\n")
    vi = tree.find("vrrp_instance")
    assert codes(tree) == {("list-arguments", 2), ("missing-brace", 3)}
    assert [n.keyword for n in vi.find("track_interface").children] == ["eth1"]  # type: ignore[union-attr]


def test_includes_follow_globs_relative_to_the_including_file(tmp_path: Path) -> None:
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "conf.d" / "b.conf").write_text("\nvrrp_script b {\n  bogus\n}\n")
    (tmp_path / "conf.d" / "a.conf").write_text("include ../common/*.conf\nvrrp_script a {\n}\n")
    (tmp_path / "common").mkdir()
    (tmp_path / "common" / "g.conf").write_text("global_defs {\n  router_id lb1\n}\n")
    main = tmp_path / "keepalived.conf"
    main.write_text("! main\ninclude conf.d/*.conf\ninclude missing.conf\ninclude none/*.conf\n")
    tree = parse_file(main)
    assert [(n.keyword, n.location) for n in tree.nodes] == [
        ("global_defs", Location(str(tmp_path / "conf.d/../common/g.conf"), 1)),
        ("vrrp_script", Location(str(tmp_path / "conf.d/a.conf"), 2)),
        ("vrrp_script", Location(str(tmp_path / "conf.d/b.conf"), 2)),
    ]
    assert {(p.code, p.location) for p in tree.problems} == {
        ("unknown-keyword", Location(str(tmp_path / "conf.d/b.conf"), 3)),
        ("include-missing", Location(str(main), 3)),
        ("include-no-match", Location(str(main), 4)),
    }
    assert len(tree.files) == 4


def test_include_loop_is_reported_not_followed(tmp_path: Path) -> None:
    (tmp_path / "a.conf").write_text("include b.conf\nglobal_defs {\n}\n")
    (tmp_path / "b.conf").write_text("include a.conf\n")
    tree = parse_file(tmp_path / "a.conf")
    assert [p.code for p in tree.problems] == ["include-loop"]
    assert [n.keyword for n in tree.nodes] == ["global_defs"]


def test_conditionals_definitions_and_sequences() -> None:
    text = (
        "$IF=eth1\n"
        "@lb1 $PRIO=150\n"
        "@^lb1 $PRIO=100\n"
        "$ADDRS= \\\n"
        "  10.0.0.1 \\\n"
        "  10.0.0.2\n"
        "vrrp_instance VI_1 {\n"
        "  interface $IF\n"
        "  priority ${PRIO}\n"
        "  virtual_ipaddress {\n"
        "    $ADDRS\n"
        "  }\n"
        "}\n"
        "~SEQ(N, 2, 3) vrrp_script chk$N { script /bin/check$N }\n"
    )
    for config_id, priority in (("lb1", "150"), ("lb2", "100")):
        tree = parse_text(text, config_id=config_id)
        vi = tree.find("vrrp_instance")
        assert vi is not None
        assert vi.find("interface").args == ("eth1",)  # type: ignore[union-attr]
        assert vi.find("priority").args == (priority,)  # type: ignore[union-attr]
        vips = vi.find("virtual_ipaddress").children  # type: ignore[union-attr]
        assert [(n.keyword, n.location.line) for n in vips or ()] == [
            ("10.0.0.1", 11),
            ("10.0.0.2", 11),
        ]
        scripts = tree.find_all("vrrp_script")
        assert [(n.args, n.find("script").args) for n in scripts] == [  # type: ignore[union-attr]
            (("chk2",), ("/bin/check2",)),
            (("chk3",), ("/bin/check3",)),
        ]
        assert {p.severity for p in tree.problems} == {"info"}


def test_self_referencing_definition_stops() -> None:
    tree = parse_text("$A=x$A\nglobal_defs {\n  router_id $A\n}\n")
    assert tree.find("global_defs") is not None
    assert any(p.code == "substitution-too-long" for p in tree.problems)
    tree = parse_text("$A=$B\n$B=$A\nglobal_defs {\n  router_id $A\n}\n")
    assert [(p.code, p.location.line) for p in tree.problems] == [("substitution-loop", 4)]


def test_unreadable_main_file_raises(tmp_path: Path) -> None:
    with pytest.raises(ConfigSyntaxError, match="cannot read"):
        parse_file(tmp_path / "missing.conf")
    for special in ("/dev/zero", "/dev/null", str(tmp_path)):
        with pytest.raises(ConfigSyntaxError, match="keepalived reads only regular"):
            parse_file(special)


def test_bytes_that_are_not_utf8_are_read_as_keepalived_reads_them(tmp_path: Path) -> None:
    path = tmp_path / "latin1.conf"
    path.write_bytes(b"! caf\xe9\nglobal_defs {\n router_id lb1\n}\n")
    assert parse_file(path).problems == ()
    path.write_bytes(b"global_defs {\n router_id caf\xe9\n}\n")
    tree = parse_file(path)
    assert tree.find("global_defs").find("router_id").args == ("caf\\xe9",)  # type: ignore[union-attr]
    assert [(p.code, p.location.line, p.severity) for p in tree.problems] == [
        ("not-utf8", 2, "info")
    ]


def test_long_lines_split_as_keepalived_splits_them() -> None:
    # keepalived reads 1023 bytes at a time: the rest of a long comment is a new "line".
    text = "! " + "x" * 1100 + " bogus\nglobal_defs {\n  router_id lb1\n}\nnot_a_keyword\n"
    tree = parse_text(text, "t.conf")
    assert codes(tree) == {("long-line", 1), ("unknown-keyword", 1), ("unknown-keyword", 5)}
    assert tree.find("global_defs").find("router_id").location.line == 3  # type: ignore[union-attr]


def test_seq_expands_fully_and_stops_cleanly_at_the_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    text = "~SEQ(N, 1, 20000) vrrp_script chk$N { script /bin/true }\n"
    tree = parse_text(text)
    assert len(tree.find_all("vrrp_script")) == 20000
    assert tree.problems == ()
    monkeypatch.setattr(syntax, "MAX_EXPANSIONS", 100)
    tree = parse_text(text)
    assert [(p.code, p.severity) for p in tree.problems] == [("expansion-limit", "warning")]
    assert 0 < len(tree.find_all("vrrp_script")) <= 100


def test_includes_read_regular_files_only(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.conf"
    os.mkfifo(fifo)
    (tmp_path / "dir.conf").mkdir()
    script = tmp_path / "exec.conf"
    script.write_text("global_defs {\n}\n")
    script.chmod(0o755)
    main = tmp_path / "keepalived.conf"
    main.write_text(
        f"include /dev/zero\ninclude {fifo}\ninclude dir.conf\ninclude exec.conf\n"
        "vrrp_script chk {\n  script /bin/true\n}\n"
    )
    tree = parse_file(main)  # must neither hang on the FIFO nor fill memory from /dev/zero
    assert [(p.code, p.location.line, p.severity) for p in tree.problems] == [
        ("include-not-regular", line, "warning") for line in (1, 2, 3, 4)
    ]
    assert [n.keyword for n in tree.nodes] == ["vrrp_script"]


def test_huge_files_and_deep_nesting_are_refused_or_read_quickly(tmp_path: Path) -> None:
    huge = tmp_path / "huge.conf"
    with huge.open("wb") as out:
        out.truncate(syntax.MAX_FILE_BYTES + 1)
    with pytest.raises(ConfigSyntaxError, match="MiB"):
        parse_file(huge)
    deep = "{\n" * 50_000 + "vrrp_instance X {\n" * 2_000 + "}\n" * 60_000
    tree = parse_text(deep)
    assert any(p.code == "ignored-brace" for p in tree.problems)


def test_include_loops_through_globs_stop(tmp_path: Path) -> None:
    (tmp_path / "a.conf").write_text("include *.conf\nglobal_defs {\n}\n")
    tree = parse_file(tmp_path / "a.conf")
    assert {p.code for p in tree.problems} == {"include-loop"}


def _parse_or_syntax_error(text: str) -> None:
    try:
        tree = parse_text(text, "fuzz.conf")
    except ConfigSyntaxError:
        return
    assert all(problem.location.line >= 0 for problem in tree.problems)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=st.sampled_from([*'{}"!#$@~\\ \t\n=(),xSEQ', "a", "1"])))
def test_random_text_never_crashes(text: str) -> None:
    _parse_or_syntax_error(text)


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_arbitrary_unicode_never_crashes(text: str) -> None:
    _parse_or_syntax_error(text)


CORPUS = [path.read_text() for path in [*SAMPLES, *ARTICLE]]


@st.composite
def mutated_config(draw: st.DrawFn) -> str:
    lines = draw(st.sampled_from(CORPUS)).split("\n")
    for _ in range(draw(st.integers(1, 6))):
        index = draw(st.integers(0, max(len(lines) - 1, 0)))
        action = draw(st.sampled_from(["delete", "duplicate", "brace", "unbrace", "truncate"]))
        if action == "delete" and lines:
            del lines[index]
        elif action == "duplicate" and lines:
            lines.insert(index, lines[index])
        elif action == "brace":
            lines.insert(index, draw(st.sampled_from(["{", "}", "} }", "x {"])))
        elif action == "unbrace" and lines:
            lines[index] = lines[index].replace(draw(st.sampled_from(["{", "}"])), "", 1)
        elif action == "truncate":
            lines = lines[:index]
    return "\n".join(lines)


@settings(max_examples=300, deadline=None)
@given(mutated_config())
def test_mutated_real_configs_never_crash(text: str) -> None:
    _parse_or_syntax_error(text)
