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
IPVS_PAGE = Path("notebooks", "04-ipvs.html")  # use_directory_urls: false, for file://

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


#: DOCS_NOTEBOOKS=saved (see docs/hooks/notebooks.py) builds from the executed copies already
#: in out/notebooks/, without the lab: for iterating on pages and on the browser test.
SAVED_NOTEBOOKS = os.environ.get("DOCS_NOTEBOOKS") == "saved"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Path:
    if not SAVED_NOTEBOOKS:
        request.getfixturevalue("executed")
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
    text = " ".join(visible_text(site / "reference" / "cli.html").split())
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


def _model_fields() -> list[str]:
    return [
        f"{cls.__name__}.{field}"
        for cls in vars(model).values()
        if isinstance(cls, type) and issubclass(cls, BaseModel) and cls.__module__ == model.__name__
        for field in cls.model_fields
    ]


def test_every_spec_field_says_what_it_becomes() -> None:
    from cluster.keepalived.keywords import GRAMMAR
    from cluster.spec.becomes import BECOMES, Keyword

    assert sorted(BECOMES) == sorted(_model_fields())
    unknown = [
        f"{field}: {entry.block} has no keyword {entry.keyword}"
        for field, entry in BECOMES.items()
        if isinstance(entry, Keyword) and entry.keyword not in GRAMMAR.get(entry.block, {})
    ]
    assert not unknown


def test_every_lint_code_is_in_the_registry() -> None:
    from cluster.keepalived.lint import KEEPALIVED_CODES, LINT_CODES

    sources = "".join(
        (ROOT / "cluster" / "keepalived" / name).read_text() for name in ("lint.py", "syntax.py")
    )
    body = sources.split("LINT_CODES: Final")[0] + sources.split("is generated from it.")[-1]
    used = set(re.findall(r'"([a-z]+(?:-[a-z0-9]+)+)"', body))
    used |= {"nopreempt-with-master", "preempt-delay-with-master"}  # made from the keyword
    assert used <= set(LINT_CODES), sorted(used - set(LINT_CODES))
    assert set(KEEPALIVED_CODES) <= set(LINT_CODES)


def test_every_runbook_command_names_the_test_that_runs_it() -> None:
    """Each command block of the runbook sits under a ``<!-- tested: ... -->`` comment, and
    every test it names exists."""
    pages = sorted((ROOT / "docs" / "runbook").glob("*.md"))
    assert len(pages) == 6
    for page in pages:
        text = page.read_text()
        for block in re.finditer(r"^```sh\n", text, re.MULTILINE):
            before = text[: block.start()].rstrip().splitlines()[-1]
            assert before.startswith("<!-- tested: "), f"{page.name}: block without a test"
        for path, name in re.findall(r"(tests/[\w/]+\.py)::(test_\w+)", text):
            assert f"def {name}(" in (ROOT / path).read_text(), f"{page.name}: {path}::{name}"
        for path, name in re.findall(r"(tests/[\w/]+\.py)(?:::\w+)?, ::(test_\w+)", text):
            assert f"def {name}(" in (ROOT / path).read_text(), f"{page.name}: {path}::{name}"


