"""Day-2 operations planned without a lab: the spec texts they produce, the order of their
steps, their refusals, and ``cluster op`` showing a plan without changing the file."""

from __future__ import annotations

import doctest
from pathlib import Path

import pytest

from cluster.cli import main
from cluster.errors import SpecError, UsageError
from cluster.failover import outage
from cluster.ipvs import ipvsadm
from cluster.operations import plan as ops
from cluster.spec import dump_spec, load_seed_spec
from cluster.spec import edit as edit_module
from cluster.spec.load import SEED_NAME, SEED_TEXT
from cluster.spec.variants import article

NAME = "cluster.yaml"


def with_auth() -> str:
    """The seed with the 2007 article's PASS auth (password 1111), as YAML text."""
    return dump_spec(article(load_seed_spec()))


def steps(plan: ops.OperationPlan) -> list[tuple[str, str, str]]:
    return [(s.kind, s.node, s.stage) for s in plan.steps]


@pytest.mark.parametrize("module", [ops, edit_module, outage, ipvsadm])
def test_doctests(module: object) -> None:
    assert doctest.testmod(module).failed == 0  # type: ignore[arg-type]


def test_weight_changes_one_line_and_keeps_comments() -> None:
    plan = ops.set_weight(SEED_TEXT, SEED_NAME, "http", "192.168.170.35:80", 5)
    added = [line for line in plan.diff().splitlines() if line.startswith(("+ ", "- ", "+", "-"))]
    assert added == [f"--- {SEED_NAME} (now)", f"+++ {SEED_NAME} (after)",
                     "-        weight: 1", "+        weight: 5"]  # fmt: skip
    assert [line for line in SEED_TEXT.splitlines() if "#" in line] == [
        line for line in plan.after.splitlines() if "#" in line
    ]
    http = next(vs for vs in plan.spec("new").virtual_services if vs.name == "http")
    assert [rs.weight for rs in http.real_servers] == [1, 5]


def test_config_changes_go_to_the_backup_first() -> None:
    plan = ops.add_server(SEED_TEXT, SEED_NAME, "http", "192.168.170.45", weight=2)
    assert steps(plan) == [
        ("expect-master", "director01", "new"),
        ("apply", "director02", "new"),
        ("apply", "director01", "new"),
        ("expect-master", "director01", "new"),
    ]
    http = next(vs for vs in plan.spec("new").virtual_services if vs.name == "http")
    added = http.real_servers[-1]
    assert (str(added.address), added.port, added.weight) == ("192.168.170.45", 80, 2)
    assert added.check == http.real_servers[0].check  # the first's check, as the note says
    assert plan.notes == ("the check is 192.168.170.25:80's; edit the spec if it differs",)


def test_add_server_like_copies_that_check() -> None:
    plan = ops.add_server(SEED_TEXT, SEED_NAME, "http", "192.168.170.45", like="192.168.170.35")
    http = next(vs for vs in plan.spec("new").virtual_services if vs.name == "http")
    assert http.real_servers[-1].check == http.real_servers[1].check
    assert http.real_servers[-1].check.type == "HTTP_GET"  # type: ignore[union-attr]


def test_drain_weight_zero_wait_then_remove() -> None:
    plan = ops.drain(SEED_TEXT, SEED_NAME, "192.168.170.35", timeout=30)
    drained = plan.spec("drained")
    assert [[(str(rs.address), rs.weight) for rs in vs.real_servers]
            for vs in drained.virtual_services] == [
        [("192.168.170.25", 1), ("192.168.170.35", 0)], [("192.168.170.35", 0)]
    ]  # fmt: skip
    assert [[str(rs.address) for rs in vs.real_servers] for vs in plan.spec("new").virtual_services
            ] == [["192.168.170.25"], []]  # fmt: skip
    assert plan.notes == ("https will have no real server left: it stops serving",)
    assert steps(plan) == [
        ("expect-master", "director01", "new"),
        ("apply", "director02", "drained"),
        ("apply", "director01", "drained"),
        ("wait-drained", "director01", "new"),
        ("wait-drained", "director02", "new"),
        ("apply", "director02", "new"),
        ("apply", "director01", "new"),
        ("expect-master", "director01", "new"),
    ]
    wait = plan.steps[3]
    assert wait.timeout == 30
    assert wait.servers == (
        ("TCP 192.168.0.174:80", "192.168.170.35:80"),
        ("TCP 192.168.0.174:443", "192.168.170.35:443"),
    )
    assert "seed.yaml (drained)" in plan.text()


def test_drain_one_service_only() -> None:
    plan = ops.drain(SEED_TEXT, SEED_NAME, "192.168.170.35", service="https")
    assert [len(vs.real_servers) for vs in plan.spec("new").virtual_services] == [2, 0]


def test_rotation_stops_the_backup_before_the_master_changes() -> None:
    text = with_auth()
    plan = ops.rotate_password(text, NAME, "s3cret")
    assert steps(plan) == [
        ("expect-master", "director01", "new"),
        ("stop", "director02", "new"),
        ("apply", "director01", "new"),
        ("apply", "director02", "new"),
        ("wait-master", "director01", "new"),
    ]
    assert {i.auth.password for i in plan.spec("new").vrrp.instances if i.auth} == {"s3cret"}
    assert plan.diff().count("-        password: '1111'") == 2


