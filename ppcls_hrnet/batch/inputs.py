"""What a batch job's SRC names, as a sorted list of inputs.

- a local folder: walked recursively by the predictor's own listing rules
  (:func:`~ppcls_hrnet.preprocess.images.list_images`: odd entries named like
  images are inputs that will be reported, never opened);
- a glob (``photos/**/*.jpg``): its matches, folders among them listed;
- a PaddleClas label list (``path label`` lines, a ``.txt`` file): its paths,
  relative to the list's folder;
- a single image file;
- the same on a remote filesystem pyarrow opens from a URI (``s3://bucket/prefix``;
  options in the query, e.g. ``?endpoint_override=host:9000&scheme=http``;
  credentials from the usual ``AWS_*`` variables): a prefix is listed
  recursively, a ``.txt`` object is a label list. Globs are local only.
"""
from __future__ import annotations

import glob
import os
import urllib.parse
from dataclasses import dataclass
from typing import List, Optional

from pyarrow import fs

from ..errors import ConfigError
from ..preprocess.images import IMAGE_EXTENSIONS, list_images
from ..preprocess.reading import max_image_bytes

LIST_SUFFIX = ".txt"
GLOB_CHARACTERS = "*?["


@dataclass(frozen=True)
class Inputs:
    paths: List[str]  # local paths (undecodable bytes as surrogates), or URIs for a remote source
    remote: Optional[str] = None  # the filesystem's URI scheme ("s3"), None for local files

    def __len__(self):
        return len(self.paths)


def is_remote(source: str) -> bool:
    scheme = urllib.parse.urlsplit(source).scheme
    return len(scheme) > 1 and scheme not in ("file",)  # "C:" is a drive, not a scheme


def expand_inputs(source: str) -> Inputs:
    """The inputs ``source`` names (see the module's docstring); ConfigError when it names none."""
    if is_remote(source):
        return _remote_inputs(source)
    if source.startswith("file://"):
        source = urllib.parse.urlsplit(source).path
    if os.path.isdir(source):
        return Inputs(list_images(source))
    if os.path.isfile(source) and source.lower().endswith(LIST_SUFFIX):
        with open(source, "rb") as f:
            lines = f.read().splitlines()
        root = os.path.dirname(os.path.abspath(source))
        return Inputs(_list_paths([os.fsdecode(line) for line in lines], source, root, os.path.join))
    if any(c in source for c in GLOB_CHARACTERS) and not os.path.lexists(source):
        matches = sorted(glob.glob(source, recursive=True), key=os.fsencode)
        if not matches:
            raise ConfigError(f"--input {source!r} matches nothing")
        return Inputs(list_images(matches))
    if os.path.lexists(source):
        return Inputs([source])
    raise ConfigError(f"--input {source!r} is neither a folder, a glob, a label list (.txt) nor an image file")


def _list_paths(lines, where: str, root: str, join) -> List[str]:
    """The image paths of PaddleClas label-list lines (``path label``; blank lines skipped)."""
    paths = []
    for number, line in enumerate(lines, start=1):
        line = line.strip()
        if not line:
            continue
        path = line.rsplit(" ", 1)[0] if " " in line else line
        paths.append(join(root, path))
    if not paths:
        raise ConfigError(f"label list {where} names no image")
    return paths


def to_uri(scheme: str, path: str, query: str = "") -> str:
    """A path inside a remote filesystem as the URI the table records (the query's options kept)."""
    return f"{scheme}://{path}" + (f"?{query}" if query else "")


def filesystem_path(uri: str) -> str:
    """The inverse of :func:`to_uri`: the path pyarrow's filesystem takes."""
    return uri.split("://", 1)[1].split("?", 1)[0]


def remote_filesystem(uri: str):
    """(pyarrow filesystem, path inside it) for a URI pyarrow knows."""
    try:
        return fs.FileSystem.from_uri(uri)
    except Exception as err:  # pyarrow raises ArrowInvalid, OSError, ... naming the problem
        raise ConfigError(f"cannot open {uri}: {err}") from None


def _remote_inputs(uri: str) -> Inputs:
    filesystem, path = remote_filesystem(uri)
    parts = urllib.parse.urlsplit(uri)
    scheme, query = parts.scheme, parts.query
    try:
        info = filesystem.get_file_info(path)
        if info.type == fs.FileType.File and path.lower().endswith(LIST_SUFFIX):
            if info.size > max_image_bytes():
                raise ConfigError(f"label list {uri} is {info.size} bytes: too large to be a list")
            with filesystem.open_input_stream(path) as f:
                lines = f.read().decode("utf-8").splitlines()
            root = path.rsplit("/", 1)[0]
            return Inputs(_list_paths(lines, uri, root, lambda r, p: to_uri(scheme, f"{r}/{p}", query)),
                          remote=scheme)
        if info.type == fs.FileType.File:
            return Inputs([uri], remote=scheme)
        if info.type != fs.FileType.Directory:
            raise ConfigError(f"--input {uri} does not exist")
        found = filesystem.get_file_info(fs.FileSelector(path, recursive=True))
    except OSError as err:
        raise ConfigError(f"cannot list {uri}: {err}") from None
    paths = sorted(to_uri(scheme, f.path, query) for f in found
                   if f.type == fs.FileType.File and f.path.lower().endswith(IMAGE_EXTENSIONS))
    if not paths:
        raise ConfigError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) found under {uri}")
    return Inputs(paths, remote=scheme)
