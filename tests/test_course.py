"""The notebook course's package side, without a lab: targets, parameters, stamps, one real
notebook run through the executor, and the drawing of the cluster."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cluster.course import execute
from cluster.course.target import LocalTarget, connect
from cluster.drawing import topology_figure
from cluster.errors import ToolError, UsageError
from cluster.spec import load_seed_spec, load_spec
from cluster.views import Block, Columns, Note, SpecTable

SPEC = load_seed_spec()


def notebook(*cells: tuple[str, str, list[str]]) -> dict:
    return {
        "cells": [
            {
                "cell_type": "code",
                "execution_count": None,
                "metadata": {"tags": tags},
                "outputs": [],
                "source": source,
                "id": f"c{n}",
            }
            for n, (_, source, tags) in enumerate(cells)
        ],
        "metadata": {
            "kernelspec": {"name": "python3", "language": "python", "display_name": "Python 3"}
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def test_views_escape_what_they_show_and_keep_their_text() -> None:
    table = SpecTable("<b>", ("a",), [("x < y",)])
    assert "&lt;b&gt;" in table.html() and "x &lt; y" in table.html()
    side = Columns((Block("one", "1"), Note("two", "ok")))
    assert side.html().count("flex: 1 1 0") == 2
    assert side.text() == "== one ==\n1\n\n[ok] two"


def test_a_parameters_cell_is_required_and_values_follow_it() -> None:
    with pytest.raises(UsageError, match="parameters"):
        execute.with_parameters(notebook(("code", "x = 1", [])), {"X": 2})
    nb = notebook(("code", "X = 1", ["parameters"]), ("code", "print(X)", []))
    cells = execute.with_parameters(nb, {"X": 2})["cells"]
    assert [c["source"].splitlines()[-1] for c in cells] == ["X = 1", "X = 2", "print(X)"]
    assert execute.with_parameters(nb, {}) == nb


def test_the_stamp_follows_the_notebook_and_the_parameters(tmp_path: Path) -> None:
    path = tmp_path / "n.ipynb"
    path.write_text(json.dumps(notebook(("code", "X = 1", ["parameters"]))))
    first = execute.stamp(path, {}, "code")
    assert execute.stamp(path, {"X": 2}, "code") != first
    assert execute.stamp(path, {}, "other code") != first
    path.write_text(json.dumps(notebook(("code", "X = 2", ["parameters"]))))
    assert execute.stamp(path, {}, "code") != first


def test_every_notebook_belongs_to_a_part_and_takes_the_target_parameters() -> None:
    paths = execute.notebooks()
    assert [execute.part(p) for p in paths if execute.part(p) not in execute.PARTS] == []
    for path in paths:
        cells = json.loads(path.read_text())["cells"]
        tagged = [c for c in cells if "parameters" in c["metadata"].get("tags", [])]
        assert len(tagged) == 1, path.name
        for name in ("TARGET", "NODE", "SPEC", "ROOT"):
            assert f"{name} = " in "".join(tagged[0]["source"]), (path.name, name)
    walk = execute.notebooks(parts=["walk-through"])
    assert [p.name[:2] for p in walk] == [f"0{n}" for n in range(1, 10)]
    with pytest.raises(UsageError, match="no notebook 99-none"):
        execute.notebooks(["99-none"])


def test_a_notebook_runs_with_its_parameters_and_its_copy_is_stamped(tmp_path: Path) -> None:
    source = tmp_path / "n.ipynb"
    cells = [("code", "X = 1", ["parameters"]), ("code", "print('x is', X)", [])]
    source.write_text(json.dumps(notebook(*cells)))
    out = tmp_path / "out"
    lines: list[str] = []
    written = execute.execute([source], out, {"X": 41}, lines.append)
    assert written == [out / "n.ipynb"]
    copy = json.loads(written[0].read_text())
    printed = ["".join(o["text"]) for c in copy["cells"] for o in c.get("outputs", [])]
    assert printed == ["x is 41\n"]
    assert copy["metadata"]["lvs_cluster"]["parameters"] == {"X": 41}
    sources = execute.source_hash()
    assert execute.fresh(source, out, {"X": 41}, sources)
    assert not execute.fresh(source, out, {"X": 42}, sources)
    assert execute.execute([source], out, {"X": 41}, lines.append, stale_only=True) == []


def test_a_failing_cell_fails_the_run_and_leaves_its_copy_unstamped(tmp_path: Path) -> None:
    source = tmp_path / "bad.ipynb"
    source.write_text(
        json.dumps(notebook(("code", "X = 1", ["parameters"]), ("code", "1 / 0", [])))
    )
    with pytest.raises(ToolError, match=r"bad\.ipynb: a cell failed: .*ZeroDivisionError"):
        execute.execute([source], tmp_path, {}, lambda _: None)
    assert "stamp" not in json.loads((tmp_path / "bad.ipynb").read_text())["metadata"].get(
        "lvs_cluster", {}
    )


def test_this_machine_runs_here_and_writes_its_spec(tmp_path: Path) -> None:
    target = LocalTarget(SPEC, "director02")
    assert target.run("sh", "-c", "echo $0 here", "it").stdout == "it here\n"
    assert load_spec(target.spec_path) == SPEC
    assert target.director_argv("apply", "--dry-run")[:3] == [
        "apply",
        "--dry-run",
        target.spec_path,
    ]


def test_connect_names_what_is_wrong() -> None:
    with pytest.raises(UsageError, match="NODE 'lb9' is not a director"):
        connect("this machine", "lb9")
    here = connect("this machine", "director02", root="/srv/lb2")
    assert (here.where, here.node, here.layout.run_dir) == (
        "this machine",
        "director02",
        "/srv/lb2/run/lvs-cluster",
    )


def _texts(figure) -> list[str]:  # type: ignore[no-untyped-def]
    return [t.get_text() for ax in figure.axes for t in ax.texts] + [figure.axes[0].get_title()]


def test_the_drawing_puts_the_floating_addresses_on_their_holder() -> None:
    texts = _texts(topology_figure(SPEC, this="director01"))
    assert "VIP 192.168.0.174" in texts and "DIP 192.168.170.1" in texts
    assert "director01\npriority 100: MASTER" in texts
    assert "director02\npriority 50: BACKUP" in texts
    assert "RIP 192.168.170.25" in texts and "RIP 192.168.170.35" in texts
    both = {"192.168.0.174": ["director01", "director02"], "192.168.170.1": ["director02"]}
    texts = _texts(topology_figure(SPEC, both))
    assert texts.count("VIP 192.168.0.174") == 2 and texts.count("DIP 192.168.170.1") == 1
    assert texts[-1].endswith("split brain on 192.168.0.174")