@build
def test_the_reference_pages_hold_every_field_code_and_exit_code(site: Path) -> None:
    from cluster.cli import EXIT_CODES
    from cluster.keepalived.lint import LINT_CODES

    schema = visible_text(site / "reference" / "spec.html")
    for field in _model_fields():
        cls, name = field.split(".")
        assert cls in schema and name in schema, field
    assert "vrrp_garp_interval" in schema and "lvs_sched" in schema
    codes = visible_text(site / "reference" / "lint-codes.html")
    assert all(code in codes for code in LINT_CODES)
    exits = visible_text(site / "reference" / "exit-codes.html")
    for code, meaning in re.findall(r"^\s+(\d)\s+(.+)$", EXIT_CODES, re.MULTILINE):
        assert meaning.split(";")[0] in exits, code
    assert "render_keepalived_conf" in visible_text(site / "reference" / "api.html")


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
    # requests counted by the real servers themselves: exact, whatever ab's spare connections
    shares = [int(n) for n in re.findall(r"^192\.168\.170\.[23]5:80\s+(\d+)", text, re.M)]
    assert shares == [150, 150], shares
    assert "[ok] the real servers answered 300 requests, split evenly" in text


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
def test_apply_with_confirm_keeps_only_a_confirmed_change(executed: dict[str, str]) -> None:
    """The runbook's ``cluster apply --confirm`` on the backup of the notebooks' lab: without
    "yes" the change is rolled back (exit 7, keepalived.conf as before), with it kept."""
    from cluster.lab import Lab, directors
    from cluster.spec import dump_spec

    lab = Lab.up()  # the lab the notebooks left running
    node = "director02"
    spec = directors.current_spec(lab)
    assert spec is not None
    try:
        http = spec.virtual_services[0]
        servers = [http.real_servers[0].model_copy(update={"weight": 7}), *http.real_servers[1:]]
        services = [http.model_copy(update={"real_servers": servers}), *spec.virtual_services[1:]]
        changed = spec.model_copy(update={"virtual_services": services})
        path = lab.paths.share / "keepalived" / "confirm.yaml"
        lab.write_file(node, str(path), dump_spec(changed))
        backend = () if directors.has_nftables_nat(lab, node) else ("--backend", "iptables")
        root = directors.layout(lab, node).root
        argv = ["apply", "--node", node, "--root", root, *backend, "--confirm", "5", str(path)]
        conf = directors.keepalived(lab, node).files.conf
        before = lab.read_text(node, conf)
        silent = lab.run_cluster(node, *argv, input="", timeout=300)
        assert silent.rc == 7 and "not confirmed in time" in silent.stderr, silent
        assert lab.read_text(node, conf) == before
        kept = lab.run_cluster(node, *argv, input="yes\n", timeout=300)
        assert kept.rc == 0, kept
        assert re.search(r"^\s+weight 7$", lab.read_text(node, conf), re.MULTILINE)
    finally:
        directors.apply(lab, spec, nodes=[node])  # back to what the notebooks applied
        lab.close()


@build
@needs_root
def test_the_site_renders_the_executed_notebooks(site: Path) -> None:
    text = visible_text(site / IPVS_PAGE)
    assert "cluster ipvs list" in text and "-> 192.168.170.25:80" in text
    assert (site / IPVS_PAGE.parent / "04-ipvs.ipynb").is_file()


# --- the site in a real browser ------------------------------------------------------------
#
# Debian's chromium, headless, driven over the DevTools protocol on a pipe
# (--remote-debugging-pipe: JSON messages ending in NUL on fds 3 and 4), so no port is opened
# and no client library is needed. Every request a page makes is recorded from the
# protocol's Network events; only file:, data:, blob: and 127.0.0.1 may appear.

CHROMIUM = shutil.which("chromium")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
SCREENSHOTS = ROOT / "out" / "screenshots"
LOCAL_SCHEMES = ("file:", "data:", "blob:", "about:", "http://127.0.0.1:")
#: The runbook page and the benchmark page (with its chart) that the screenshots keep, whole,
#: besides the home page.
RUNBOOK_PAGE, BENCH_PAGE = "runbook/install.html", "notebooks/10-bench-schedulers.html"


