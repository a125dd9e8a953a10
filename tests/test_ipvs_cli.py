"""``cluster ipvs`` where it can run without a lab: bad usage, and a kernel without IPVS."""

from __future__ import annotations

from pathlib import Path

import pytest

from cluster.cli import main

HAS_IPVS = Path("/proc/net/ip_vs").exists()


def test_unknown_director_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ipvs", "plan", "--node", "director9"]) == 2
    assert "no such director in 'seed'" in capsys.readouterr().err


@pytest.mark.skipif(HAS_IPVS, reason="this kernel has IPVS")
def test_kernel_without_ipvs_gets_one_clear_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ipvs", "list"]) == 7
    assert capsys.readouterr().err == (
        "cluster: open IPVS: this kernel has no IPVS (the generic netlink family is missing); "
        "use the lab guest (`cluster lab up`) or a kernel with ip_vs\n"
    )


def test_missing_namespace_is_named_and_never_created(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ipvs", "save", "--netns", "no-such-ns-here"]) == 7
    assert "no network namespace 'no-such-ns-here'" in capsys.readouterr().err
    assert not Path("/run/netns/no-such-ns-here").exists()


def test_restore_reports_bad_lines_before_touching_the_kernel(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("-A -t 192.0.2.1:80 -s rr\n-a -t nowhere\n"))
    assert main(["ipvs", "restore", "--dry-run"]) == 3
    assert capsys.readouterr().err.startswith("<stdin>:2: error: ")
