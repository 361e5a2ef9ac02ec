"""Execute every notebook in notebooks/ top to bottom; any cell error fails the test.

The kernel is pinned to the interpreter running the tests: the test writes
ipykernel's own kernelspec (argv ``[sys.executable, -m, ipykernel_launcher, ...]``)
into a temporary folder and hands nbclient a kernel manager whose spec manager
looks *only* there. So it works on a fresh machine where just
``pip install -e ".[dev]"`` was run (no ``ipykernel install`` step), installs
nothing into the user's Jupyter folders, and cannot pick up a stale user-level
``python3`` kernel that points at another Python without mdplab.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nbclient
import nbformat
import pytest
from ipykernel.kernelspec import write_kernel_spec
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient.exceptions import CellExecutionError

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
CELL_TIMEOUT_S = 300
KERNEL_NAME = "python3"


@pytest.fixture(scope="module")
def kernel_spec_dir(tmp_path_factory) -> Path:
    """A kernels/ folder holding one spec, ``python3``, that runs this interpreter."""
    kernels = tmp_path_factory.mktemp("jupyter") / "kernels"
    write_kernel_spec(path=str(kernels / KERNEL_NAME))
    return kernels


def _kernel_manager(kernel_dirs: Path) -> KernelManager:
    ksm = KernelSpecManager(kernel_dirs=[str(kernel_dirs)], ensure_native_kernel=False)
    return KernelManager(kernel_name=KERNEL_NAME, kernel_spec_manager=ksm)


def test_notebooks_exist():
    assert NOTEBOOKS, f"no notebooks found in {NOTEBOOK_DIR}"


def test_kernel_is_this_interpreter(kernel_spec_dir):
    spec = KernelSpecManager(kernel_dirs=[str(kernel_spec_dir)],
                             ensure_native_kernel=False).get_kernel_spec(KERNEL_NAME)
    assert spec.argv[0] == sys.executable


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs(path: Path, kernel_spec_dir: Path, tmp_path: Path):
    nb = nbformat.read(path, as_version=4)
    before = set(os.listdir(NOTEBOOK_DIR))
    client = nbclient.NotebookClient(
        nb,
        km=_kernel_manager(kernel_spec_dir),
        kernel_name=KERNEL_NAME,
        timeout=CELL_TIMEOUT_S,
        allow_errors=False,
        resources={"metadata": {"path": str(NOTEBOOK_DIR)}},  # the kernel's working dir
    )
    try:
        client.execute()
    except CellExecutionError as exc:
        # Keep the executed copy (with outputs) for inspection; the message has the traceback.
        out = tmp_path / path.name
        nbformat.write(nb, out)
        pytest.fail(f"{path.name} failed (executed copy: {out}):\n{exc}", pytrace=False)
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors, errors
    left = set(os.listdir(NOTEBOOK_DIR)) - before
    assert not left, f"{path.name} left files in notebooks/: {sorted(left)}"
