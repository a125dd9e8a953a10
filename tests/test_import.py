"""keepalived.conf -> spec -> keepalived.conf keeps what keepalived would run."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cluster.cli import main
from cluster.errors import Problem, SpecError
from cluster.keepalived.importer import ALIASES, CHECKERS, import_keepalived_confs
from cluster.keepalived.keywords import DEFAULTS as KEEPALIVED_DEFAULTS
from cluster.keepalived.keywords import TOP
from cluster.keepalived.lint import lint
from cluster.keepalived.process import check_config
from cluster.keepalived.render import render_keepalived_conf
from cluster.keepalived.syntax import ConfigTree, Node, parse_file, parse_text
from cluster.spec import read_spec

SAMPLES = sorted(Path("/usr/share/doc/keepalived/samples").glob("keepalived.conf.*"))
ARTICLE = Path(__file__).parent / "data" / "article"


def essence(tree: ConfigTree) -> dict[str, object]:
    """What an import must keep: instances with VIPs, services, real servers, checker types."""
    instances = {
        n.arg(0): sorted({e.keyword.split("/")[0] for e in n.find("virtual_ipaddress").children})
        for n in tree.find_all("vrrp_instance")
        if n.find("virtual_ipaddress") is not None
    }
    services = {
        " ".join(n.args): sorted(
            (
                " ".join(rs.args),
                sorted(c.keyword for c in rs.children or () if c.keyword in CHECKERS)[:1],
            )
            for rs in n.find_all("real_server")
        )
        for n in tree.find_all("virtual_server")
        if n.arg(0) != "group"
    }
    return {"instances": instances, "services": services}


Key = tuple[str, ...]
"""A line of a tree by where it stands and what it says: the words of each enclosing block's
line, then its own (``("virtual_server 10.0.0.1 80", "real_server 10.0.0.2 80", "weight 1")``)."""


def flat(tree: ConfigTree) -> dict[Key, list[tuple[Node, ...]]]:
    """Every line of a tree in keepalived's terms (today's names for old keywords), each with
    its nodes from the outermost block in; a line written twice is there twice.

    Blocks are named by their keyword and arguments, urls by their order, so that the same
    setting in two files has the same key.
    """
    found: dict[Key, list[tuple[Node, ...]]] = {}

    def vip(word: str) -> str:
        return word if "/" in word or not word[:1].isdigit() else f"{word}/32"

    def walk(nodes: tuple[Node, ...], path: Key, chain: tuple[Node, ...]) -> None:
        urls = 0
        for node in nodes:
            keyword = ALIASES.get(node.keyword, node.keyword)
            words = " ".join([keyword, *node.args])
            if path and path[-1].startswith(("virtual_ipaddress", "track_", "group", "unicast")):
                words = " ".join([vip(node.keyword), *node.args])
            if keyword == "url":
                urls += 1
                words = f"url #{urls}"
            found.setdefault((*path, words), []).append((*chain, node))
            if node.children is not None:
                walk(node.children, (*path, words), (*chain, node))

    walk(tree.nodes, (), ())
    return found


def keepalived_uses(block: Node | None, keyword: str) -> str | None:
    """What keepalived uses for ``keyword`` when ``block`` (None: the top level) leaves it
    out: keywords.DEFAULTS, but for the two defaults that depend on the block."""
    name = block.keyword if block is not None else TOP
    if block is not None and block.find(keyword) is not None:
        return None  # the config sets it: not a default
    if (name, keyword) == ("vrrp_instance", "priority") and block is not None:
        state = block.find("state")
        return "255" if state is not None and state.arg(0) == "MASTER" else "100"
    if (name, keyword) == ("vrrp_instance", "version") and block is not None:
        vips = block.find("virtual_ipaddress")
        six = any(":" in e.keyword for e in vips.children or ()) if vips is not None else False
        return "3" if six else "2"
    return KEEPALIVED_DEFAULTS.get((name, keyword))


def round_trip(original: ConfigTree, rendered: ConfigTree, warnings: list[Problem]) -> list[str]:
    """Every line of either tree the other lacks, keyword by keyword, that nothing explains.

    A line of the original that render drops must be reported by import, at its own line or
    at a block around it. A line render adds must be keepalived's default for a keyword the
    original leaves out, a new value of a line import reported, or named by a warning at the
    block it goes into (or at a line of that block).
    """
    before, after = flat(original), flat(rendered)
    reported = {w.location for w in warnings}
    unexplained = []
    for key, chains in before.items():
        for chain in chains[len(after.get(key, [])) :]:
            if not reported & {node.location for node in chain}:
                unexplained.append(f"lost {chain[-1].location}: {' / '.join(key)}")
    for key, chains in after.items():
        for chain in chains[len(before.get(key, [])) :]:
            if not _explained(key, chain[-1], before, warnings):
                unexplained.append(f"added: {' / '.join(key)}")
    return unexplained


def _explained(
    key: Key, node: Node, before: dict[Key, list[tuple[Node, ...]]], warnings: list[Problem]
) -> bool:
    keyword = ALIASES.get(node.keyword, node.keyword)
    depth = max((n for n in range(len(key)) if key[:n] in before or n == 0), default=0)
    parent = before[key[:depth]][0][-1] if depth else None
    if depth == len(key) - 1 and keepalived_uses(parent, keyword) == " ".join(node.args):
        return True
    same_keyword = [
        chain[-1].location
        for other, chains in before.items()
        if other[:-1] == key[:-1] and other[-1].split()[0] == keyword
        for chain in chains
    ]
    if {w.location for w in warnings} & set(same_keyword):
        return True
    around = [parent] if parent is not None else []
    siblings = [*around, *((parent.children or ()) if parent is not None else original_top(before))]
    places = {n.location for n in siblings}
    named = re.compile(rf"(?<![\w-]){re.escape(keyword)}(?![\w-])")
    return any(w.location in places and named.search(w.message) for w in warnings)


def original_top(before: dict[Key, list[tuple[Node, ...]]]) -> list[Node]:
    return [chains[0][0] for key, chains in before.items() if len(key) == 1]


def test_samples_exist() -> None:
    """The sample-driven tests below must not pass by finding no samples."""
    assert len(SAMPLES) >= 20, "Debian's keepalived package ships 25 samples; install it"


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.name)
def test_render_of_import_keeps_every_sample(sample: Path) -> None:
    """Import then render keeps the sample's meaning, compared keyword by keyword both ways:
    every line of the original is in the rendered file or import reported it, and every line
    of the rendered file is in the original, a keepalived default, or reported."""
    original = parse_file(sample)
    spec, warnings = import_keepalived_confs([original])
    rendered = parse_text(render_keepalived_conf(spec, spec.directors[0].name), "rendered")
    assert essence(rendered) == essence(original)
    assert round_trip(original, rendered, warnings) == [], "changed without a word from import"


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.name)
def test_keepalived_accepts_the_render_of_every_sample(
    sample: Path, root_with_keepalived: None
) -> None:
    """keepalived -t accepts the rendered import wherever it accepts the original, and never
    says anything of the rendered file that it did not say of the original."""
    spec, _ = import_keepalived_confs([parse_file(sample)])
    director = spec.directors[0]
    interfaces = [i.name for i in director.interfaces]
    original = check_config(sample.read_text(), interfaces)
    rendered = check_config(render_keepalived_conf(spec, director.name), interfaces)
    if original.clean:
        assert (rendered.exit_code, rendered.output) == (0, "")
    assert complaints(rendered.output) <= complaints(original.output)


def complaints(output: str) -> set[str]:
    """keepalived -t's messages without the line numbers, which differ between the files."""
    return {re.sub(r"^\((?:[^:()]+: )?Line \d+\) ", "", line) for line in output.splitlines()}


