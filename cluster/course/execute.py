"""Run the notebooks once, keep the executed copies, and run the walk-through on "this machine".

The notebooks are committed without outputs. :func:`execute` runs them in order, in one
Jupyter kernel (its namespace reset between notebooks, so none leans on another's variables),
against one lab boot (``Lab.up()`` reuses a running lab), and writes each executed copy to
``out/notebooks/NAME.ipynb``. The tests read those copies, and the docs build renders them
(``docs/hooks/notebooks.py``) instead of executing the notebooks again; a copy is reused
while its :func:`stamp` (the git revision, and the hash of the notebook and of the package's
source) still matches, so a CI run executes each notebook once.

Parameters go in as papermill does it: a cell after the one tagged ``parameters``, tagged
``injected-parameters``, sets the new values (:func:`with_parameters`).

:func:`execute_on_director` is the "this machine" run: the walk-through executed inside a lab
director's network namespace, with the lab's Python, ``TARGET = "this machine"`` and that
director's root, as if JupyterLab ran on the director itself.

>>> nb = {"cells": [{"cell_type": "code", "metadata": {"tags": ["parameters"]},
...                  "source": 'TARGET = "lab"', "outputs": [], "execution_count": None}],
...       "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
>>> cells = with_parameters(nb, {"TARGET": "this machine", "TRIALS": 5})["cells"]
>>> [c["metadata"]["tags"] for c in cells]
[['parameters'], ['injected-parameters']]
>>> print(cells[1]["source"])
# Parameters set by cluster notebooks execute
TARGET = 'this machine'
TRIALS = 5
>>> parameter("TRIALS=5"), parameter("NODE=director02"), parameter("SPEC=None")
(('TRIALS', 5), ('NODE', 'director02'), ('SPEC', None))
"""

from __future__ import annotations

import ast
import copy
import hashlib
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cluster.errors import LabError, ToolError, UsageError
from cluster.provenance import CHECKOUT, code, running_lab_state

if TYPE_CHECKING:
    from cluster.lab.lab import Lab

NOTEBOOKS = CHECKOUT / "notebooks"
OUT = CHECKOUT / "out" / "notebooks"
PARTS = ("walk-through", "benchmark", "teaching")
KERNEL = "lvs-cluster-run"
CELL_TIMEOUT = 1200
META = "lvs_cluster"
"""The notebooks' own metadata key: ``part`` in the source, the run's stamp in a copy."""

Progress = Callable[[str], None]


def read(path: Path) -> dict[str, Any]:
    return dict(json.loads(path.read_text()))


def part(path: Path) -> str:
    """Which part of the course a notebook belongs to (its metadata says)."""
    return str(read(path)["metadata"].get(META, {}).get("part", ""))


def notebooks(names: Iterable[str] = (), parts: Iterable[str] = ()) -> list[Path]:
    """The notebooks in course order; ``names`` (file names or stems) and ``parts`` narrow
    the list."""
    found = sorted(NOTEBOOKS.glob("*.ipynb"))
    wanted = {n.removesuffix(".ipynb") for n in names}
    unknown = wanted - {p.stem for p in found}
    if unknown:
        raise UsageError(f"no notebook {', '.join(sorted(unknown))} in {NOTEBOOKS}")
    parts = set(parts)
    return [
        p for p in found if (not wanted or p.stem in wanted) and (not parts or part(p) in parts)
    ]


