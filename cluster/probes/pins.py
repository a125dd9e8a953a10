"""``cluster digest``: fetch the page behind every digest a spec pins, and the new digests.

A digest pins a page's exact bytes, so any edit to the page takes the real server out of the
pool. Refreshing them by hand means running genhash once per URL with the right options; here
each URL is fetched as its HTTP_GET/SSL_GET checker fetches it (connect_port, virtualhost,
SNI, connect_timeout) and the answers become a change set for :mod:`cluster.spec.edit`.

All or nothing: if one page cannot be fetched, or its status would fail the check before the
digest is even compared, no digest is changed, since a half-refreshed spec looks current.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass

from cluster.errors import ProbeError
from cluster.probes.checks import Job, checks_in, status_problem
from cluster.probes.digest import Response
from cluster.probes.http import Target, genhash
from cluster.spec.model import ClusterSpec, Url


@dataclass(frozen=True)
class Pin:
    """One URL of one HTTP_GET/SSL_GET checker, and where its digest is written in the spec."""

    job: Job
    index: int

    @property
    def url(self) -> Url:
        return self.job.check.urls[self.index]

    @property
    def pinned(self) -> bool:
        """Whether the spec has a ``digest`` key here, even an empty one (``digest: ~``);
        a URL without one is a status check by choice, and stays one."""
        return "digest" in self.url.model_fields_set

    @property
    def path(self) -> tuple[str | int, ...]:
        return (*self.job.path, "check", "urls", self.index, "digest")

    @property
    def target(self) -> Target:
        return self.job.target(self.url)

    def __str__(self) -> str:
        return f"{self.job.service} {self.job.server} {self.target.where}"


def pins_in(spec: ClusterSpec) -> list[Pin]:
    """Every URL of every HTTP_GET/SSL_GET checker in the spec, in file order."""
    return [
        Pin(job, index)
        for job in checks_in(spec)
        if job.check.type != "TCP_CHECK"
        for index in range(len(job.check.urls))
    ]


async def fetch_pages(pins: Iterable[Pin]) -> dict[Target, Response]:
    """Each distinct page once, all at once; one ProbeError naming the first failure."""
    targets = list(dict.fromkeys(pin.target for pin in pins))
    answers = await asyncio.gather(*(genhash(t) for t in targets), return_exceptions=True)
    for answer in answers:
        if isinstance(answer, BaseException) and not isinstance(answer, ProbeError):
            raise answer  # a bug, not a server's fault: keep its traceback
    failed = [a for a in answers if isinstance(a, ProbeError)]
    if failed:
        more = f" ({len(failed) - 1} more pages failed too)" if len(failed) > 1 else ""
        raise ProbeError(f"{failed[0]}; nothing written{more}", failed[0].reason)
    return {t: a for t, a in zip(targets, answers, strict=True) if isinstance(a, Response)}


def new_digests(
    pins: Iterable[Pin], pages: dict[Target, Response]
) -> dict[tuple[str | int, ...], str]:
    """The digests that differ from the spec's, by their place in it.

    Refuses a page whose status the URL's check rejects: its digest would never be compared.
    """
    changes = {}
    for pin in pins:
        page = pages[pin.target]
        problem = status_problem(pin.url, page.status)
        if problem:
            raise ProbeError(
                f"{pin.target.where}: {problem}, so its check fails before the digest "
                "counts; nothing written",
                problem,
            )
        if (pin.url.digest or "").lower() != page.digest:
            changes[pin.path] = page.digest
    return changes
