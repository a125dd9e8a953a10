"""The docs pipeline: the site builds strictly, offline, with executed notebooks in it.

The site is built once per module into a temporary directory, never into site/, because
mkdocs-jupyter copies the notebooks into the output and pytest must not wander into them.
The build executes the notebooks: the first one's ``keepalived -t`` step makes network
namespaces and the second brings up the lab, so those tests need root and keepalived; the
checks on the sources run anywhere.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from pydantic import BaseModel
from ruamel.yaml import YAML

from cluster.cli import build_parser
from cluster.spec import model

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
NOTEBOOK_PAGE = Path("notebooks", "01-cluster-spec", "index.html")
LAB_PAGE = Path("notebooks", "02-lab", "index.html")
APPLY_PAGE = Path("notebooks", "03-director-setup", "index.html")

build = pytest.mark.docs
needs_root = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("keepalived", path="/usr/sbin:/usr/bin") is None,
    reason="the notebook runs keepalived -t in a network namespace: needs root and keepalived",
)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
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
def test_notebook_page_shows_executed_outputs(site: Path) -> None:
    text = visible_text(site / NOTEBOOK_PAGE)
    # The rendered config, the two directors' differences and the real keepalived -t verdict.
    assert "vrrp_instance VI_EXTERNAL {" in text
    assert "lvs_sched rr" in text and "retry 3" in text
    assert "-  priority 100" in text and "+  priority 50" in text
    assert "director01: keepalived -t exit 0: clean" in text
    assert "director02: keepalived -t exit 0: clean" in text
    # The article's config, linted: findings carry their line.
    assert re.search(r"director01\.conf:\d+\s*error\s*\S+\s*unknown keyword 'nat_mask'", text)
    assert (site / NOTEBOOK_PAGE.parent / "01-cluster-spec.ipynb").is_file()


@build
@needs_root
def test_lab_notebook_shows_servers_faults_and_mail(site: Path) -> None:
    text = visible_text(site / LAB_PAGE)
    for rs in ("realserver1", "realserver2"):
        assert f"X-Real-Server: {rs}" in text
    assert text.count("genhash a0dcbc1a6e5dc4201a5a495fa858cdf6") == 4
    assert "192.168.170.25:80 /: DOWN: status 503 not in 200-299" in text
    assert "DOWN: digest mismatch" in text and "DOWN: timeout after 2 s" in text
    assert "192.168.170.25:443 /: DOWN: refused" in text
    assert "Subject: [DIRECTOR01] hello from the lab" in text
    assert "removed agent (powered off)" in text


@build
@needs_root
def test_director_notebook_applies_and_splits_the_load(site: Path) -> None:
    text = visible_text(site / APPLY_PAGE)
    assert "== firewall ==" in text and "start keepalived (not running)" in text
    for node in ("director01", "director02"):
        assert f"first  {node}: applied sysctl" in text
        assert f"second {node}: no changes" in text
    assert "VRRP: VI_EXTERNAL MASTER, VI_INTERNAL MASTER" in text and "verdict: healthy" in text
    assert "{'192.168.170.25:80': 150, '192.168.170.35:80': 150}" in text


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
    assert not re.search(
        r"fonts\.googleapis|cdnjs|jsdelivr|unpkg", (site / NOTEBOOK_PAGE).read_text()
    )


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


def test_notebooks_use_the_kernel_the_build_runs() -> None:
    config = YAML(typ="safe").load((ROOT / "mkdocs.yml").read_text())
    plugin = next(
        p["mkdocs-jupyter"]
        for p in config["plugins"]
        if isinstance(p, dict) and "mkdocs-jupyter" in p
    )
    for path in NOTEBOOKS:
        kernel = json.loads(path.read_text())["metadata"]["kernelspec"]["name"]
        assert kernel == plugin["kernel_name"], path.name


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