def test_the_round_trip_check_can_fail() -> None:
    """A change import did not report is caught both ways: a lost line and an added one."""
    original = parse_text(
        "vrrp_instance V {\n  interface eth0\n  virtual_router_id 5\n  priority 150\n"
        "  virtual_ipaddress {\n    10.0.0.1\n  }\n}\n", "x.conf")  # fmt: skip
    rendered = parse_text(
        "vrrp_instance V {\n  interface eth0\n  virtual_router_id 5\n  advert_int 1\n"
        "  nopreempt\n  virtual_ipaddress {\n    10.0.0.1/32\n  }\n}\n", "r.conf")  # fmt: skip
    assert round_trip(original, rendered, []) == [
        "lost x.conf:4: vrrp_instance V / priority 150",
        "added: vrrp_instance V / nopreempt",
    ]


def test_article_pair_imports_as_keepalived_reads_it() -> None:
    trees = [parse_file(ARTICLE / "director01.conf"), parse_file(ARTICLE / "director02.conf")]
    spec, warnings = import_keepalived_confs(trees, name="article")
    assert [(d.router_id, d.priority) for d in spec.directors] == [
        ("DIRECTOR01", 100),
        ("DIRECTOR02", 50),
    ]
    # The unclosed port-80 block swallows the 443 block's lines, so keepalived runs ONE
    # service, with the 443 block's persistence and its SSL_GET real server added to it.
    (service,) = spec.virtual_services
    assert service.endpoint == "192.168.0.174:80"
    assert service.persistence is not None and service.persistence.timeout == 3600
    assert [
        (str(rs.address), rs.port, rs.check and rs.check.type) for rs in service.real_servers
    ] == [
        ("192.168.170.25", 80, "TCP_CHECK"),
        ("192.168.170.35", 80, "HTTP_GET"),
        ("192.168.170.35", 443, "SSL_GET"),
    ]
    assert any("is never closed" in w.message for w in warnings)


