"""Step 8: a first load test, as the article ran it (``ab -c 30 -n 300``), with the split.

``ab`` runs in a lab client, in front of the directors as the article's test machine was;
:func:`cluster.bench.load.load_test` counts it from three sides: ab's own summary, the VIP
holder's IPVS counters, and each real server's access log. With rr and equal weights the real
servers get equal shares of the connections; at ``-c 30`` ab sometimes opens a few connections
more than it sends requests, so IPVS can count more than 150 each, and the benchmark explains
every connection that carried no request.
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
    """Requests per real server (its access log), IPVS's connections, and each one's share."""
    total = sum(document["split"].values()) or 1
    rows = [
        (server, str(n), str(document["ipvs_split"].get(server, 0)), f"{100 * n / total:.1f} %")
        for server, n in document["split"].items()
    ]
    return SpecTable(
        f"{document['complete']} requests to {document['url']}, {document['failed']} failed, "
        f"{document['requests_per_s']['median']:g} per second; IPVS on {document['director']}",
        ("real server", "requests", "IPVS connections", "share"),
        rows,
    )


def chart(document: dict[str, Any], name: str) -> Chart:
    """Requests and IPVS connections per real server as bars (:func:`cluster.bench.plot.charts`)."""
    from cluster.bench.plot import charts

    return Chart.drawn(charts(document, FIGURES / name), [document])  # the latency CDF follows


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
    counted = sum(document["ipvs_split"].values())
    even = len(set(document["split"].values())) == 1
    explained = [line for run in document["runs"] for line in run["explained"]]
    note = Note(
        f"the real servers answered {document['complete']} requests, "
        + ("split evenly" if even else f"split {document['split']}")
        + f"; IPVS counted {counted} connections. "
        + "; ".join(explained),
        "ok" if even and not document["failed"] else "problem",
    )
    return Shows((split_table(document), note, chart(document, "load-article")))
