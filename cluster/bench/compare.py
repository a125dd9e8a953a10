"""``cluster bench compare A B``: what changed between two results of one benchmark (pure).

Each benchmark document holds its trials raw, so every timed figure comes with its own
noise: the spread of its trials. A figure is flagged when the medians of A and B differ by
more than that spread (the larger of the two runs' max - min), times a factor that depends
on how few trials there are: 2 for three trials, 1.5 for four, 1 for five or more. Drawn
from the same normal noise, two runs of the same code are then flagged about once in 200
comparisons of a figure (simulated: 0.6 % with three trials, 0.2 % with four, 0.4 % with
five); a figure with fewer than three trials on a side is shown but not judged, since two
trials say next to nothing about noise. A difference under 2 % of the median is never
flagged: the spread of trials that agree to the last digit is no noise to judge by.

Outcomes that are exact rather than timed (a split, "every connection where the model
said", failed requests, a failover verdict) must simply be equal; any difference is flagged.

Where the two documents ran (lab mode and kernel, host CPU, code revision) is printed first,
so that a change of machine is not mistaken for a change of code.

>>> settings = {"requests": 300, "concurrency": 30, "url": "http://192.168.0.174/"}
>>> a = {"benchmark": "load", **settings, "failed": 0, "runs": [
...     {"requests_per_s": r, "latency_ms": {"p50": 30.0 + r / 100}} for r in (800, 810, 790)]}
>>> b = {"benchmark": "load", **settings, "failed": 0, "runs": [
...     {"requests_per_s": r, "latency_ms": {"p50": 30.0 + r / 100}} for r in (805, 795, 812)]}
>>> compare(a, b).flagged
[]
>>> slow = {"benchmark": "load", **settings, "failed": 3, "runs": [
...     {"requests_per_s": r, "latency_ms": {"p50": 300.0}} for r in (80, 81, 79)]}
>>> [(f.name, f.verdict) for f in compare(a, slow).flagged]
[('requests/s', 'worse'), ('latency p50 ms', 'worse'), ('failed requests', 'changed')]
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from cluster.charts import where
from cluster.errors import UsageError

Better = Literal["lower", "higher"]
#: A difference smaller than this share of the median is never flagged.
FLOOR = 0.02


def spread_factor(trials: int) -> float | None:
    """How many spreads a change must exceed, for the fewer trials of the two runs; None
    when there are too few to judge.

    >>> [spread_factor(n) for n in (1, 2, 3, 4, 5, 30)]
    [None, None, 2.0, 1.5, 1.0, 1.0]
    """
    if trials < 3:
        return None
    return {3: 2.0, 4: 1.5}.get(trials, 1.0)


@dataclass(frozen=True)
class Timed:
    """One timed figure of a benchmark: a sample per trial, and which way is better."""

    samples: tuple[float, ...]
    better: Better = "lower"


@dataclass(frozen=True)
class Finding:
    """One figure or outcome of A beside B, and the verdict: ``same``, ``better``, ``worse``,
    ``changed`` (an exact outcome differs), ``unjudged`` (too few trials), or ``only in A``
    / ``only in B``."""

    name: str
    before: str
    after: str
    verdict: str
    change: str = ""
    noise: str = ""

    @property
    def flagged(self) -> bool:
        return self.verdict in ("better", "worse", "changed", "only in A", "only in B")


@dataclass(frozen=True)
class Comparison:
    """Two documents of one benchmark side by side, with where each ran: what ``bench
    compare`` prints, and its exit code (non-zero when anything is flagged)."""

    kind: str
    where_a: str
    where_b: str
    findings: list[Finding] = field(default_factory=list)

    @property
    def flagged(self) -> list[Finding]:
        return [f for f in self.findings if f.flagged]


def _median(values: tuple[float, ...]) -> float:
    return float(statistics.median(values))


def _show(samples: tuple[float, ...]) -> str:
    middle = _median(samples)
    if len(samples) == 1:
        return f"{middle:.4g}"
    return f"{middle:.4g} ({min(samples):.4g}-{max(samples):.4g}, n={len(samples)})"


def judge(name: str, a: Timed, b: Timed) -> Finding:
    """A timed figure of A beside B, by the rule in the module's docstring.

    >>> judge("p50", Timed((30.0, 31.0, 29.0)), Timed((33.0, 34.0, 32.0))).verdict
    'same'
    >>> judge("p50", Timed((30.0, 31.0, 29.0)), Timed((36.0, 37.0, 35.5))).verdict
    'worse'
    """
    before, after = _median(a.samples), _median(b.samples)
    delta = after - before
    change = f"{delta / before:+.1%}" if before else f"{delta:+.4g}"
    factor = spread_factor(min(len(a.samples), len(b.samples)))
    if factor is None:
        return Finding(name, _show(a.samples), _show(b.samples), "unjudged", change)
    spread = max(max(a.samples) - min(a.samples), max(b.samples) - min(b.samples))
    noise = factor * spread
    beyond = abs(delta) > noise and abs(delta) > FLOOR * abs(before)
    verdict = "same"
    if beyond:
        verdict = "better" if (delta < 0) == (a.better == "lower") else "worse"
    return Finding(name, _show(a.samples), _show(b.samples), verdict, change, f"±{noise:.3g}")


# --- what each benchmark's documents hold -----------------------------------------------------


def _load(doc: dict[str, Any]) -> tuple[dict[str, Timed], dict[str, Any]]:
    runs = doc["runs"]
    timed = {"requests/s": Timed(tuple(r["requests_per_s"] for r in runs), "higher")}
    for name in ("p50", "p90", "p99", "max"):
        if all(name in r["latency_ms"] for r in runs):
            timed[f"latency {name} ms"] = Timed(tuple(r["latency_ms"][name] for r in runs))
    keepalive = " -k" if doc.get("keepalive") else ""
    exact: dict[str, Any] = {
        "ab settings": f"-n {doc['requests']} -c {doc['concurrency']}{keepalive} {doc['url']}",
        "failed requests": doc["failed"],
    }
    if all("server_requests" in r for r in runs):
        exact["ab's count equals the real servers'"] = all(
            sum(r["server_requests"].values()) == r["complete"] for r in runs
        )
    if doc.get("model"):
        exact["IPVS's split as the model spreads it"] = (
            sorted(doc["ipvs_split"].values(), reverse=True) == doc["model"]["counts"]
        )
    return timed, exact


def _sweep(doc: dict[str, Any]) -> tuple[dict[str, Timed], dict[str, Any]]:
    exact: dict[str, Any] = {}
    for run in doc["runs"]:
        exact[f"{run['name']}: as the model predicts"] = run["exact"]
        exact[f"{run['name']}: split"] = run["measured_split"]
    return {}, exact


def _failover(doc: dict[str, Any]) -> tuple[dict[str, Timed], dict[str, Any]]:
    name, trials = doc["scenario"]["name"], doc["trials"]
    takeovers = tuple(
        max(v for v in t["takeover_s"].values() if v is not None)
        for t in trials
        if any(v is not None for v in t["takeover_s"].values())
    )
    timed = {
        f"{name}: client outage s": Timed(tuple(t["outage_s"] for t in trials)),
        f"{name}: failed requests": Timed(tuple(t["outage_failed"] for t in trials)),
    }
    if takeovers:
        timed[f"{name}: VIP on the backup s"] = Timed(takeovers)
    return timed, {f"{name}: theory window s": doc.get("theory_window_s")}


def _connections(doc: dict[str, Any]) -> tuple[dict[str, Timed], dict[str, Any]]:
    timed = {
        f"connections that survived, {kind}": Timed(
            tuple(t["survived_share"] for t in trials), "higher"
        )
        for kind, trials in doc["trials"].items()
    }
    return timed, {}


def _cable(doc: dict[str, Any]) -> tuple[dict[str, Timed], dict[str, Any]]:
    return {}, {
        f"{c['layout']}, {c['on']}: {c['fault']} {c['links'] or ''}".rstrip(): c["verdicts"]
        for c in doc["cells"]
    }


def _ipvs(doc: dict[str, Any]) -> tuple[dict[str, Timed], dict[str, Any]]:
    timed: dict[str, Timed] = {}
    exact: dict[str, Any] = {}
    for size in doc["sizes"]:
        n = f"{size['services']:,} services"
        for key, label in (("ours_in_process_s", "ours in process s"),
                           ("ours_process_s", "cluster ipvs restore s"),
                           ("ipvsadm_restore_s", "ipvsadm-restore s"),
                           ("weight_change_ms", "one weight change ms"),
                           ("unchanged_diff_s", "diff of the unchanged table s")):  # fmt: skip
            samples = tuple(r[key] for r in size["runs"] if r.get(key) is not None)
            if samples:
                timed[f"{n}: {label}"] = Timed(samples)
        exact[f"{n}: the weight change touched nothing else"] = size["other_entries_unchanged"]
    return timed, exact


def _lab(doc: dict[str, Any]) -> tuple[dict[str, Timed], dict[str, Any]]:
    timed = {
        f"{key} ms": Timed(tuple(value["samples_ms"]))
        for key, value in doc.items()
        if isinstance(value, dict) and "samples_ms" in value
    }
    timed |= {key: Timed((value,)) for key, value in doc.items() if key.endswith("_s")}
    return timed, {}


def _check(doc: dict[str, Any]) -> tuple[dict[str, Timed], dict[str, Any]]:
    timed = {
        f"{r['kind']} round {what} s": Timed((r[f"{what}_s"],))
        for r in doc["rounds"]
        for what in ("wall", "cpu")
    }
    exact = {f"{r['kind']} round: up of {r['checks']}": r["up"] for r in doc["rounds"]}
    return timed, {"endpoints": doc["endpoints"], **exact}


READERS: dict[str, Callable[[dict[str, Any]], tuple[dict[str, Timed], dict[str, Any]]]] = {
    "load": _load,
    "sweep": _sweep,
    "failover": _failover,
    "failover-connections": _connections,
    "failover-cable": _cable,
    "ipvs": _ipvs,
    "check": _check,
}


def kind(doc: dict[str, Any]) -> str:
    """The benchmark a document is from (``bench lab`` writes no name; ``bench check`` a
    sentence)."""
    name = str(doc.get("benchmark", "lab" if "lab_up_s" in doc else ""))
    return "check" if name.startswith("one round of health checks") else name


def _read(doc: dict[str, Any]) -> tuple[dict[str, Timed], dict[str, Any]]:
    name = kind(doc)
    reader = _lab if name == "lab" else READERS.get(name)
    if reader is None:
        raise UsageError(f"cannot compare {name or 'unnamed'!r} documents; known: "
                         f"{', '.join(['lab', *READERS])}")  # fmt: skip
    try:
        return reader(doc)
    except (KeyError, TypeError, ValueError) as err:
        raise UsageError(f"a {name} document without the trials compare needs ({err}); "
                         "was it written by an older version?") from None  # fmt: skip


def _pairs(a: dict[str, Any], b: dict[str, Any]) -> Iterator[tuple[str, Any, Any]]:
    for name in dict.fromkeys([*a, *b]):
        yield name, a.get(name), b.get(name)


def compare(a: dict[str, Any], b: dict[str, Any]) -> Comparison:
    """Every figure and outcome of two documents of one benchmark, A before B."""
    if kind(a) != kind(b):
        raise UsageError(f"A is a {kind(a)!r} result and B a {kind(b)!r} one; compare like "
                         "with like")  # fmt: skip
    (timed_a, exact_a), (timed_b, exact_b) = _read(a), _read(b)
    findings = []
    for name, x, y in _pairs(timed_a, timed_b):
        if x is None or y is None:
            findings.append(Finding(name, _show(x.samples) if x else "-",
                                    _show(y.samples) if y else "-",
                                    "only in A" if y is None else "only in B"))  # fmt: skip
        else:
            findings.append(judge(name, x, y))
    for name, x, y in _pairs(exact_a, exact_b):
        findings.append(Finding(name, str(x), str(y), "same" if x == y else "changed"))
    return Comparison(kind(a), where([a]), where([b]), findings)


def report(comparison: Comparison, a_name: str = "A", b_name: str = "B") -> str:
    """The comparison as text: where each ran, a row per figure, and the verdict."""
    rows = [("", a_name, b_name, "change", "noise", "verdict")]
    rows += [
        (
            f.name,
            f.before,
            f.after,
            f.change,
            f.noise,
            f.verdict.upper() if f.flagged else f.verdict,
        )
        for f in comparison.findings
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        f"{comparison.kind}: A ran on {comparison.where_a}",
        f"{' ' * len(comparison.kind)}  B ran on {comparison.where_b}",
        "",
        *("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
          for row in rows),
        "",
    ]  # fmt: skip
    flagged = comparison.flagged
    if flagged:
        lines.append(f"{len(flagged)} beyond the noise: "
                     + ", ".join(f"{f.name} ({f.verdict})" for f in flagged))  # fmt: skip
    else:
        lines.append("nothing changed beyond the noise of the trials")
    return "\n".join(lines) + "\n"
