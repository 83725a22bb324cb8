"""One function puts up the walls in every process that imports a candidate's reward.

The critic's workers, each training process, the video renderer and ``eureka-check-task``'s
training step call :func:`apply_walls` before loading anything a candidate wrote (its
reward module, or a policy file its training saved). Walls, outermost first:

- an environment without secrets (the forkserver is started from a scrubbed environment,
  and the walled process scrubs its own again);
- its own network namespace without interfaces (as root; otherwise a user namespace with
  one, where the kernel allows);
- rlimits: address space, CPU seconds, file size, open files, no core dumps;
- user ``nobody`` when started as root (so root-only files, the run's config and the
  parent's ``/proc/<pid>/environ`` are out of reach);
- Landlock: writes only beneath the process's own output directory and a private temp dir,
  no exec of files, no TCP, no signals out of the domain;
- seccomp: no new sockets, no exec, no new processes (threads are fine), no ptrace, no
  signals to other processes;
- inner layers: an audit hook (writes outside the allowed dirs, sockets, subprocesses) and
  restricted builtins in the reward module (see ``reward/compiled.py``).

Reads stay open at the kernel level (Python, torch and the task need their files); what a
walled process must not read is protected by ownership (``nobody``) and by keeping secrets
out of files and environments.
"""

from __future__ import annotations

import ctypes
import os
import resource
import sys
import tempfile
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from eureka.sandbox import kernel

NOBODY = 65534
CPU_GRACE_S = 1  # CPU seconds between SIGXCPU (the soft limit) and SIGKILL (the hard one)
CLONE_NEWNET, CLONE_NEWUSER = 0x40000000, 0x10000000
PR_SET_PDEATHSIG, PR_SET_DUMPABLE = 1, 4
SECRET_MARKERS = ("KEY", "TOKEN", "SECRET", "PASSWORD", "PASSWD", "CREDENTIAL", "AUTH")
_STATE: dict = {"up": False, "walls": [], "details": {}}
# Audit events refused in every walled process (on top of the kernel walls).
DENIED_EVENTS = ("socket.", "subprocess.", "os.system", "os.fork", "os.forkpty", "os.exec", "os.spawn",
                 "os.posix_spawn", "os.kill", "os.killpg", "os.setuid", "os.putenv", "os.unsetenv", "pty.",
                 "webbrowser.", "urllib.", "http.", "ftplib.", "smtplib.", "telnetlib.", "sys.addaudithook",
                 "code.", "cpython.run_", "os.chmod", "os.chown", "os.symlink", "os.link")
# Audit events whose first argument is a path: allowed only beneath the writable dirs.
PATH_EVENTS = ("os.mkdir", "os.remove", "os.rename", "os.rmdir", "os.truncate", "shutil.rmtree", "shutil.move",
               "shutil.copyfile")


@dataclass
class WallSpec:
    """What one walled process may do."""

    kind: str                          # critic | training | renderer | check (reported per process kind)
    writable: list[str] = field(default_factory=list)  # its own output directories
    readable: list[str] | None = None  # read allow-list (None = reads left to file permissions)
    memory_mb: int = 0                 # address space it may add (0 = no limit)
    cpu_s: float = 0                   # CPU seconds for the whole process, all threads (0 = no limit)
    max_file_mb: int = 256             # largest file it may write
    max_open_files: int = 256
    max_tasks: int = 0                 # threads of its uid (only with a uid of its own; 0 = no limit)
    uid: int | None = None             # the jail's own uid (else ``nobody`` when started as root)
    tmpdir: str | None = None          # its scratch dir (else a fresh private temp dir)
    network_namespace: bool = True
    drop_privileges: bool = True
    strict_audit: bool = False         # the critic's checks also refuse ctypes, listing dirs, resources
    devices: list[str] = field(default_factory=list)  # device files it may read, write and ioctl (a GPU's nodes)


def secret_names(env: Iterable[str] | None = None) -> list[str]:
    """Names of environment variables that look secret (``*KEY*``, ``*TOKEN*``, ...)."""
    names = os.environ if env is None else env
    return [n for n in names if any(m in n.upper() for m in SECRET_MARKERS)]


def scrub_env() -> list[str]:
    """Remove secret-looking variables from this process's environment; return their names."""
    gone = secret_names()
    for n in gone:
        os.environ.pop(n, None)
    return gone


