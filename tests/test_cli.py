"""The command line: exit codes, one-line errors with file:line, files written."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest

from cluster.cli import main
from cluster.spec.load import SEED_TEXT


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exit:  # argparse exits on its own for --help and usage errors
        code = int(exit.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_validate_seed(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "validate")
    assert (code, err) == (0, "")
    assert out.startswith("seed.yaml: valid -- 2 directors, 2 VRRP instances, 2 virtual services")


def test_invalid_spec_gives_file_line_and_exit_3(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(SEED_TEXT.replace("priority: 50", "priority: 100"))
    code, out, err = run(capsys, "validate", str(spec))
    assert code == 3 and out == ""
    (line,) = err.splitlines()
    number = SEED_TEXT.splitlines().index("    priority: 50") + 1
    assert line.startswith(f"{spec}:{number}: error: priority 100 equals director01's")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "a cluster spec is a YAML mapping"),
        ("name: [unclosed\n", "not valid YAML"),
        ("name: x\ndirectors: 7\n", "expected a list"),
    ],
)
def test_malformed_specs_never_traceback(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, text: str, expected: str
) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text(text)
    code, _, err = run(capsys, "show", str(spec))
    assert code == 3 and expected in err and "Traceback" not in err
    assert err.startswith(str(spec))


def test_missing_spec_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, "render", str(tmp_path / "nope.yaml"))
    assert code == 3 and "cannot read the spec: No such file or directory" in err


def test_unknown_node_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "render", "--node", "director9")
    assert code == 2
    assert (
        err == "cluster: --node director9: no such director in 'seed'; use director01, director02\n"
    )


def test_render_out_writes_private_files(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, _ = run(capsys, "render", "--out", str(tmp_path))
    assert code == 0
    for name in ("director01", "director02"):
        path = tmp_path / name / "keepalived.conf"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600  # it may hold auth_pass
        assert f"router_id {name.upper()}" in path.read_text()


def test_render_to_stdout_one_node(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "render", "--node", "director02")
    assert code == 0 and "priority 50" in out and "===" not in out


def test_show_prints_the_topology(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "show")
    assert code == 0
    for text in (
        "director01 (DIRECTOR01)",
        "192.168.0.174/32",
        "192.168.170.35:443",
        "persistent 3600 s",
        "HTTP_GET / (md5 a0dcbc1a...)",
    ):
        assert text in out


def test_help_lists_commands_and_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--help")
    assert code == 0
    for command in ("validate", "show", "render", "lint", "import"):
        assert command in out
    assert "exit codes:" in out


def test_bad_arguments_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "render", "--bogus")
    assert code == 2 and "unrecognized arguments: --bogus" in err


ARTICLE = Path(__file__).parent / "data" / "article"


def test_lint_article_finds_what_keepalived_finds(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "lint", "--errors-only", str(ARTICLE / "director01.conf"))
    assert code == 1
    found = [re.sub(r"^.*?:(\d+): error: (.{20}).*", r"\1 \2", line) for line in out.splitlines()]
    assert found == [
        "75 the '{' of virtual_s",
        "79 unknown keyword 'nat",
        "111 unknown keyword 'vir",
        "111 keepalived ignores t",
        "115 unknown keyword 'nat",
    ]
    assert err.endswith("director01.conf: 5 errors, 0 warnings, 0 notes\n")


def test_lint_of_rendered_configs_is_silent(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    run(capsys, "render", "--out", str(tmp_path))
    code, out, err = run(capsys, "lint", *map(str, sorted(tmp_path.glob("*/keepalived.conf"))))
    assert (code, out) == (0, "")
    assert err == "2 files: 0 errors, 0 warnings, 0 notes\n"


def test_lint_compares_the_directors_files(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The rendered seed pair, with director02's advert_int changed: VRRPv2 drops the adverts."""
    run(capsys, "render", "--out", str(tmp_path))
    first, second = sorted(tmp_path.glob("*/keepalived.conf"))
    second.write_text(second.read_text().replace("advert_int 5", "advert_int 2"))
    code, out, _ = run(capsys, "lint", "--errors-only", str(first), str(second))
    assert code == 1
    line = next(
        n for n, text in enumerate(first.read_text().splitlines(), 1) if "advert_int" in text
    )
    assert out.startswith(f"{first}:{line}: error: advert_int differs between the directors"), out


def test_lint_bad_addresses_and_truncation(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    conf = tmp_path / "bad.conf"
    conf.write_text(
        "vrrp_instance V {\n  virtual_ipaddress {\n    192.168.0.300\n  }\n"
        "virtual_server 10.0.0.1 80 {\n  real_server 10.1.1.1 99999 {\n"
    )
    code, out, _ = run(capsys, "lint", "--errors-only", str(conf))
    assert code == 1
    lines = {line.split(": error: ")[0] for line in out.splitlines()}
    assert {f"{conf}:3", f"{conf}:6", f"{conf}:5"} <= lines  # bad VIP, bad port, unclosed


def test_lint_missing_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, "lint", str(tmp_path / "nope.conf"))
    assert code == 3 and str(tmp_path / "nope.conf") in err and "Traceback" not in err


def test_firewall_render_uses_the_specs_backend(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "firewall", "render", "--node", "director01")
    assert code == 0 and out.startswith("# load with: nft -f -\ntable inet lvs_cluster\n")
    code, out, _ = run(
        capsys, "firewall", "render", "--node", "director01", "--backend", "iptables"
    )
    assert code == 0 and "# load with: ip6tables-restore --noflush" in out
    assert "-A LVS-INPUT -p tcp -m tcp --dport 22 -m comment --comment SSH -j RETURN" in out


def test_firewall_and_sysctl_need_a_known_node(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "firewall", "render")[0] == 2
    code, _, err = run(capsys, "sysctl", "render", "--node", "director9")
    assert code == 2 and "use one of director01, director02" in err
    code, out, _ = run(capsys, "sysctl", "render", "--node", "director02")
    assert code == 0 and "net.ipv4.ip_forward = 1" in out
