"""The docs pipeline and the notebooks: each notebook executed once, against one lab; the
walk-through again as "this machine" inside a lab director; the site built from the executed
copies, strictly and offline; and the outputs that matter asserted.

The site is built into a temporary directory, never into site/, because mkdocs-jupyter
copies the notebooks into the output and pytest must not wander into them. Executing the
notebooks needs root (the lab) and keepalived; the checks on the sources run anywhere.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest
from pydantic import BaseModel

from cluster.cli import build_parser
from cluster.spec import model

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
EXECUTED = ROOT / "out" / "notebooks"
THIS_MACHINE = EXECUTED / "this-machine"
KERNEL = "lvs-cluster"  # what scripts/docs.sh installs for JupyterLab
IPVS_PAGE = Path("notebooks", "04-ipvs", "index.html")

build = pytest.mark.docs
needs_root = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("keepalived", path="/usr/sbin:/usr/bin") is None,
    reason="the notebooks run the lab and keepalived -t: need root and keepalived",
)


def outputs(path: Path) -> str:
    """Everything a notebook's cells printed or showed, as text (their text/plain form)."""
    notebook = json.loads(path.read_text())
    found = []
    for cell in notebook["cells"]:
        for output in cell.get("outputs", []):
            assert output["output_type"] != "error", f"{path.name}: {output.get('evalue')}"
            if "text" in output:
                found.append("".join(output["text"]))
            found.append("".join(output.get("data", {}).get("text/plain", "")))
    return "\n\n".join(found)


def block(text: str, title: str) -> str:
    """The body of the ``== title ==`` block in a notebook's text (blocks hold no blank
    line, and outputs are apart by one)."""
    start = text.index(f"== {title} ==\n") + len(title) + 7
    end = text.find("\n\n", start)
    return text[start : end if end >= 0 else None]


