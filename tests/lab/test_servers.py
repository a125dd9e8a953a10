"""The lab's real servers and SMTP sink: the page, the digest, the faults and the mail store."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from fetch import curl

from cluster.lab import Lab
from cluster.lab.servers import PAGE
from cluster.lab.topology import seed_topology
from cluster.spec import load_seed_spec

TOPO = seed_topology()
REAL_SERVERS = TOPO.by_role("realserver")
DIRECTOR = TOPO.by_role("director")[0].name
SEED_DIGEST = next(
    url.digest
    for vs in load_seed_spec().virtual_services
    for rs in vs.real_servers
    if rs.check and rs.check.urls
    for url in rs.check.urls
    if url.digest
)

# One Python start in the lab for all four fetches: each costs most of a second in the guest.
OUR_GENHASH = """
import asyncio, json, sys
from cluster.probes.http import Target, genhash

async def main():
    targets = [Target(a, p, ssl=p == 443) for a in sys.argv[1:] for p in (80, 443)]
    answers = await asyncio.gather(*(genhash(t) for t in targets))
    print(json.dumps({t.where: r.digest for t, r in zip(targets, answers)}))

asyncio.run(main())
"""


def get(lab: Lab, node: str, url: str, *options: str) -> tuple[int, dict[str, str], str]:
    """Status, headers and body of one request from ``node``, verifying HTTPS with the lab CA."""
    rc, out = curl(lab, node, url, "-i", "--cacert", str(lab.paths.pki / "ca.pem"), *options)
    assert rc == 0, f"{node} -> {url}: curl exit {rc}: {out}"
    head, _, body = out.partition("\r\n\r\n")
    status_line, *lines = head.split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines)
    return int(status_line.split()[1]), headers, body


def real_genhash(lab: Lab, address: str, port: int) -> str:
    tls = ["-S"] if port == 443 else []
    out = lab.run(DIRECTOR, "genhash", *tls, "-s", address, "-p", str(port), "-u", "/").check()
    return out.stdout.split()[-1]


@pytest.fixture
def realserver1(lab: Lab) -> Iterator[str]:
    """realserver1 for a fault test, served normally again afterwards."""
    yield REAL_SERVERS[0].name
    lab.fault(REAL_SERVERS[0].name, "clear")


def test_lab_up_started_the_servers(lab: Lab) -> None:
    servers = lab.status()["servers"]
    assert {node: s["role"] for node, s in servers.items()} == {
        "realserver1": "realserver",
        "realserver2": "realserver",
        "smtp": "smtp",
    }
    assert all(s["pid"] for s in servers.values())
    assert lab.faults() == {"realserver1": "clear", "realserver2": "clear"}


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_page_and_name_from_own_namespace_and_director(lab: Lab, scheme: str) -> None:
    page = PAGE.read_text()
    for rs in REAL_SERVERS:
        for node in (rs.name, DIRECTOR):
            status, headers, body = get(lab, node, f"{scheme}://{rs.address}/")
            assert (status, headers["X-Real-Server"], body) == (200, rs.name, page), node
            assert headers["Content-Length"] == str(len(PAGE.read_bytes()))


def test_certificates_name_the_virtual_host(lab: Lab) -> None:
    rs = REAL_SERVERS[1]
    host = TOPO.virtualhosts[0]
    _, headers, _ = get(lab, DIRECTOR, f"https://{host}/", "--resolve", f"{host}:443:{rs.address}")
    assert headers["X-Real-Server"] == rs.name


def test_digests_match_the_seed_and_real_genhash(lab: Lab) -> None:
    addresses = [rs.address for rs in REAL_SERVERS]
    ours = json.loads(lab.run_python(DIRECTOR, OUR_GENHASH, *addresses).check().stdout)
    assert len(ours) == 4 and set(ours.values()) == {SEED_DIGEST}
    for address in addresses:
        for port in (80, 443):
            assert real_genhash(lab, address, port) == SEED_DIGEST, (address, port)


def test_concurrent_requests(lab: Lab) -> None:
    rs = REAL_SERVERS[1]
    out = lab.run(DIRECTOR, "ab", "-q", "-n", "600", "-c", "30", f"http://{rs.address}/").check()
    assert "Complete requests:      600" in out.stdout
    assert "Failed requests:        0" in out.stdout


def test_slow_answers_after_the_delay_and_stays_concurrent(lab: Lab, realserver1: str) -> None:
    url = f"http://{REAL_SERVERS[0].address}/"
    lab.fault(realserver1, "slow", 2)
    rc, out = curl(lab, DIRECTOR, url, timeout=1)
    assert rc == 28, out  # curl's "operation timed out"
    start = time.monotonic()
    out = lab.run(DIRECTOR, "ab", "-q", "-n", "30", "-c", "30", url).check().stdout
    assert "Failed requests:        0" in out
    assert time.monotonic() - start < 10, "30 slow requests were answered one after another"
    assert lab.faults()[realserver1] == "slow 2"


def test_wrong_body_changes_the_digest(lab: Lab, realserver1: str) -> None:
    lab.fault(realserver1, "wrong-body")
    assert real_genhash(lab, REAL_SERVERS[0].address, 80) != SEED_DIGEST
    assert real_genhash(lab, REAL_SERVERS[0].address, 443) != SEED_DIGEST
    assert real_genhash(lab, REAL_SERVERS[1].address, 80) == SEED_DIGEST  # only the one


def test_status_is_sent_with_the_right_page(lab: Lab, realserver1: str) -> None:
    lab.fault(realserver1, "status", 503)
    for scheme in ("http", "https"):
        status, _, body = get(lab, DIRECTOR, f"{scheme}://{REAL_SERVERS[0].address}/")
        assert (status, body) == (503, PAGE.read_text())
    # genhash ignores the status: only HTTP_GET's status check catches this fault
    assert real_genhash(lab, REAL_SERVERS[0].address, 80) == SEED_DIGEST


def test_down_refuses_and_clear_restarts(lab: Lab, realserver1: str) -> None:
    url = f"http://{REAL_SERVERS[0].address}/"
    lab.fault(realserver1, "down")
    assert lab.faults()[realserver1] == "down"
    assert realserver1 not in lab.running_services()
    for port in (80, 443):
        rc, out = curl(lab, DIRECTOR, f"http://{REAL_SERVERS[0].address}:{port}/")
        assert rc == 7, out  # curl's "failed to connect": refused
    lab.fault(realserver1, "clear")
    assert get(lab, DIRECTOR, url)[0] == 200
    assert lab.faults()[realserver1] == "clear"


def test_mail_from_a_director_reaches_the_sink(lab: Lab) -> None:
    sink = TOPO.node("smtp").address
    subject = f"[DIRECTOR01] lab test {time.time()}"
    send = f"""
import smtplib, sys
from email.message import EmailMessage
m = EmailMessage()
m["From"], m["To"], m["Subject"] = "lvs@mydomain", "admin@mydomain, ops@mydomain", sys.argv[1]
m.set_content("realserver1 is down\\n.a line that starts with a dot\\n")
with smtplib.SMTP("{sink}", 25, timeout=10) as smtp:
    smtp.send_message(m)
"""
    before = time.time()
    lab.run_python(DIRECTOR, send, subject).check()
    mail = next(m for m in lab.mails() if m.subject == subject)
    assert mail.sender == "lvs@mydomain"
    assert mail.recipients == ["admin@mydomain", "ops@mydomain"]
    assert mail.body == "realserver1 is down\n.a line that starts with a dot\n"
    assert before - 5 < mail.time < time.time() + 5
    assert mail.peer.startswith(TOPO.node(DIRECTOR).address + ":")
    assert lab.status()["mails"] >= 1
