"""A training's directory as bytes, and back: how results cross machines without a shared file system.

``pack_dir`` runs where the training ran (a Ray worker): it reads the node-local directory the
walled training wrote, which is hostile input (the training ran candidate code): regular files
only, no symbolic links followed, plain names, bounded sizes and counts. ``unpack_files`` runs on
the driver and checks the same again before it writes anything into a candidate's directory:
no links followed, no names outside the directory, no file the driver writes itself replaced.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+=-]{0,127}$")  # one path component: plain, no dot files, no ..
MAX_DEPTH = 4  # e.g. tb/PPO_1/events.out.tfevents...
# Files the driver writes into a candidate's directory itself: a training never replaces them.
DRIVER_FILES = frozenset({"prompt.json", "response.txt", "reward.py", "validation.json", "reflection.txt",
                          "rollout.mp4"})


@dataclass
class Limits:
    """What one training may send back."""

    max_file_bytes: int = 256 * 2**20
    max_total_bytes: int = 1024 * 2**20
    max_files: int = 2000

    @classmethod
    def for_training(cls, max_file_mb: int) -> Limits:
        """The largest file a walled training may write (``trainer.max_file_mb``), and 4x that in total."""
        per = max(1, int(max_file_mb)) * 2**20
        return cls(max_file_bytes=per, max_total_bytes=max(4 * per, 64 * 2**20))


@dataclass
class Packed:
    """The files of a directory (relative POSIX path -> bytes) and what was left out, with why."""

    files: dict[str, bytes] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)


def safe_relpath(rel: str) -> bool:
    """A relative path of at most ``MAX_DEPTH`` plain components (no ``..``, no leading ``/`` or dot)."""
    parts = rel.split("/")
    return 0 < len(parts) <= MAX_DEPTH and all(NAME.match(p) for p in parts) and ".." not in parts


def _read_nofollow(dir_fd: int, name: str, limit: int) -> bytes | None:
    """Read a regular file (not a link) of at most ``limit`` bytes, relative to ``dir_fd``; None otherwise."""
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dir_fd)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > limit:
            return None
        chunks, size = [], 0
        while True:
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                return None
        return b"".join(chunks)
    finally:
        os.close(fd)


def pack_dir(root: str | Path, limits: Limits, exclude: frozenset[str] = frozenset(),
             unchanged: dict[str, bytes] | None = None) -> Packed:
    """Every regular file under ``root`` (links are neither followed nor sent), within ``limits``.

    ``exclude``: top-level names not to send; ``unchanged``: files the caller already has
    (sent only if their bytes differ).
    """
    out = Packed()
    total = 0

    def walk(dir_fd: int, prefix: str, depth: int) -> None:
        nonlocal total
        try:
            entries = sorted(os.listdir(dir_fd))
        except OSError:
            return
        for name in entries:
            rel = f"{prefix}{name}"
            if not NAME.match(name) or (depth == 1 and name in exclude):
                out.skipped.append(f"{rel[:200]!r}: not a plain name" if not NAME.match(name) else f"{rel}: excluded")
                continue
            try:
                st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            except OSError:
                continue
            if stat.S_ISDIR(st.st_mode):
                if depth >= MAX_DEPTH:
                    out.skipped.append(f"{rel}/: too deep")
                    continue
                try:
                    sub = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
                except OSError:
                    continue
                try:
                    walk(sub, rel + "/", depth + 1)
                finally:
                    os.close(sub)
                continue
            if not stat.S_ISREG(st.st_mode):
                out.skipped.append(f"{rel}: not a regular file")
                continue
            if len(out.files) >= limits.max_files:
                out.skipped.append(f"{rel}: more than {limits.max_files} files")
                continue
            if st.st_size > limits.max_file_bytes or total + st.st_size > limits.max_total_bytes:
                out.skipped.append(f"{rel}: {st.st_size} bytes over the size limits")
                continue
            data = _read_nofollow(dir_fd, name, min(limits.max_file_bytes, limits.max_total_bytes - total))
            if data is None:
                out.skipped.append(f"{rel}: unreadable, not regular, or grew over the limits")
                continue
            if unchanged is not None and unchanged.get(rel) == data:
                continue
            out.files[rel] = data
            total += len(data)

    fd = os.open(str(root), os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        walk(fd, "", 1)
    finally:
        os.close(fd)
    return out


def _open_dir(parent_fd: int, name: str, create: bool) -> int:
    """Open (or make) a real directory ``name`` under ``parent_fd`` without following a link."""
    if create:
        with contextlib.suppress(FileExistsError):
            os.mkdir(name, 0o755, dir_fd=parent_fd)
    return os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent_fd)


def unpack_files(files: object, dest: str | Path, limits: Limits) -> list[str]:
    """Write ``files`` (relative path -> bytes, from a node that ran a training) into ``dest``.

    Checks every entry (type, plain relative name, depth, sizes, count, not a file the driver
    owns), creates sub-directories without following links, and writes each file to a fresh
    temporary name before renaming it into place (so a planted link is replaced, never followed).
    Returns what was refused, one reason per entry.
    """
    refused: list[str] = []
    if not isinstance(files, dict):
        return ["the training sent no file table"]
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    root = os.open(str(dest), os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    total, count = 0, 0
    try:
        for rel, data in files.items():
            if not isinstance(rel, str) or not isinstance(data, bytes) or not safe_relpath(rel):
                refused.append(f"{str(rel)[:100]!r}: not a plain relative file name with bytes")
                continue
            if rel in DRIVER_FILES:
                refused.append(f"{rel}: written by the driver, not by a training")
                continue
            if len(data) > limits.max_file_bytes or total + len(data) > limits.max_total_bytes \
                    or count >= limits.max_files:
                refused.append(f"{rel}: over the size or count limits")
                continue
            *dirs, name = rel.split("/")
            fds = [root]
            try:
                for d in dirs:
                    fds.append(_open_dir(fds[-1], d, create=True))
                tmp = f".{name}.incoming"
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp, dir_fd=fds[-1])
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644,
                             dir_fd=fds[-1])
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                os.replace(tmp, name, src_dir_fd=fds[-1], dst_dir_fd=fds[-1])
                total += len(data)
                count += 1
            except OSError as exc:
                refused.append(f"{rel}: {exc.strerror or exc}")
            finally:
                for fd in fds[1:]:
                    os.close(fd)
    finally:
        os.close(root)
    return refused