def protect_secrets_of_this_process() -> None:
    """Make this (the main) process non-dumpable: a same-user process cannot read its environ or memory."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    except OSError:
        pass


def die_with_parent() -> None:
    """Ask the kernel to kill this process when its parent dies (``PR_SET_PDEATHSIG``)."""
    import signal

    parent = os.getppid()
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    except OSError:
        return
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)


def walls_up() -> list[str]:
    """The walls of this process ([] when none)."""
    return list(_STATE["walls"]) if _STATE["up"] else []


def _proc_status(field: str) -> int | None:
    """The first number of ``field`` in ``/proc/self/status`` (None when unreadable)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def _unshare_network() -> str | None:
    libc = ctypes.CDLL(None, use_errno=True)
    if os.geteuid() == 0:
        return "netns" if libc.unshare(CLONE_NEWNET) == 0 else None
    uid, gid = os.getuid(), os.getgid()
    if libc.unshare(CLONE_NEWUSER | CLONE_NEWNET) != 0:
        return None
    try:  # map our own ids so files keep their owner
        Path("/proc/self/setgroups").write_text("deny")
        Path("/proc/self/uid_map").write_text(f"{uid} {uid} 1")
        Path("/proc/self/gid_map").write_text(f"{gid} {gid} 1")
    except OSError:
        pass
    return "userns+netns"


def _audit_hook(roots: tuple[str, ...], strict: bool):
    denied = DENIED_EVENTS + (("ctypes.", "os.listdir", "os.scandir", "glob.", "os.walk", "resource.",
                               "signal.", "fcntl.", "os.chdir") if strict else ())
    gate = _GATE

    def inside(path) -> bool:
        try:
            p = os.path.realpath(os.fsdecode(path))
        except (TypeError, ValueError):
            return False
        return any(p == r or p.startswith(r + os.sep) for r in roots)

    def audit(event: str, args: tuple) -> None:
        if event == "builtins.id":  # ~75 per PPO step: the common case first
            return
        if event == "open":
            path, mode = args[0], args[1]
            writing = isinstance(mode, str) and any(c in mode for c in "wax+")
            if isinstance(mode, int):
                writing = bool(mode & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC))
            if writing and isinstance(path, (str, bytes)) and not inside(path):
                raise PermissionError(f"sandbox: writing to {os.fsdecode(path)} is not allowed")
            return
        if event in PATH_EVENTS:
            if not (args and isinstance(args[0], (str, bytes, os.PathLike)) and inside(args[0])):
                raise PermissionError(f"sandbox: '{event}' outside the allowed directories is not allowed")
            return
        if (gate["admin"] and event.startswith("resource.")) or event == "socket.gethostname":
            return  # TensorBoard names its event files after the host
        if event.startswith(denied):
            raise PermissionError(f"sandbox: '{event}' is not allowed")

    return audit


_GATE = {"admin": False}  # True only while trusted code of the worker adjusts its own limits


class admin:  # noqa: N801 - used as ``with admin():``
    """Let the worker itself (not reward code) adjust its resource limits under the audit hook."""

    def __enter__(self) -> None:
        _GATE["admin"] = True

    def __exit__(self, *exc) -> None:
        _GATE["admin"] = False


def private_tmpdir(kind: str) -> str:
    """A fresh private temp dir; ``TMPDIR`` and ``tempfile`` point to it."""
    d = tempfile.mkdtemp(prefix=f"eureka-{kind}-")
    os.environ["TMPDIR"] = d
    tempfile.tempdir = d
    _STATE["tmp"] = d
    return d


