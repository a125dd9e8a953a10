"""Step 8: a first load test, as the article ran it (``ab -c 30 -n 300``), with the split.

``ab`` runs in a lab client, in front of the directors as the article's test machine was;
the split comes from the kernel (the VIP holder's IPVS counters), not from the answers, by
:func:`cluster.bench.load.load_test`. With rr and equal weights the real servers get equal
shares; at ``-c 30`` ab opens a few connections more than it sends requests, and IPVS counts
connections, so the shares are equal but can exceed 150 each.
"""

from __future__ import annotations

from typing import Any

from cluster.course import article
from cluster.course.figures import FIGURES, Chart
from cluster.course.target import Target
from cluster.views import Block, Note, Shows, SpecTable


def url(target: Target) -> str:
    """The first virtual service, as a client would address it."""
    first = next(vs for vs in target.spec.virtual_services if vs.address is not None)
    return f"http://{first.address}:{first.port}/"


def run(target: Target, requests: int, concurrency: int) -> dict[str, Any]:
    """``ab`` from client1 through the VIP; the benchmark's document, with where it ran."""
    from cluster.bench.load import load_test, vip_port
    from cluster.lab import directors

    assert target.lab is not None
    vip, _ = vip_port(url(target))
    holder = directors.holders(target.lab, target.spec)[vip]
    document = load_test(target.lab, url(target), holder[0], requests, concurrency)
    return {**document, "provenance": target.provenance()}


def split_table(document: dict[str, Any]) -> SpecTable:
    """Connections per real server, and each one's share."""
    total = sum(document["split"].values()) or 1
    rows = [(server, str(n), f"{100 * n / total:.1f} %") for server, n in document["split"].items()]
    return SpecTable(
        f"{document['complete']} requests to {document['url']}, {document['failed']} failed, "
        f"{document['requests_per_s']} per second; IPVS on {document['director']} counted",
        ("real server", "connections", "share"),
        rows,
    )


def chart(document: dict[str, Any], name: str) -> Chart:
    """The split as bars, with the even share marked (:func:`cluster.bench.load.chart`)."""
    from cluster.bench.load import chart as draw
    from cluster.charts import where

    png, svg = draw(document, FIGURES / name)
    return Chart(png, svg, where([document]))


def article_test(target: Target) -> Shows:
    """The article's ``ab -c 30 -n 300`` through the VIP, its split as a table and a chart."""
    if target.lab is None:
        stats = target.run("ipvsadm", "-Ln", "--stats").check().stdout
        return Shows(
            (
                Note(
                    "a load test needs a client in front of the directors: run ab there "
                    f"(ab -c {article.LOAD_CONCURRENCY} -n {article.LOAD_REQUESTS} {url(target)})",
                    "skipped",
                ),
                Block(f"{target.node}: ipvsadm -Ln --stats", stats),
            )
        )
    document = run(target, article.LOAD_REQUESTS, article.LOAD_CONCURRENCY)
    counted = sum(document["split"].values())
    even = len(set(document["split"].values())) == 1
    note = Note(
        f"IPVS counted {counted} connections for {document['complete']} requests, "
        + ("split evenly" if even else f"split {document['split']}"),
        "ok"
        if even or max(document["split"].values()) - min(document["split"].values()) <= 2
        else "problem",
    )
    return Shows((split_table(document), note, chart(document, "load-article")))