class Chromium:
    """One headless chromium; :meth:`open` loads a page in a fresh tab and records its
    requests; :meth:`js` evaluates an expression in that tab."""

    def __init__(self, profile: Path) -> None:
        import fcntl

        # chromium wants the pipe at fds 3 and 4; bash puts it there (dash has no fd 10). Our
        # ends start at 10 or above, so that moving one to 3 or 4 never closes the other.
        ends = []
        for fd in (*os.pipe(), *os.pipe()):
            ends.append(fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10))
            os.close(fd)
        to_chromium, self._commands, self._answers, from_chromium = ends
        redirect = f"3<&{to_chromium} 4>&{from_chromium} {to_chromium}<&- {from_chromium}>&-"
        self.process = subprocess.Popen(
            ["bash", "-c", f'exec "$@" {redirect}', "bash", CHROMIUM, "--headless", "--no-sandbox",
             "--disable-gpu", "--no-first-run", "--no-default-browser-check",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--disable-extensions", "--remote-debugging-pipe", "--window-size=1280,900",
             f"--user-data-dir={profile}", "about:blank"],
            pass_fds=(to_chromium, from_chromium),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        os.close(to_chromium)
        os.close(from_chromium)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict] = []
        self.session = ""

    def send(self, method: str, params: dict | None = None, timeout: float = 60) -> dict:
        """Send one command (to the open tab's session, if any) and return its result."""
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if self.session and not method.startswith("Target."):
            message["sessionId"] = self.session
        os.write(self._commands, json.dumps(message).encode() + b"\0")
        while True:
            answer = self._read(timeout)
            if answer.get("id") == self._next_id:
                assert "error" not in answer, f"{method}: {answer['error']}"
                return answer["result"]
            self.events.append(answer)

    def _read(self, timeout: float) -> dict:
        import select

        while b"\0" not in self._buffer:
            ready, _, _ = select.select([self._answers], [], [], timeout)
            assert ready, f"chromium did not answer within {timeout} s"
            chunk = os.read(self._answers, 1 << 16)
            assert chunk, "chromium exited"
            self._buffer += chunk
        message, _, self._buffer = self._buffer.partition(b"\0")
        return json.loads(message)

    def open(self, url: str) -> None:
        """A fresh tab on ``url``, once its load event fired; earlier events are dropped."""
        if self.session:
            self.send("Target.closeTarget", {"targetId": self.target})
        self.target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.send(
            "Target.attachToTarget", {"targetId": self.target, "flatten": True}
        )["sessionId"]
        self.send("Network.enable")
        self.send("Page.enable")
        self.events.clear()
        self.send("Page.navigate", {"url": url})
        self.wait_for_event("Page.loadEventFired")

    def wait_for_event(self, method: str, timeout: float = 60) -> dict:
        import time

        deadline = time.monotonic() + timeout
        while True:
            for event in self.events:
                if event.get("method") == method and event.get("sessionId") == self.session:
                    return event
            assert time.monotonic() < deadline, f"no {method} within {timeout} s"
            self.events.append(self._read(deadline - time.monotonic()))

    def js(self, expression: str) -> object:
        """The value of ``expression`` in the tab (awaited if it is a promise)."""
        done = self.send(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
        )
        assert "exceptionDetails" not in done, done["exceptionDetails"]
        return done["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 30) -> object:
        """Poll ``expression`` until it is truthy (search runs in a worker, asynchronously)."""
        return self.js(
            f"new Promise((ok, no) => {{ const end = Date.now() + {timeout * 1000};"
            f" const poll = () => {{ const v = ({expression}); if (v) ok(v);"
            f" else if (Date.now() > end) no(new Error('timed out: ' + {json.dumps(expression)}));"
            f" else setTimeout(poll, 100); }}; poll(); }})"
        )

    def requests(self) -> list[str]:
        """Every URL the open tab requested since :meth:`open`."""
        return [
            e["params"]["request"]["url"]
            for e in self.events
            if e.get("method") == "Network.requestWillBeSent" and e.get("sessionId") == self.session
        ]

    def screenshot(self, path: Path) -> None:
        import base64

        size = self.send("Page.getLayoutMetrics")["cssContentSize"]
        clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
        data = self.send(
            "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": clip}
        )["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._commands)
        os.close(self._answers)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chromium]:
    chromium = Chromium(tmp_path_factory.mktemp("chromium-profile"))
    try:
        yield chromium
    finally:
        chromium.close()