def apply_walls(spec: WallSpec) -> list[str]:
    """Lock this process down (irreversibly); return the walls that are up, by name.

    Call it before loading any candidate code or file, and before starting threads
    (Landlock binds the calling thread and what it creates later).
    """
    walls: list[str] = []
    details: dict[str, str] = {}
    scrub_env()
    if not secret_names():
        walls.append("no-secrets")
    if spec.tmpdir:
        walls.append("env-allowlist")
    sys.dont_write_bytecode = True
    if spec.tmpdir:
        _STATE["tmp"] = spec.tmpdir
    tmp = os.path.realpath(_STATE.get("tmp") or private_tmpdir(spec.kind))
    writable = list(dict.fromkeys(os.path.realpath(p) for p in [*spec.writable, tmp]))
    for p in writable:
        os.makedirs(p, exist_ok=True)
    if spec.network_namespace:
        net = _unshare_network()
        if net:
            walls.append(net)
    if spec.memory_mb > 0:
        mem = (_proc_status("VmSize") or 0) * 1024 + int(spec.memory_mb) * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
        walls.append("memory")
    if spec.cpu_s > 0:
        used = resource.getrusage(resource.RUSAGE_SELF)
        limit = int(used.ru_utime + used.ru_stime + spec.cpu_s) + 1
        # SIGXCPU at the soft limit, SIGKILL one CPU second later (a job that ignores SIGXCPU still ends);
        # the hard limit is fixed, so the job cannot lift either (raising it needs CAP_SYS_RESOURCE).
        resource.setrlimit(resource.RLIMIT_CPU, (limit, limit + CPU_GRACE_S))
        walls.append("cpu")
    fsize = int(spec.max_file_mb) * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
    resource.setrlimit(resource.RLIMIT_NOFILE, (spec.max_open_files, spec.max_open_files))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    walls.append("rlimits")
    # Landlock before dropping privileges: its rules open the directories, which nobody may not reach.
    threads = _proc_status("Threads") or threading.active_count()
    try:
        details["landlock"] = kernel.install_landlock(writable, spec.readable, spec.devices)
        walls.append("landlock")
        if spec.readable is not None:
            walls.append("landlock-reads")
        if spec.devices:
            details["landlock"] += f"; devices {', '.join(spec.devices)}"
        if threads > 1:
            details["landlock"] += f"; {threads - 1} earlier threads not covered"
    except OSError as exc:
        details["landlock"] = f"unavailable: {exc.strerror or exc}"
    if os.geteuid() == 0 and spec.drop_privileges and spec.uid is not None:
        os.setgroups([])
        os.setgid(spec.uid)
        os.setuid(spec.uid)
        die_with_parent()  # a change of user clears the parent-death signal: ask again
        walls.append("own-uid")
        if spec.max_tasks > 0:  # counted per uid, and the uid is this jail's alone: all its threads
            resource.setrlimit(resource.RLIMIT_NPROC, (spec.max_tasks, spec.max_tasks))
            walls.append("tasks")
    elif os.geteuid() == 0 and spec.drop_privileges:
        os.chown(tmp, NOBODY, NOBODY)
        for p in writable:
            if p == tmp:
                continue
            # Sticky and world-writable, still root's: nobody may add files, but not change or
            # remove the ones the run wrote there (the candidate's reward.py, prompt, verdict).
            if os.stat(p).st_uid == 0:
                os.chmod(p, 0o1777)
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)
        die_with_parent()  # a change of user clears the parent-death signal: ask again
        walls.append("nobody")
    try:
        kernel.install_seccomp()
        walls.append("seccomp")
    except OSError as exc:
        details["seccomp"] = f"unavailable: {exc}"
        if os.geteuid() != 0:  # without seccomp, at least no new processes for an unprivileged user
            resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))
            walls.append("nproc")
    sys.addaudithook(_audit_hook(tuple(writable), spec.strict_audit))
    walls.append("audit")
    walls.append("builtins")
    _STATE.update(up=True, walls=walls, details=details)
    return walls


class CappedOutput:
    """Send this process's stdout and stderr (fd 1 and 2) to ``path``, at most ``cap_bytes`` of it.

    A reward that prints on every call fills at most the cap; the rest is counted and
    dropped, and a last line says how much was cut. Works for C-level output too.
    """

    def __init__(self, path: str | Path, cap_bytes: int = 1 << 20):
        self.path, self.cap = Path(path), cap_bytes
        self.dropped = 0
        r, w = os.pipe()
        self._file = open(self.path, "ab", buffering=0)  # noqa: SIM115 - closed by the reader thread
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(w, 1)
        os.dup2(w, 2)
        os.close(w)
        self._thread = threading.Thread(target=self._pump, args=(r,), daemon=True, name="capped-output")
        self._thread.start()

    def _pump(self, r: int) -> None:
        written = 0
        while True:
            try:
                chunk = os.read(r, 65536)
            except OSError:
                break
            if not chunk:
                break
            room = self.cap - written
            if room > 0:
                self._file.write(chunk[:room])
                written += min(room, len(chunk))
            self.dropped += max(0, len(chunk) - max(room, 0))
            if room > 0 and written >= self.cap:
                self._file.write(b"\n[eureka: output cut at %d bytes; the rest was dropped]\n" % self.cap)
        self._file.close()


def capture_output(path: str | Path, cap_bytes: int = 1 << 20) -> CappedOutput:
    """Redirect this process's output to a capped log file (see ``CappedOutput``)."""
    return CappedOutput(path, cap_bytes)
