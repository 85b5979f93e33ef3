"""File locks and atomic writes: how asdlib keeps caches, downloads and runs whole.

Explained in chapter 0 (``book/index.md``, "How to use this book": caches and downloads).
One lock for everything that two processes might build at the same time (a download, a
synthetic set, a cached book run): :func:`locked`, the maintained ``filelock`` package's
OS-level lock (released by the operating system when its holder dies, so a killed process
never leaves a lock that blocks the next run). One way to write a file so that a reader never
sees it half-written: :func:`atomic_path` (write to a temporary name in the same folder, then
``os.replace``).
"""
from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout


class LockedError(RuntimeError):
    """Another live process holds the lock and the wait timed out."""


def _holder(path: Path) -> str:
    try:
        text = path.read_text().split()
    except OSError:
        text = []
    if text and text[0].isdigit():
        return f"pid {text[0]}" + (f" on host {text[1]}" if len(text) > 1 and text[1] != socket.gethostname() else "")
    return "another process"


@contextmanager
def locked(path: str | os.PathLike[str], timeout: float | None = None, what: str = "this resource",
           error: type[Exception] = LockedError) -> Iterator[Path]:
    """Hold an exclusive lock on ``path`` (created if missing; removed when released).

    The holder's pid and host are written into the lock file while it is held.

    Args:
        path: the lock file.
        timeout: seconds to wait at most (None: as long as it takes).
        what: what the lock protects, for the error message.
        error: the exception class raised on a timeout.

    Raises:
        LockedError: (or ``error``) naming the lock file, its holder's pid and ``what``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)

    def mark(fd: int) -> None:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {socket.gethostname()}\n".encode(), 0)

    lock = FileLock(path, timeout=-1 if timeout is None else timeout, on_acquired=mark)
    try:
        lock.acquire()
    except Timeout:
        raise error(f"{path} is held by {_holder(path)}: {what} is in use by another process. "
                    "Wait for it to finish (the lock is released when that process ends).") from None
    try:
        yield path
    finally:
        # unlink while still holding it: a waiter that then gets the old inode sees it unlinked
        # and retries on a new file (filelock checks this), so no two processes ever hold it
        path.unlink(missing_ok=True)
        lock.release()


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """A temporary path beside ``path``; on success it replaces ``path`` in one step.

    Write to the yielded path inside the ``with`` block. If the block raises, the temporary file is
    deleted and ``path`` is left as it was.

    Args:
        path: the file to write.
    """
    import tempfile

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.tmp", dir=path.parent)  # unique, even between threads
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_text_atomic(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_path`)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def replace_tree(tmp: str | os.PathLike[str], out: str | os.PathLike[str]) -> Path:
    """Move the finished folder ``tmp`` onto ``out`` (same file system); an old ``out`` is moved aside first.

    Readers see either the old tree or the new one, never a half-written mix; the old tree is
    deleted only after the new one is in place.
    """
    import shutil
    import tempfile

    tmp, out = Path(tmp), Path(out)
    if out.exists():
        trash = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
        os.replace(out, trash / "old")
        os.replace(tmp, out)
        shutil.rmtree(trash, ignore_errors=True)
    else:
        os.replace(tmp, out)
    return out
