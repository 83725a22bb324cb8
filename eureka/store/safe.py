"""Reading and writing in directories a candidate could write in (hostile input).

A candidate's jail may plant names in its own directory: links to files elsewhere, fifos
that block a reader, directories where the run expects a file. The main process and the
trusted side of a job therefore never follow a link there, never open anything but a
regular file, read at most a bounded number of bytes, and write through a fresh temporary
name (``O_EXCL``, no link followed) renamed over the target, which replaces a planted link
instead of writing through it. A name that cannot be written ends that candidate only, with
``SafeWriteError``.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from pathlib import Path

MAX_READ_BYTES = 64 * 1024 * 1024


class SafeWriteError(OSError):
    """A file could not be written safely (a name planted in its place)."""


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "directory"), (stat.S_ISLNK, "link"), (stat.S_ISFIFO, "fifo"),
                       (stat.S_ISSOCK, "socket"), (stat.S_ISCHR, "device"), (stat.S_ISBLK, "device")):
        if test(mode):
            return name
    return "file"


def _open_dir(root: Path, parts: tuple[str, ...], create: bool) -> int:
    """An fd of ``root/parts...``, each component opened without following links."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for part in parts:
            if create:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, 0o755, dir_fd=fd)
            nxt = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
            os.close(fd)
            fd = nxt
        return fd
    except BaseException:
        os.close(fd)
        raise


def write_file(directory: str | Path, name: str | Path, data: str | bytes, root: str | Path | None = None) -> Path:
    """Write ``data`` to ``directory/name`` atomically without following any link below ``root``.

    ``root`` (default: ``directory``) is trusted; every path component below it is opened
    with ``O_NOFOLLOW``. Raises ``SafeWriteError`` when something other than a regular
    file or a link stands where the file goes, or a component is not a real directory.
    """
    directory, rel = Path(directory), Path(name)
    base = Path(root) if root is not None else directory
    full = directory / rel
    try:
        parts = full.parent.relative_to(base).parts
    except ValueError:
        base, parts = full.parent, ()
    payload = data.encode() if isinstance(data, str) else data
    try:
        dfd = _open_dir(base, parts, create=True)
    except OSError as exc:
        raise SafeWriteError(f"cannot write {full}: a path component is not a plain directory ({exc.strerror})") \
            from None
    try:
        try:
            st = os.stat(rel.name, dir_fd=dfd, follow_symlinks=False)
            if not (stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode)):
                raise SafeWriteError(f"cannot write {full}: a {_kind(st.st_mode)} stands in its place")
        except FileNotFoundError:
            pass
        tmp = f".{rel.name}.{secrets.token_hex(6)}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644, dir_fd=dfd)
        try:
            view = memoryview(payload)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)
        try:
            os.rename(tmp, rel.name, src_dir_fd=dfd, dst_dir_fd=dfd)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=dfd)
            raise SafeWriteError(f"cannot write {full}: {exc.strerror}") from None
    finally:
        os.close(dfd)
    return full


def read_bytes(path: str | Path, limit: int = MAX_READ_BYTES) -> bytes:
    """A regular file's bytes, the last component not followed if a link, at most ``limit`` bytes.

    Raises ``OSError`` for a link, fifo, directory or device, and ``ValueError`` for a file
    larger than ``limit``.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(f"{path} is a {_kind(st.st_mode)}, not a regular file")
        if st.st_size > limit:
            raise ValueError(f"{path} is {st.st_size} bytes, more than {limit}")
        chunks, left = [], limit + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        out = b"".join(chunks)
        if len(out) > limit:
            raise ValueError(f"{path} grew past {limit} bytes")
        return out
    finally:
        os.close(fd)


def read_text(path: str | Path, limit: int = MAX_READ_BYTES) -> str:
    """``read_bytes`` decoded as UTF-8 (undecodable bytes replaced)."""
    return read_bytes(path, limit).decode("utf-8", errors="replace")