def test_import_cli_writes_a_spec_that_loads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "imported.yaml"
    code = main(
        [
            "import",
            str(ARTICLE / "director01.conf"),
            str(ARTICLE / "director02.conf"),
            "--name",
            "article",
            "-o",
            str(out),
        ]
    )
    assert code == 0
    spec, _ = read_spec(out.read_text(), str(out))
    assert spec.name == "article" and len(spec.directors) == 2
    assert "director01.conf:79: error: unknown keyword 'nat_mask'" in capsys.readouterr().err


def test_import_names_the_line_of_what_cannot_be_a_spec(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    conf = tmp_path / "bad.conf"
    conf.write_text(
        "vrrp_instance V {\n  interface eth0\n  virtual_router_id 300\n"
        "  virtual_ipaddress {\n    192.0.2.1\n  }\n}\n"
    )
    assert main(["import", str(conf)]) == 3
    err = capsys.readouterr().err
    assert err.startswith(f"{conf}:3: error: virtual_router_id 300: 300 is outside 1-255")
    assert "(fix: use a whole number from 1 to 255)" in err


LB1 = """global_defs {
  router_id lb1
  vrrp_strict
  vrrp_garp_master_delay 1
}
vrrp_script chk {
  script "/bin/true"
  weight -20
}
vrrp_instance VI_1 {
  state BACKUP
  interface eth0
  virtual_router_id 51
  priority 150
  track_interface {
    eth1 weight -60
  }
  track_script {
    chk weight -30
  }
  virtual_ipaddress {
    192.168.1.10/24 dev eth1 label eth1:vip
  }
}
vrrp_instance VI_6 {
  state BACKUP
  interface eth0
  virtual_router_id 51
  priority 150
  virtual_ipaddress {
    2001:db8::10/64
  }
}
virtual_server 192.168.1.10 53 {
  protocol TCP
  lvs_sched rr
  sorry_server 10.0.0.99 53
  real_server 10.0.0.1 53 {
    HTTP_GET {
      url {
        path /
        status_code 200-299 404 503
      }
    }
  }
}
virtual_server 192.168.1.10 53 {
  protocol UDP
  real_server 10.0.0.1 53 {
  }
}
"""


def test_import_keeps_what_operators_write() -> None:
    """Each of these used to vanish or change on import (issue #11)."""
    spec, _ = import_keepalived_confs([parse_text(LB1, "lb1.conf")])
    rendered = render_keepalived_conf(spec, spec.directors[0].name)
    for line in [
        "vrrp_strict",
        "vrrp_garp_master_delay 1",
        "state BACKUP",  # the higher-priority director's state, as written
        "eth1 weight -60",
        "chk weight -30",
        "192.168.1.10/24 dev eth1 label eth1:vip",
        "status_code 200-299 404 503",
        "sorry_server 10.0.0.99 53",
        "protocol UDP",
    ]:
        assert f"  {line}\n" in rendered, line
    assert "state MASTER" not in rendered
    assert [s.name for s in spec.vrrp.scripts] == ["chk"]
    assert [s.name for s in spec.virtual_services] == ["192.168.1.10-53-tcp", "192.168.1.10-53-udp"]


def test_import_errors_are_in_our_words(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conf = tmp_path / "novip.conf"
    conf.write_text("vrrp_instance V {\n  interface eth0\n  virtual_router_id 5\n}\n")
    assert main(["import", str(conf)]) == 3
    err = capsys.readouterr().err
    assert err.startswith(f"{conf}:1: error: cannot import: vrrp.instances[0].virtual_ipaddresses")
    assert "pydantic" not in err and "List should" not in err and "(fix: " in err


def _unicast_conf(router_id: str, priority: int, source: str | None, peer: str) -> str:
    src = f"  unicast_src_ip {source}\n" if source else ""
    return (
        f"global_defs {{\n  router_id {router_id}\n}}\n"
        f"vrrp_instance VI_1 {{\n  interface eth0\n  virtual_router_id 51\n"
        f"  priority {priority}\n{src}  unicast_peer {{\n    {peer}\n  }}\n"
        "  virtual_ipaddress {\n    10.0.0.10/24\n  }\n}\n"
    )


def test_import_keeps_a_unicast_pair(root_with_keepalived: None) -> None:
    """Each file lists the other director; the spec holds both, and render gives each file
    back its own peer and source address, which keepalived -t accepts."""
    texts = [_unicast_conf("lb1", 150, "10.0.0.1", "10.0.0.2"),
             _unicast_conf("lb2", 100, "10.0.0.2", "10.0.0.1")]  # fmt: skip
    trees = [parse_text(text, f"lb{n}.conf") for n, text in enumerate(texts, 1)]
    spec, warnings = import_keepalived_confs(trees)
    assert [str(p) for p in spec.vrrp.instances[0].unicast_peers] == ["10.0.0.2", "10.0.0.1"]
    assert [str(d.unicast_src_ips["VI_1"]) for d in spec.directors] == ["10.0.0.1", "10.0.0.2"]
    assert not [w for w in warnings if w.code == "import-unicast"]
    for director, text in zip(spec.directors, texts, strict=True):
        rendered = render_keepalived_conf(spec, director.name)
        peer = text.split("unicast_peer {\n")[1].split("\n")[0]
        assert f"  unicast_peer {{\n{peer}\n  }}" in rendered
        result = check_config(rendered, ["eth0"])
        assert (result.exit_code, result.output) == (0, "")


def test_import_reports_unicast_peers_it_cannot_give_back() -> None:
    """Without unicast_src_ip the spec does not know which peer is a director's own."""
    trees = [parse_text(_unicast_conf("lb1", 150, None, "10.0.0.2"), "lb1.conf"),
             parse_text(_unicast_conf("lb2", 100, None, "10.0.0.1"), "lb2.conf")]  # fmt: skip
    _, warnings = import_keepalived_confs(trees)
    reported = [f"{w.location}: {w.message}" for w in warnings if w.code == "import-unicast"]
    assert reported == [
        "lb1.conf:8: VI_1's unicast peers here are ['10.0.0.2'], but from the spec render "
        "writes ['10.0.0.2', '10.0.0.1'] for director01",
        "lb2.conf:8: VI_1's unicast peers here are ['10.0.0.1'], but from the spec render "
        "writes ['10.0.0.2', '10.0.0.1'] for director02",
    ]


def test_import_keeps_a_virtual_server_group() -> None:
    conf = """virtual_server_group G {
  192.0.2.10-12 80
  2001:db8::a-c 80
  fwmark 7 inet
  192.0.2.0/30 80
}
virtual_server group G {
  protocol TCP
  real_server 10.0.0.1 80 {
    TCP_CHECK {
    }
  }
}
"""
    spec, warnings = import_keepalived_confs([parse_text(conf, "g.conf")])
    (group,) = spec.virtual_server_groups
    assert [m.endpoint for m in group.members] == [
        "192.0.2.10-192.0.2.12:80", "[2001:db8::a]-[2001:db8::c]:80", "FWM 7"]  # fmt: skip
    assert spec.virtual_services[0].group == "G"
    assert [(w.location.line, w.message) for w in warnings if w.code == "import-skipped"] == [
        (4, "fwmark 7 inet names an address family the spec has no model for; the mark is "
         "kept without it"),
        (5, "192.0.2.0/30 80 is a prefix or has no port, which the spec has no model for; "
         "left out"),
    ]  # fmt: skip
    rendered = render_keepalived_conf(spec, spec.directors[0].name)
    assert "virtual_server_group G {\n  192.0.2.10-12 80\n  2001:db8::a-c 80\n  fwmark 7\n}" in (
        rendered
    )
    assert "virtual_server group G {" in rendered


def test_a_master_without_priority_is_reported() -> None:
    """keepalived makes it the address owner (255); render writes the spec's priority, so
    import says so, and the round trip holds only because it did."""
    conf = ("global_defs {\n  router_id a\n  enable_script_security\n  script_user root\n}\n"
            "vrrp_instance V {\n  state MASTER\n  interface eth0\n  virtual_router_id 5\n"
            "  virtual_ipaddress {\n    10.0.0.1\n  }\n}\n")  # fmt: skip
    original = parse_text(conf, "m.conf")
    spec, warnings = import_keepalived_confs([original])
    rendered = parse_text(render_keepalived_conf(spec, spec.directors[0].name), "r.conf")
    assert [(w.location.line, w.code) for w in warnings] == [(7, "import-priority")]
    assert round_trip(original, rendered, warnings) == []
    assert round_trip(original, rendered, []) == ["added: vrrp_instance V / priority 100"]


def test_import_keeps_an_active_active_pair() -> None:
    """Each director is master of one instance: per-instance priorities come back as written."""

    def conf(first: int, second: int) -> str:
        return "".join(
            f"vrrp_instance VI_{n} {{\n  interface eth0\n  virtual_router_id {50 + n}\n"
            f"  priority {priority}\n  virtual_ipaddress {{\n    10.0.0.{n}/24\n  }}\n}}\n"
            for n, priority in ((1, first), (2, second))
        )

    texts = [conf(150, 100), conf(100, 150)]
    trees = [parse_text(text, f"lb{n}.conf") for n, text in enumerate(texts, 1)]
    spec, warnings = import_keepalived_confs(trees)
    assert [(d.priority, d.priorities) for d in spec.directors] == [
        (150, {"VI_2": 100}),
        (150, {"VI_1": 100}),
    ]
    assert [spec.master_of(name).name for name in ("VI_1", "VI_2")] == ["director01", "director02"]
    for director, tree in zip(spec.directors, trees, strict=True):
        rendered = parse_text(render_keepalived_conf(spec, director.name), "r.conf")
        assert [n.find("priority").args for n in rendered.find_all("vrrp_instance")] == [
            n.find("priority").args for n in tree.find_all("vrrp_instance")
        ]
        assert round_trip(tree, rendered, warnings) == []


TOKENS = ["", "0", "-1", "300", "abc", "default", "via", "dev", "table", "priority", "from",
          "to", "nexthop", "inet6", "lock", "fwmark", "goto", "10.0.0.1", "10.0.0.0/33",
          "2001:db8::1", "ff:ff", "eth0", "x" * 20, "{", "}", "group", "192.0.2.1-300"]  # fmt: skip
WORD_CORPUS = [path.read_text() for path in SAMPLES] + [
    (Path(__file__).parent / "data" / "differential" / "base.conf").read_text()
]


@st.composite
def reworded_config(draw: st.DrawFn) -> str:
    """A real config with some words replaced: values every keyword table entry must survive."""
    lines = draw(st.sampled_from(WORD_CORPUS)).split("\n")
    for _ in range(draw(st.integers(1, 8))):
        index = draw(st.integers(0, len(lines) - 1))
        words = lines[index].split()
        if words:
            words[draw(st.integers(0, len(words) - 1))] = draw(st.sampled_from(TOKENS))
            words += draw(st.lists(st.sampled_from(TOKENS), max_size=2))
        lines[index] = " ".join(words)
    return "\n".join(lines)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(reworded_config())
def test_lint_and_import_never_crash_on_reworded_configs(text: str) -> None:
    """lint returns findings and import a spec or a SpecError, whatever the words are."""
    tree = parse_text(text, "fuzz.conf")
    assert all(p.location.file == "fuzz.conf" for p in lint(tree, ["eth0", "eth1"]))
    try:
        import_keepalived_confs([tree])
    except SpecError as err:
        assert err.problems and all(p.location.file == "fuzz.conf" for p in err.problems)