def source_hash() -> str:
    """The package's Python and data files by content: what a notebook's outputs depend on."""
    digest = hashlib.sha256()
    package = CHECKOUT / "cluster"
    for path in sorted(package.rglob("*")):
        if path.is_file() and path.suffix in (".py", ".yaml", ".html", ".c"):
            digest.update(str(path.relative_to(package)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def stamp(path: Path, parameters: dict[str, Any], sources: str | None = None) -> str:
    """What an executed copy of ``path`` was made from: the revision, the notebook, the
    package's source and the parameters. Equal stamps, equal outputs (but for timings)."""
    digest = hashlib.sha256()
    digest.update(str(code()["revision"]).encode() + b"\0")
    digest.update(path.read_bytes() + b"\0")
    digest.update((sources or source_hash()).encode() + b"\0")
    digest.update(json.dumps(parameters, sort_keys=True).encode())
    return digest.hexdigest()


def parameter(text: str) -> tuple[str, Any]:
    """``NAME=VALUE`` from the command line; VALUE is a Python literal, or else a string."""
    name, sep, value = text.partition("=")
    if not sep or not name.isidentifier():
        raise UsageError(f"parameter {text!r}: want NAME=VALUE")
    try:
        return name, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return name, value


def with_parameters(nb: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """``nb`` with a cell setting ``values`` right after its ``parameters`` cell."""
    nb = copy.deepcopy(nb)
    cells = nb["cells"]
    index = next(
        (i for i, c in enumerate(cells) if "parameters" in c["metadata"].get("tags", [])), None
    )
    if index is None:
        raise UsageError("the notebook has no cell tagged 'parameters'")
    if values:
        lines = ["# Parameters set by cluster notebooks execute"]
        lines += [f"{name} = {value!r}" for name, value in values.items()]
        cells.insert(
            index + 1,
            {
                "cell_type": "code",
                "execution_count": None,
                "outputs": [],
                "id": "injected-parameters",
                "metadata": {"tags": ["injected-parameters"]},
                "source": "\n".join(lines),
            },
        )
    return nb


def fresh(path: Path, out: Path, parameters: dict[str, Any], sources: str) -> bool:
    """Whether ``out`` holds an executed copy of ``path`` made from what is here now."""
    copy_ = out / path.name
    if not copy_.exists():
        return False
    meta = read(copy_)["metadata"].get(META, {})
    return bool(meta.get("stamp") == stamp(path, parameters, sources))


def _kernel_dir() -> Path:
    """A kernelspec for this very interpreter, so the notebooks run the Python (and the
    PYTHONPATH) that runs this, in a lab guest as on the host."""
    folder = Path(tempfile.mkdtemp(prefix="lvs-kernel-"))
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python (cluster notebooks execute)",
        "language": "python",
    }
    (folder / KERNEL).mkdir()
    (folder / KERNEL / "kernel.json").write_text(json.dumps(spec))
    return folder


def execute(
    paths: list[Path],
    out: Path = OUT,
    parameters: dict[str, Any] | None = None,
    progress: Progress = print,
    stale_only: bool = False,
    down_after: bool = False,
) -> list[Path]:
    """Execute ``paths`` in order in one kernel; write each executed copy to ``out``.

    With ``stale_only``, copies that are :func:`fresh` are kept as they are. A failing cell
    stops the run with :class:`ToolError`; the copy made so far is written (unstamped), so
    the error can be read in place. With ``down_after``, a lab that the notebooks brought up
    is taken down at the end (one that ran before is left running).
    """
    import nbformat
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError
    from nbclient.util import run_sync

    parameters = parameters or {}
    sources = source_hash()
    todo = [p for p in paths if not (stale_only and fresh(p, out, parameters, sources))]
    out.mkdir(parents=True, exist_ok=True)
    if not todo:
        return []
    lab_before = running_lab_state() is not None
    kernels = _kernel_dir()
    km = AsyncKernelManager(
        kernel_name=KERNEL, kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(kernels)])
    )
    resources = {"metadata": {"path": str(NOTEBOOKS)}}
    reset = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("%reset -f")])
    written = []
    try:
        for number, path in enumerate(todo):
            if number:
                NotebookClient(reset, km=km, resources=resources).execute()
            nb = nbformat.reads(json.dumps(with_parameters(read(path), parameters)), 4)
            client = NotebookClient(
                nb, km=km, timeout=CELL_TIMEOUT, allow_errors=False, resources=resources
            )
            progress(f"executing {path.name}")
            started = time.monotonic()
            target = out / path.name
            try:
                client.execute()
            except CellExecutionError as err:
                nbformat.write(nb, target)
                reason = str(err).strip().splitlines()[-1]
                raise ToolError(f"{path.name}: a cell failed: {reason} (see {target})") from err
            seconds = round(time.monotonic() - started, 1)
            nb.metadata[META] = {
                **nb.metadata.get(META, {}),
                "stamp": stamp(path, parameters, sources),
                "parameters": parameters,
                "seconds": seconds,
                "executed": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            }
            nbformat.write(nb, target)
            progress(f"{path.name}: {seconds} s")
            written.append(target)
    finally:
        if km.has_kernel:
            run_sync(km.shutdown_kernel)(now=True)
        shutil.rmtree(kernels, ignore_errors=True)
        if down_after and not lab_before and running_lab_state() is not None:
            from cluster.lab import Lab

            Lab.down()
    return written


def execute_on_director(
    lab: Lab,
    node: str = "director01",
    out: Path = OUT / "this-machine",
    names: Iterable[str] = (),
    progress: Progress = print,
) -> list[Path]:
    """The walk-through as "this machine" inside lab director ``node``: executed there by the
    lab's Python, with the spec the lab's directors run (and the firewall back-end the lab
    chose for its kernel) and ``node``'s root; the copies land in ``out``."""
    from cluster.lab import directors, guest
    from cluster.spec import dump_spec

    spec = directors.current_spec(lab)
    if spec is None:
        raise LabError("the lab's directors are not set up yet: run the walk-through on the lab")
    backend = "nftables" if directors.has_nftables_nat(lab, node) else "iptables"
    spec = spec.model_copy(
        update={"firewall": spec.firewall.model_copy(update={"backend": backend})}
    )
    home = lab.paths.share / "notebooks"
    spec_path, share_out = home / f"{node}.yaml", home / f"{node}-executed"
    lab.write_file(node, str(spec_path), dump_spec(spec))
    lab.run(node, "rm", "-rf", str(share_out)).check()
    python, pythonpath = guest.guest_python()
    env = [
        f"PYTHONPATH={pythonpath}",
        f"MPLCONFIGDIR={home / 'matplotlib'}",
        f"JUPYTER_RUNTIME_DIR={home / 'runtime'}",
        f"IPYTHONDIR={home / 'ipython'}",
    ]
    argv = [
        "notebooks",
        "execute",
        *names,
        "--part",
        "walk-through",
        "--out",
        str(share_out),
        "-p",
        "TARGET=this machine",
        "-p",
        f"NODE={node}",
        "-p",
        f"SPEC={spec_path}",
        "-p",
        f"ROOT={directors.layout(lab, node).root}",
    ]
    lab.refresh_code()
    progress(f"executing the walk-through as 'this machine' inside {node}")
    done = lab.run(node, "env", *env, python, "-m", "cluster", *argv, timeout=3600)
    out.mkdir(parents=True, exist_ok=True)
    copied = []
    for executed in sorted(share_out.glob("*.ipynb")):
        shutil.copyfile(executed, out / executed.name)
        copied.append(out / executed.name)
    if not done.ok:
        raise ToolError(f"the walk-through failed inside {node}: {done.stderr.strip()[-2000:]}")
    return copied
