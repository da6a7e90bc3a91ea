"""Editing the project's files without losing them: locked, atomic, line endings kept.

``mlops new-model`` and ``mlops promote --write`` rewrite ``config/platform.yaml``; ``mlops resolve --write``
rewrites the approved-versions file. Every such edit:

* holds an exclusive lock on the file's folder while it reads, changes and writes (``editing``), so two
  commands at once are serialised instead of one silently losing the other's change (the folder, not the
  file: the file is replaced by a rename, so a lock on it would protect an inode nobody reads any more);
* writes a temporary sibling, flushes and fsyncs it, then renames it over the file (``write_atomic``): a
  full disk, a file-size limit or a signal leaves the original as it was, never half a file;
* keeps the file's encoding (UTF-8, with its byte-order mark if it had one) and line endings (``read``).
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from .base import EXIT_USAGE, OpsError


@dataclass(frozen=True)
class TextFile:
    """A file's text with ``\\n`` line endings, and how to write it back as it was."""

    text: str
    newline: str = "\n"
    encoding: str = "utf-8"


def read(path: Path) -> TextFile:
    """The file's text (``\\n`` line endings) and its line-ending style and encoding; ``OpsError`` (usage) if it
    cannot be read or is not text."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise OpsError(f"{path}: cannot read the file ({error.strerror})", EXIT_USAGE) from None
    encoding = "utf-8-sig" if data.startswith(b"\xef\xbb\xbf") else "utf-8"
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError:
        raise OpsError(f"{path}: is not a UTF-8 text file", EXIT_USAGE) from None
    newline = "\r\n" if "\r\n" in text else "\n"
    return TextFile(text.replace("\r\n", "\n"), newline, encoding)


def write_atomic(path: Path, text: str, like: TextFile | None = None) -> None:
    """Replace ``path`` with ``text`` (``\\n`` line endings, written in ``like``'s style) all at once; on any
    failure the original is untouched and ``OpsError`` (usage) says why."""
    style = like or TextFile("")
    data = text.replace("\n", style.newline).encode(style.encoding)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        if path.exists():
            os.chmod(temporary, path.stat().st_mode & 0o7777)
        os.replace(temporary, path)
    except OSError as error:
        Path(temporary).unlink(missing_ok=True)
        raise OpsError(f"{path}: cannot write the file ({error.strerror}); it is unchanged", EXIT_USAGE) from None
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    _sync_folder(path.parent)


@contextmanager
def editing(path: Path) -> Iterator[None]:
    """Hold the exclusive edit lock of ``path``'s folder: a second editor waits until the first has written."""
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        fcntl.flock(folder, fcntl.LOCK_EX)
        yield
    finally:
        os.close(folder)  # closing releases the lock


def _sync_folder(folder: Path) -> None:
    try:
        handle = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)  # the rename itself survives a crash
    except OSError:
        pass
    finally:
        os.close(handle)