@pytest.fixture(scope="module")
def executed() -> Iterator[dict[str, str]]:
    """Every notebook on the lab (once: copies of this same code are kept), then the
    walk-through as "this machine" inside director01; the outputs by notebook name."""
    if os.geteuid() != 0 or shutil.which("keepalived", path="/usr/sbin:/usr/bin") is None:
        pytest.skip("the notebooks need root and keepalived")
    from cluster.course import execute, pair
    from cluster.course.target import LabTarget, default_spec
    from cluster.lab import Lab

    execute.execute(execute.notebooks(), EXECUTED, stale_only=True)
    lab = Lab.up()
    try:
        pair.ready(LabTarget(lab, default_spec()), both=True)
        execute.execute_on_director(lab, "director01", THIS_MACHINE)
        found = {p.stem: outputs(p) for p in EXECUTED.glob("*.ipynb")}
        found |= {f"this-machine/{p.stem}": outputs(p) for p in THIS_MACHINE.glob("*.ipynb")}
        yield found
    finally:
        lab.close()
        Lab.down()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, executed: dict[str, str]) -> Path:
    out = tmp_path_factory.mktemp("site")
    result = subprocess.run(
        [str(ROOT / "scripts" / "docs.sh"), "build", "--site-dir", str(out)],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert result.returncode == 0, f"strict build failed:\n{result.stdout}\n{result.stderr}"
    assert not re.search(r"executing \d\d-", result.stderr), "the build executed notebooks again"
    return out


def visible_text(path: Path) -> str:
    """A page without its tags, so assertions read like what an operator sees."""
    return html.unescape(re.sub(r"<[^>]+>", "", path.read_text()))


class AssetCollector(HTMLParser):
    """Collects what a browser would fetch by itself: not links a reader may click."""

    SRC_TAGS = frozenset({"script", "img", "iframe", "audio", "video", "source", "embed"})

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag in self.SRC_TAGS and values.get("src"):
            self.urls.append(values["src"])
        if tag == "link" and values.get("href"):
            self.urls.append(values["href"])


@build
@needs_root
def test_site_loads_nothing_from_other_hosts(site: Path) -> None:
    offenders = []
    for page in site.rglob("*.html"):
        source = page.read_text()
        collector = AssetCollector()
        collector.feed(source)
        external = [u for u in collector.urls if re.match(r"(https?:)?//", u)]
        external += re.findall(r"""import\(\s*["'](?:https?:)?//[^"']+""", source)
        offenders += [f"{page.relative_to(site)}: {url}" for url in external]
    assert not offenders
    assert not re.search(r"fonts\.googleapis|cdnjs|jsdelivr|unpkg", (site / IPVS_PAGE).read_text())


@build
@needs_root
def test_command_reference_documents_every_subcommand(site: Path) -> None:
    # Help text is wrapped to the page width, so compare with whitespace collapsed.
    text = " ".join(visible_text(site / "reference" / "cli" / "index.html").split())
    parser = build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert "usage: cluster" in text
    for name, sub in subparsers.choices.items():
        assert f"usage: cluster {name}" in text, name
        if sub.description:
            assert " ".join(sub.description.split()) in text, name
    assert "exit codes:" in text


@build
@needs_root
def test_search_index_covers_the_concepts(site: Path) -> None:
    index = json.loads((site / "search" / "search_index.json").read_text())
    text = " ".join(doc["text"] for doc in index["docs"])
    for term in ("master_down_interval", "persistence_granularity", "genhash", "lvs_sched"):
        assert term in text, term


def test_notebooks_are_committed_without_outputs() -> None:
    assert NOTEBOOKS, "no notebooks found"
    for path in NOTEBOOKS:
        notebook = json.loads(path.read_text())
        for number, cell in enumerate(notebook["cells"], 1):
            if cell["cell_type"] == "code":
                assert cell["outputs"] == [], f"{path.name} cell {number} has outputs"
                assert cell["execution_count"] is None, f"{path.name} cell {number} was run"


def test_notebooks_use_the_kernel_jupyterlab_gets() -> None:
    script = (ROOT / "scripts" / "docs.sh").read_text()
    assert f"KERNEL={KERNEL}" in script
    for path in NOTEBOOKS:
        kernel = json.loads(path.read_text())["metadata"]["kernelspec"]["name"]
        assert kernel == KERNEL, path.name


def test_spec_reference_names_every_key_of_the_model() -> None:
    page = (ROOT / "docs" / "manual" / "spec.md").read_text()
    missing = sorted(
        f"{cls.__name__}.{field}"
        for cls in vars(model).values()
        if isinstance(cls, type) and issubclass(cls, BaseModel) and cls.__module__ == model.__name__
        for field in cls.model_fields
        if f"`{field}`" not in page
    )
    assert not missing, f"docs/manual/spec.md does not explain: {', '.join(missing)}"


# --- what the notebooks showed -------------------------------------------------------------


@build
@needs_root
def test_every_notebook_ran_on_the_lab_and_the_walk_through_on_this_machine(
    executed: dict[str, str],
) -> None:
    assert sorted(k for k in executed if "/" not in k) == [p.stem for p in NOTEBOOKS]
    walk = [p.stem for p in NOTEBOOKS if p.stem[:2] < "10"]
    assert sorted(k.split("/")[1] for k in executed if "/" in k) == walk
    for name, text in executed.items():
        where = "this machine" if name.startswith("this-machine/") else "lab"
        assert f"[note] target: {where}, director director01" in text, name


@build
@needs_root
def test_the_walk_through_sets_the_cluster_up_on_the_lab(executed: dict[str, str]) -> None:
    assert "VIP   the MASTER's eth0 (VRRP VI_EXTERNAL)" in executed["01-topology"]
    assert "IP Virtual Server version 1.2.1" in executed["02-kernel"]
    config = executed["03-keepalived-conf"]
    assert "[ok] director01: keepalived -t exit 0, clean (no output)" in config
    assert re.search(r"director01\.conf:\d+\s+error\s+\S+\s+unknown keyword 'nat_mask'", config)
    ipvs = executed["04-ipvs"]
    theirs = block(ipvs, "director01: ipvsadm -Ln")
    for server in ("192.168.170.25:80", "192.168.170.35:80", "192.168.170.35:443"):
        assert f"  -> {server} " in theirs, server
    assert block(ipvs, "director01: cluster ipvs list") == theirs
    assert "director01: no changes" in ipvs  # the second apply


@build
@needs_root
def test_the_spoofed_advert_was_dropped_and_the_peers_accepted(executed: dict[str, str]) -> None:
    text = executed["05-firewall"]
    assert "[ok] the spoofed adverts from smtp were dropped" in text
    assert "[ok] the peer's adverts were accepted" in text
    assert "[ok] director01's VRRP states and addresses did not change with the spoofed" in text


@build
@needs_root
def test_a_failed_real_server_left_the_table_came_back_and_was_mailed(
    executed: dict[str, str],
) -> None:
    text = executed["06-health-checks"]
    assert text.count("matches") == 2  # genhash on HTTP and HTTPS
    assert "[ok] realserver1 (192.168.170.25) left the IPVS table" in text
    assert "192.168.170.25" not in block(text, "director01: ipvsadm -Ln while it was down")
    server = "Realserver [192.168.170.25]:tcp:80 of virtual server [192.168.0.174]:tcp:80"
    assert f"mail: [DIRECTOR01] {server} - DOWN" in text
    assert f"mail: [DIRECTOR01] {server} - UP" in text
    assert "back in director01's table" in text


@build
@needs_root
def test_both_directors_hold_what_vrrp_says(executed: dict[str, str]) -> None:
    text = executed["07-directors"]
    assert re.search(r"director01\s+100\s+parent \d+.*192\.168\.0\.174, 192\.168\.170\.1", text)
    assert re.search(r"director02\s+50\s+parent \d+.*BACKUP, VI_INTERNAL BACKUP\s+-", text)
    assert "verdict: healthy" in text


@build
@needs_root
def test_the_article_load_test_splits_evenly(executed: dict[str, str]) -> None:
    text = executed["08-load-test"]
    assert "300 requests to http://192.168.0.174:80/, 0 failed" in text
    # at -c 30 ab opens a few connections it sends nothing on: equal shares, give or take one
    shares = [int(n) for n in re.findall(r"^192\.168\.170\.[23]5:80\s+(\d+)", text, re.M)]
    assert len(shares) == 2 and max(shares) - min(shares) <= 1 and sum(shares) >= 300, shares
    assert "[ok] IPVS counted" in text


@build
@needs_root
def test_the_lower_prio_symptom_is_reproduced_and_diagnosed(executed: dict[str, str]) -> None:
    text = executed["09-troubleshooting"]
    assert "Received advert from 192.168.0.176 with lower priority 50, ours 100" in text
    assert "[problem] split brain: 192.168.0.174 is held by director01 and director02" in text
    wanted = "director02's firewall admits VRRP (IP protocol 112 to 224.0.0.18) from 192.168.0.204"
    assert wanted in text
    assert "[ok] fault undone: director01 alone holds" in text


@build
@needs_root
def test_the_benchmarks_have_data(executed: dict[str, str]) -> None:
    splits = executed["10-bench-schedulers"]
    assert splits.count("the split matches the prediction") == 2 and "DIFFERENT" not in splits
    failover = executed["11-bench-failover"]
    for scenario in ("dies-fixed-v3-adv0.1", "stop-fixed-v3-adv0.1"):
        assert f"| {scenario} | 1 |" in failover
        saved = ROOT / "out" / "failover" / f"notebook-{scenario}.json"
        (trial,) = json.loads(saved.read_text())["trials"]
        assert trial["outage_s"] > 0 and all(trial["takeover_s"].values()), trial["takeover_s"]
    assert "chart " in failover and (ROOT / "out" / "figures" / "failover.svg").exists()
    cable = executed["12-bench-cable-pull"]
    assert "| master: link-down eth0 | VIPs split across the directors, service DOWN |" in cable
    assert re.search(r"^1000\s+\d", executed["13-bench-control-plane"], re.MULTILINE)
    assert "the split matches the prediction" in executed["14-scheduler-playground"]
    assert re.search(r"1 s\s+v3\s+0\.805 s\s+3\.805 s", executed["15-vrrp-timing"])


@build
@needs_root
def test_the_walk_through_on_this_machine_reads_the_director_itself(
    executed: dict[str, str],
) -> None:
    here = {k.split("/")[1]: v for k, v in executed.items() if k.startswith("this-machine/")}
    assert "IP Virtual Server version 1.2.1" in here["02-kernel"]
    assert "[ok] director01: keepalived -t exit 0, clean (no output)" in here["03-keepalived-conf"]
    assert "director01: no changes" in here["04-ipvs"]
    theirs = block(here["04-ipvs"], "director01: ipvsadm -Ln")
    assert "  -> 192.168.170.25:80 " in theirs and "  -> 192.168.170.35:80 " in theirs
    assert block(here["04-ipvs"], "director01: cluster ipvs list") == theirs
    assert "[skipped] a spoofed advert needs another host" in here["05-firewall"]
    assert here["06-health-checks"].count("matches") == 2
    holds = r"director01\s+100\s+parent \d+.*192\.168\.0\.174, 192\.168\.170\.1"
    assert re.search(holds, here["07-directors"])
    assert "verdict: healthy" in here["07-directors"]
    assert "[skipped] a load test needs a client" in here["08-load-test"]
    assert "[ok] every real server of the spec is in the table" in here["09-troubleshooting"]


@build
@needs_root
def test_the_site_renders_the_executed_notebooks(site: Path) -> None:
    text = visible_text(site / IPVS_PAGE)
    assert "cluster ipvs list" in text and "-> 192.168.170.25:80" in text
    assert (site / IPVS_PAGE.parent / "04-ipvs.ipynb").is_file()