def test_rotation_refusals() -> None:
    with pytest.raises(UsageError, match="no VRRP instance has auth"):
        ops.rotate_password(SEED_TEXT, SEED_NAME, "s3cret")
    with pytest.raises(UsageError, match="no VRRP instance VI_NONE"):
        ops.rotate_password(with_auth(), NAME, "s3cret", ["VI_NONE"])
    with pytest.raises(SpecError) as caught:
        ops.rotate_password(with_auth(), NAME, "far-too-long")
    assert str(caught.value).startswith(f"{NAME}:")
    assert "after the change" in str(caught.value)


def test_master_restart_hands_over_before_it_stops() -> None:
    plan = ops.restart(SEED_TEXT, SEED_NAME, "director01")
    assert steps(plan) == [
        ("expect-master", "director01", "new"),
        ("apply", "director01", "handover"),
        ("wait-master", "director02", "new"),
        ("stop", "director01", "new"),
        ("apply", "director01", "handover"),
        ("apply", "director01", "current"),
        ("wait-master", "director01", "new"),
    ]
    handover = plan.spec("handover")
    assert [d.priority for d in handover.directors] == [49, 50]
    assert plan.after == SEED_TEXT  # the handover spec is never written


def test_backup_restart_is_stop_and_start() -> None:
    plan = ops.restart(SEED_TEXT, SEED_NAME, "director02")
    assert steps(plan) == [
        ("expect-master", "director01", "new"),
        ("stop", "director02", "new"),
        ("apply", "director02", "current"),
        ("expect-master", "director01", "new"),
    ]


def test_master_with_per_instance_priorities_stops_to_hand_over() -> None:
    spec = load_seed_spec()
    master = spec.directors[0].model_copy(update={"priorities": {"VI_EXTERNAL": 100}})
    text = dump_spec(spec.model_copy(update={"directors": [master, spec.directors[1]]}))
    plan = ops.restart(text, NAME, "director01")
    assert [s.kind for s in plan.steps][1:3] == ["stop", "wait-master"]
    assert "per-instance priorities" in plan.notes[0]


@pytest.mark.parametrize(
    ("text", "expected"),
    [("10.0.0.5", ("10.0.0.5", None)), ("10.0.0.5:8080", ("10.0.0.5", 8080)),
     ("2001:db8::5", ("2001:db8::5", None)), ("[2001:db8::5]:443", ("2001:db8::5", 443)),
     ("[2001:db8::5]", ("2001:db8::5", None))],
)  # fmt: skip
def test_server_addresses(text: str, expected: tuple[str, int | None]) -> None:
    address, port = ops._address(text)
    assert (str(address), port) == expected


def test_unknown_names_are_refused_with_what_exists() -> None:
    with pytest.raises(UsageError, match=r"no virtual service 'web' .*http, https"):
        ops.set_weight(SEED_TEXT, SEED_NAME, "web", "192.168.170.25", 2)
    with pytest.raises(UsageError, match=r"192.168.170.99 is not a real server of http"):
        ops.set_weight(SEED_TEXT, SEED_NAME, "http", "192.168.170.99", 2)
    with pytest.raises(UsageError, match="has weight 1 already"):
        ops.set_weight(SEED_TEXT, SEED_NAME, "http", "192.168.170.25", 1)
    with pytest.raises(UsageError, match="already a real server"):
        ops.add_server(SEED_TEXT, SEED_NAME, "http", "192.168.170.25")
    with pytest.raises(UsageError, match="not a real server of any"):
        ops.drain(SEED_TEXT, SEED_NAME, "10.9.9.9")
    with pytest.raises(UsageError, match="not a director"):
        ops.restart(SEED_TEXT, SEED_NAME, "director03")
    with pytest.raises(UsageError, match="not a real server address"):
        ops.drain(SEED_TEXT, SEED_NAME, "web1")
    with pytest.raises(UsageError, match="the port must be 1-65535"):
        ops.drain(SEED_TEXT, SEED_NAME, "10.0.0.5:http")


def test_flow_style_lists_are_refused() -> None:
    """The seed writes a director's addresses as ``[192.168.0.204/24]``: no lines to splice."""
    with pytest.raises(ValueError, match="flow style"):
        edit_module.append_item(SEED_TEXT, ("directors", 0, "interfaces", 0, "addresses"), {"a": 1})


def test_cli_shows_the_plan_and_changes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "cluster.yaml"
    spec.write_text(SEED_TEXT)
    assert main(["op", "weight", str(spec), "http", "192.168.170.25", "4", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "+        weight: 4" in out and " 2. director02: cluster apply with the new spec" in out
    assert out.endswith("dry run: nothing changed\n")
    assert main(["op", "weight", str(spec), "http", "192.168.170.25", "4", "--confirm"]) == 2
    assert "--confirm drives the lab's directors only" in capsys.readouterr().err
    assert spec.read_text() == SEED_TEXT


def test_cli_write_gives_real_directors_files_and_commands(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "cluster.yaml"
    spec.write_text(SEED_TEXT)
    spec.chmod(0o600)
    assert main(["op", "drain", str(spec), "192.168.170.25", "--write"]) == 0
    out = capsys.readouterr().out
    drained = tmp_path / "cluster.drained.yaml"
    assert "192.168.170.25" not in spec.read_text()
    assert "weight: 0" in drained.read_text()
    assert oct(drained.stat().st_mode & 0o777) == "0o600"
    assert f" 2. on director02: cluster apply --node director02 {drained}\n" in out
    assert f" 7. on director01: cluster apply --node director01 {spec}\n" in out
    assert " 4. on director01: ipvsadm -Ln    # until ActiveConn is 0 for 192.168.170.25:80" in out
