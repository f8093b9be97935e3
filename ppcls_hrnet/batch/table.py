"""The batch job's output: a Parquet dataset of one part file per chunk of inputs, and its manifest.

Columns, one row per input: ``path`` (text; bytes a name has that are not
UTF-8 shown as ``\\xNN``), ``path_bytes`` (the name's bytes, lossless),
``class_ids``, ``scores``, ``label_names`` (top-k, best first, as
``ppcls-hrnet --infer_imgs`` prints them), ``error`` (null when the image was
predicted), ``model_id`` (:meth:`~ppcls_hrnet.runtime.contract.DeployConfig.identity`)
and ``model_name``.

``part-NNNNNN.parquet`` holds chunk NNNNNN: it is written under ``_tmp/``
and moved into place whole, so a part file is complete or absent, and a
chunk done twice (a retry after a lost worker) leaves one file. The
manifest ``_job.json`` records what the table is of (inputs, model, chunk
size) so that ``--resume`` only continues the same job.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import uuid
from dataclasses import asdict, dataclass
from typing import Dict, List, Sequence

import pyarrow as pa
import pyarrow.parquet as pq
from pyarrow import fs

from ..errors import ConfigError, HRNetError

MANIFEST = "_job.json"
TMP_DIR = "_tmp"
PART = re.compile(r"part-(\d{6})\.parquet$")
FORMAT_VERSION = 1


class OutputExistsError(HRNetError):
    pass


def part_name(chunk: int) -> str:
    return f"part-{chunk:06d}.parquet"


def path_text(path: str) -> str:
    """A path as text for the table: bytes that are not UTF-8 as ``\\xNN``."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def schema() -> pa.Schema:
    return pa.schema([
        ("path", pa.string()), ("path_bytes", pa.binary()), ("class_ids", pa.list_(pa.int64())),
        ("scores", pa.list_(pa.float64())), ("label_names", pa.list_(pa.string())), ("error", pa.string()),
        ("model_id", pa.string()), ("model_name", pa.string()),
    ])


def results_table(results: Sequence[dict], model_id: str, model_name: str):
    """Predictor results (``file_name`` + top-k, or ``error``) -> a table in :func:`schema`."""
    rows = {name: [] for name in schema().names}
    for result in results:
        ok = "error" not in result
        rows["path"].append(path_text(result["file_name"]))
        rows["path_bytes"].append(os.fsencode(result["file_name"]))
        rows["class_ids"].append(result["class_ids"] if ok else None)
        rows["scores"].append(result["scores"] if ok else None)
        rows["label_names"].append(result["label_names"] if ok else None)
        rows["error"].append(None if ok else path_text(result["error"]))
        rows["model_id"].append(model_id)
        rows["model_name"].append(model_name)
    return pa.table(rows, schema=schema())


@dataclass(frozen=True)
class Manifest:
    """What a table is of; a resumed job must match it."""

    inputs: int
    inputs_digest: str  # sha256 of the sorted inputs' bytes
    chunk_images: int
    model_id: str
    model_name: str
    source: str
    format_version: int = FORMAT_VERSION

    def differences(self, other: "Manifest") -> List[str]:
        keys = ("inputs", "inputs_digest", "chunk_images", "model_id", "format_version")
        return [f"{k}: {getattr(other, k)} there, {getattr(self, k)} now" for k in keys
                if getattr(self, k) != getattr(other, k)]


def inputs_digest(paths: Sequence[str]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(os.fsencode(path) + b"\0")
    return digest.hexdigest()


class OutputDataset:
    """The output folder on a pyarrow filesystem (local, or remote by URI)."""

    def __init__(self, output: str):
        self.uri = output
        if "://" in output:
            self.fs, self.root = fs.FileSystem.from_uri(output)
        else:
            self.fs, self.root = fs.LocalFileSystem(), os.path.abspath(output)

    def path(self, name: str) -> str:
        return f"{self.root.rstrip('/')}/{name}"

    def exists(self) -> bool:
        info = self.fs.get_file_info(self.root)
        if info.type == fs.FileType.NotFound:
            return False
        if info.type != fs.FileType.Directory:
            raise OutputExistsError(f"--output {self.uri} is a file; give a folder for the Parquet table")
        return bool(self.fs.get_file_info(fs.FileSelector(self.root)))

    def start(self, manifest: Manifest, resume: bool) -> Dict[int, int]:
        """Prepare the folder; {chunk: rows} already complete (only when resuming)."""
        if not resume:
            if self.exists():
                raise OutputExistsError(f"--output {self.uri} already exists and is not empty: pass --resume to "
                                        "finish the job that wrote it, or choose a new --output")
            self.fs.create_dir(self.root, recursive=True)
            self._write_manifest(manifest)
            return {}
        if not self.exists():
            raise ConfigError(f"--resume: {self.uri} holds no job to resume; run without --resume")
        previous = self._read_manifest()
        differences = manifest.differences(previous)
        if differences:
            raise ConfigError(f"--resume: {self.uri} was written by another job ({'; '.join(differences)}); "
                              "resume with the same --input, model and chunk size, or choose a new --output")
        self.clean_up()
        return self.complete_parts()

    def complete_parts(self) -> Dict[int, int]:
        """{chunk: rows} of the part files that read back whole."""
        done = {}
        for info in self.fs.get_file_info(fs.FileSelector(self.root)):
            match = PART.search(info.base_name)
            if not match or info.type != fs.FileType.File:
                continue
            try:
                with self.fs.open_input_file(info.path) as f:
                    done[int(match[1])] = pq.read_metadata(f).num_rows
            except Exception:  # noqa: BLE001  (not a Parquet file: written by something else; done again)
                self.fs.delete_file(info.path)
        return done

    def write_part(self, chunk: int, table) -> str:
        """Write chunk ``chunk``'s rows: under _tmp/, then moved into place whole."""
        self.fs.create_dir(self.path(TMP_DIR), recursive=True)
        tmp = self.path(f"{TMP_DIR}/{part_name(chunk)}.{uuid.uuid4().hex}")
        pq.write_table(table, tmp, filesystem=self.fs)
        final = self.path(part_name(chunk))
        self.fs.move(tmp, final)
        return final

    def clean_up(self) -> None:
        """Remove what killed writers left (never a complete part file)."""
        if self.fs.get_file_info(self.path(TMP_DIR)).type != fs.FileType.NotFound:
            self.fs.delete_dir(self.path(TMP_DIR))

    def _write_manifest(self, manifest: Manifest) -> None:
        with self.fs.open_output_stream(self.path(MANIFEST)) as f:
            f.write(json.dumps(asdict(manifest), indent=1).encode())

    def _read_manifest(self) -> Manifest:
        try:
            with self.fs.open_input_stream(self.path(MANIFEST)) as f:
                return Manifest(**json.loads(f.read().decode()))
        except (OSError, ValueError, TypeError) as err:
            raise ConfigError(f"--resume: {self.uri} has no readable {MANIFEST} ({err}): it was not written by "
                              "predict-batch; choose a new --output") from None
