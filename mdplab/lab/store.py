"""The result store: one Parquet file per (experiment, parameter cell, seed).

Layout under the root (``results/`` by default, ``MDPLAB_RESULTS`` or
``--results`` override)::

    <root>/<experiment>/<cell key>/params.json      the cell's parameters
    <root>/<experiment>/<cell key>/seed-<n>.parquet  rows of one run
    <root>/<experiment>/<cell key>/seed-<n>.failed.json  a failure record

The cell key hashes the experiment name, its ``version`` and the parameters,
so a changed experiment never mixes with old results. Every file is written
to a temporary name in the same folder and renamed into place (atomic on
POSIX), so a killed sweep leaves either a complete file or none; a rerun
skips what is stored and finishes the rest. Nothing is ever overwritten
except a failure record by a later success (or a newer failure).
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from mdplab.lab.errors import LabError

RESERVED_COLUMNS = ("seed",)


def default_root() -> Path:
    return Path(os.environ.get("MDPLAB_RESULTS", "results"))


def cell_key(experiment: str, version: str, params: dict) -> str:
    blob = json.dumps({"experiment": experiment, "version": version, "params": params},
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


class ResultStore:
    """Read and write the runs of experiments under ``root``."""

    def __init__(self, root: str | os.PathLike | None = None):
        self.root = Path(root) if root is not None else default_root()

    # ---------------------------------------------------------------- paths
    def cell_dir(self, experiment: str, version: str, params: dict) -> Path:
        return self.root / experiment / cell_key(experiment, version, params)

    def run_path(self, experiment: str, version: str, params: dict, seed: int) -> Path:
        return self.cell_dir(experiment, version, params) / f"seed-{seed}.parquet"

    def failure_path(self, experiment: str, version: str, params: dict, seed: int) -> Path:
        return self.cell_dir(experiment, version, params) / f"seed-{seed}.failed.json"

    def has(self, experiment: str, version: str, params: dict, seed: int) -> bool:
        return self.run_path(experiment, version, params, seed).exists()

    # ---------------------------------------------------------------- write
    def _ensure_cell(self, experiment: str, version: str, params: dict) -> Path:
        d = self.cell_dir(experiment, version, params)
        d.mkdir(parents=True, exist_ok=True)
        meta = d / "params.json"
        if not meta.exists():
            blob = {"experiment": experiment, "version": version, "params": params}
            _atomic_write_bytes(meta, json.dumps(blob, sort_keys=True, default=str).encode())
        return d

    def write_rows(self, experiment: str, version: str, params: dict, seed: int, rows,
                   meta: dict | None = None) -> Path:
        """Store one run's rows, with the cell's parameters and the seed as columns."""
        df = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
        clash = [c for c in df.columns if c in params or c in RESERVED_COLUMNS]
        if clash:
            raise ValueError(
                f"run of {experiment} returned columns {clash} that clash with parameters/seed"
            )
        df = df.reset_index(drop=True)
        for k, v in params.items():
            df[k] = v
        df["seed"] = seed
        table = pa.Table.from_pandas(df, preserve_index=False)
        extra = {b"mdplab": json.dumps(meta or {}, default=str).encode()}
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), **extra})
        self._ensure_cell(experiment, version, params)
        path = self.run_path(experiment, version, params, seed)
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink)
        _atomic_write_bytes(path, sink.getvalue().to_pybytes())
        self.failure_path(experiment, version, params, seed).unlink(missing_ok=True)
        return path

    def write_failure(self, experiment: str, version: str, params: dict, seed: int,
                      error: str, traceback: str) -> Path:
        self._ensure_cell(experiment, version, params)
        path = self.failure_path(experiment, version, params, seed)
        blob = {"experiment": experiment, "params": params, "seed": seed,
                "error": error, "traceback": traceback}
        _atomic_write_bytes(path, json.dumps(blob, default=str, indent=1).encode())
        return path

    # ----------------------------------------------------------------- read
    def _cells(self, experiment: str, version: str):
        base = self.root / experiment
        if not base.is_dir():
            return
        for d in sorted(base.iterdir()):
            meta = d / "params.json"
            if not meta.is_file():
                continue
            info = json.loads(meta.read_text())
            if info.get("version") == version:
                yield d, info["params"]

    def load(self, experiment: str, version: str, cells: list[dict] | None = None) -> pd.DataFrame:
        """All stored rows of ``experiment`` (optionally only ``cells``) as one DataFrame."""
        wanted = None
        if cells is not None:
            wanted = {cell_key(experiment, version, c) for c in cells}
        frames = []
        for d, _ in self._cells(experiment, version):
            if wanted is not None and d.name not in wanted:
                continue
            for f in sorted(d.glob("seed-*.parquet")):
                try:
                    frames.append(pq.read_table(f).to_pandas())
                except Exception as exc:  # a foreign or damaged file: say which
                    raise LabError(f"cannot read result file {f}: {exc}") from None
        if not frames:
            return pd.DataFrame()
        df = pd.concat(frames, ignore_index=True)
        return df

    def failures(self, experiment: str, version: str) -> list[dict]:
        out = []
        for d, _ in self._cells(experiment, version):
            for f in sorted(d.glob("seed-*.failed.json")):
                out.append(json.loads(f.read_text()))
        return out

    def run_meta(self, path: Path) -> dict:
        md = pq.read_schema(path).metadata or {}
        return json.loads(md.get(b"mdplab", b"{}"))

    def clean_temporaries(self, experiment: str) -> int:
        """Remove temporary files left by killed writers; returns how many."""
        base = self.root / experiment
        n = 0
        if base.is_dir():
            for f in base.rglob(".*.tmp-*"):
                pid = f.name.rsplit(".tmp-", 1)[1].split("-")[0]
                if pid.isdigit() and _alive(int(pid)):
                    continue
                f.unlink(missing_ok=True)
                n += 1
        return n


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