@pytest.fixture(scope="module")
def served(site: Path) -> Iterator[str]:
    """The site as ``scripts/docs.sh serve`` serves it, on a free port of 127.0.0.1."""
    import socket
    import time
    import urllib.request

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/"
    server = subprocess.Popen(
        [str(ROOT / "scripts" / "docs.sh"), "serve", "--dev-addr", f"127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 600  # mkdocs serve builds the whole site first
        while True:
            assert server.poll() is None, "scripts/docs.sh serve exited"
            try:
                with urllib.request.urlopen(url + "index.html", timeout=5):
                    break
            except OSError:
                assert time.monotonic() < deadline, "scripts/docs.sh serve never answered"
                time.sleep(1)
        yield url
    finally:
        if server.poll() is None:
            os.killpg(server.pid, 15)
            server.wait(timeout=30)


def nav_pages(browser: Chromium) -> list[str]:
    """The absolute URL of every page in the open page's navigation, in order."""
    found = browser.js(
        "[...document.querySelectorAll('nav.md-nav--primary a.md-nav__link[href]')]"
        ".map(a => a.href.split('#')[0])"
    )
    assert isinstance(found, list)
    return list(dict.fromkeys(found))


def assert_page_is_whole(browser: Chromium, url: str) -> None:
    """A heading, every image loaded with a size, and no request to another host."""
    assert browser.js("document.querySelector('article h1') !== null"), f"{url}: no heading"
    broken = browser.js(
        "[...document.images].filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src)"
    )
    assert broken == [], f"{url}: images that did not load: {broken}"
    outside = [r for r in browser.requests() if not r.startswith(LOCAL_SCHEMES)]
    assert outside == [], f"{url}: requests to other hosts: {outside}"


def search(browser: Chromium, term: str) -> list[str]:
    """Type ``term`` into Material's search box; the titles of the results."""
    browser.wait_for("document.querySelector('.md-search__input')")
    browser.js(
        "(() => { const box = document.querySelector('.md-search__input'); box.focus();"
        f" box.value = {json.dumps(term)}; box.dispatchEvent(new Event('input')); }})()"
    )
    browser.wait_for("document.querySelectorAll('.md-search-result__item').length")
    titles = browser.js(
        "[...document.querySelectorAll('.md-search-result__item h1, .md-search-result__item h2')]"
        ".map(h => h.textContent.trim())"
    )
    assert isinstance(titles, list)
    return titles


@build
@needs_chromium
def test_the_site_from_disk_reaches_every_page_with_search_and_nothing_from_outside(
    site: Path, browser: Chromium
) -> None:
    home = (site / "index.html").as_uri()
    browser.open(home)
    assert_page_is_whole(browser, home)
    drawing = browser.js(
        "(() => { const i = document.querySelector('img[src$=\"topology.svg\"]');"
        " return i && [i.naturalWidth, i.naturalHeight]; })()"
    )
    assert drawing and min(drawing) > 0, "the home page shows no topology drawing"
    browser.screenshot(SCREENSHOTS / "home.png")
    pages = nav_pages(browser)
    assert len(pages) >= 30 and any(p.endswith(RUNBOOK_PAGE) for p in pages), pages
    for url in pages:
        browser.open(url)
        assert_page_is_whole(browser, url)
        if url.endswith((RUNBOOK_PAGE, BENCH_PAGE)):
            browser.screenshot(SCREENSHOTS / Path(url).name.replace(".html", ".png"))
    browser.open(home)
    titles = search(browser, "persistence")
    assert any("ersistence" in t for t in titles), titles
    outside = [r for r in browser.requests() if not r.startswith(LOCAL_SCHEMES)]
    assert outside == [], outside


@build
@needs_chromium
def test_the_served_site_navigates_to_the_runbook_and_searches(
    served: str, browser: Chromium
) -> None:
    browser.open(served + "index.html")
    assert_page_is_whole(browser, served)
    browser.js(f"document.querySelector('a.md-nav__link[href$=\"{RUNBOOK_PAGE}\"]').click()")
    browser.wait_for(f"location.href.endsWith({json.dumps(RUNBOOK_PAGE)})")
    browser.wait_for("document.readyState === 'complete' && document.querySelector('article h1')")
    assert "Install" in str(browser.js("document.querySelector('article h1').textContent"))
    titles = search(browser, "persistence")
    assert any("ersistence" in t for t in titles), titles
    outside = [r for r in browser.requests() if not r.startswith(LOCAL_SCHEMES)]
    assert outside == [], outside
