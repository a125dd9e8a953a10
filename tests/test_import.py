"""keepalived.conf -> spec -> keepalived.conf keeps what keepalived would run."""

from __future__ import annotations

from pathlib import Path

import pytest

from cluster.cli import main
from cluster.keepalived.importer import CHECKERS, import_keepalived_confs
from cluster.keepalived.process import check_config
from cluster.keepalived.render import render_keepalived_conf
from cluster.keepalived.syntax import ConfigTree, parse_file, parse_text
from cluster.spec import read_spec

SAMPLES = sorted(Path("/usr/share/doc/keepalived/samples").glob("keepalived.conf.*"))
ARTICLE = Path(__file__).parent / "data" / "article"


def essence(tree: ConfigTree) -> dict[str, object]:
    """What an import must keep: instances with VIPs, services, real servers, checker types."""
    instances = {
        n.arg(0): sorted(e.keyword.split("/")[0] for e in n.find("virtual_ipaddress").children)
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


def test_samples_exist() -> None:
    """The sample-driven tests below must not pass by finding no samples."""
    assert len(SAMPLES) >= 20, "Debian's keepalived package ships 25 samples; install it"


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.name)
def test_render_of_import_keeps_every_sample(sample: Path, root_with_keepalived: None) -> None:
    original = parse_file(sample)
    spec, _ = import_keepalived_confs([original])
    director = spec.directors[0]
    rendered = render_keepalived_conf(spec, director.name)
    assert essence(parse_text(rendered, "rendered")) == essence(original)
    result = check_config(rendered, [i.name for i in director.interfaces])
    assert (result.exit_code, result.output) == (0, "")


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
    assert capsys.readouterr().err.startswith(f"{conf}:1: error: cannot import:")
