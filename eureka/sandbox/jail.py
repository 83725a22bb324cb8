"""One disposable jail per execution of candidate code.

Every critic check, training (and halving rung, final re-training, baseline), video and
``eureka-check-task`` training runs in a jail of its own, started from a trusted process
that never loads candidate code (a warm critic worker, a training job's supervisor):

    trusted process ──fork──> keeper ──unshare + fork──> init (PID 1) ──fork──> job (PID 2)

- The **keeper** (trusted, outside) claims a uid that no concurrent jail on this machine holds
  (a lock file per uid under ``/run/eureka-jail``, held for the jail's life), hands the jail's
  own directories to that uid, creates new PID, IPC, mount, network and UTS namespaces and
  forks the jailed process into them. It only waits, then exits as the jailed process did
  (same exit code or signal). It dies with its parent (parent-death signal).
- The **init** (trusted, PID 1 of the new PID namespace) mounts the jail's own ``/proc``,
  scratch and ``/dev/shm``, forks the job and waits. It dies with the keeper (parent-death
  signal), and when a PID namespace's init dies the kernel kills every process in it: the
  job cannot undo that from inside (it also may not change its own parent-death signal:
  seccomp refuses it).
- The **job** (PID 2) sees no other process but the init (its ``/proc`` is its own). Its IPC
  objects live in its own IPC namespace and its own ``/dev/shm``, and die with it. Its scratch
  space is a private, size-limited tmpfs (``/run/eureka-jail/scratch`` inside the jail; gone
  when the jail ends, also after a crash or ``kill -9``). Its environment comes from an
  allow-list (:data:`ENV_ALLOW`). ``lock_down`` then puts up the walls of
  ``eureka.sandbox.walls`` with the jail's uid: Landlock reads limited to the Python prefix,
  site-packages, the package, the task's files, its own directories and scratch; writes only
  in its own directories and scratch; rlimits for memory, CPU (all threads), tasks (threads,
  counted per uid, which is the jail's own), files and open files; seccomp.

Without root, the namespaces come with a user namespace (same uid inside and out; no uid of
its own) where the kernel allows one; the walls that could not go up are missing from the
list the jail reports.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import os
import random
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, Pipe
from pathlib import Path
from typing import Any, cast

from eureka.paths import PACKAGE_DIR, data_dir

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000
NAMESPACES = CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWUTS
MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REC, MS_PRIVATE = 2, 4, 8, 16384, 1 << 18
PR_SET_PDEATHSIG = 1
JAIL_ROOT = "/run/eureka-jail"
SCRATCH = JAIL_ROOT + "/scratch"  # each jail mounts its own tmpfs here, in its own mount namespace
UID_BASE, UID_SLOTS = 400_000, 4096  # uids of jails (as root): one per concurrent jail, never shared
DISK_POLL_S = 0.25  # how often the keeper adds up its jail's directories (it overshoots by at most this much writing)
MAX_NEW_ENTRIES = 20_000  # files and dirs a jail may add (a million empty files fill a disk's inodes, not its bytes)
# The environment of a jail: only what Python, torch, MuJoCo and rendering need (plus sandbox.env_allow).
ENV_ALLOW = ("PATH", "LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE", "LC_NUMERIC", "TZ", "MUJOCO_GL",
             "PYOPENGL_PLATFORM", "EGL_PLATFORM", "SDL_VIDEODRIVER", "SDL_AUDIODRIVER", "OMP_NUM_THREADS",
             "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE",
             "CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES", "PYTHONHASHSEED", "PYTHONPATH", "VIRTUAL_ENV",
             "PYGAME_HIDE_SUPPORT_PROMPT")
# What trusted children (the forkserver and everything forked from it) keep besides ENV_ALLOW.
TRUSTED_ENV_ALLOW = ENV_ALLOW + ("HOME", "USER", "LOGNAME", "TMPDIR", "TERM", "XDG_RUNTIME_DIR",
                                 "RAY_ADDRESS", "PYTEST_CURRENT_TEST")
SYSTEM_READ = ("/usr", "/lib", "/lib32", "/lib64", "/libx32", "/bin", "/sbin", "/etc", "/dev", "/proc", "/sys",
               "/opt")
_libc = ctypes.CDLL(None, use_errno=True)


@dataclass
class JailSpec:
    """What one jail may see and use."""

    kind: str                           # critic | training | renderer | check (reported per job kind)
    writable: list[str] = field(default_factory=list)  # its own directories (handed to its uid)
    readable: list[str] = field(default_factory=list)  # more read-only paths (the task's files)
    memory_mb: int = 0                  # address space it may add (0 = no limit)
    cpu_s: float = 0                    # CPU seconds, all threads together (0 = no limit)
    max_tasks: int = 64                 # threads it may have in all
    max_file_mb: int = 256              # largest file it may write
    max_open_files: int = 256
    scratch_mb: int = 64                # its private tmpfs
    disk_mb: int = 512                  # how much its own directories may grow, all files together (0 = no limit)
    env_allow: list[str] = field(default_factory=list)  # more variables passed in (sandbox.env_allow)
    strict_audit: bool = False          # the critic's checks also refuse ctypes, listing dirs, resources
    devices: list[str] = field(default_factory=list)  # device nodes it may read, write and ioctl (CUDA: cuda_access)


def allowed_env(environ: dict[str, str], extra: tuple[str, ...] | list[str] = (),
                names: tuple[str, ...] = TRUSTED_ENV_ALLOW) -> dict[str, str]:
    """The variables of ``environ`` on the allow-list (``EUREKA_*`` included for trusted processes)."""
    keep = set(names) | set(extra)
    trusted = names is TRUSTED_ENV_ALLOW
    return {k: v for k, v in environ.items() if k in keep or (trusted and k.startswith("EUREKA_"))}


def task_files() -> list[str]:
    """Source files of the registered tasks that came from files (read-only in every jail)."""
    from eureka import tasks

    return [str(p) for p in tasks.source_files()]


# The NVIDIA device nodes CUDA opens (besides /dev/nvidia0 .. /dev/nvidiaN, one per GPU)
CUDA_DEVICE_NODES = ("nvidiactl", "nvidia-uvm", "nvidia-uvm-tools", "nvidia-modeset")


def cuda_device_nodes(dev: str = "/dev") -> list[str]:
    """The NVIDIA device nodes under ``dev`` that exist: ``nvidia0`` .. ``nvidiaN``, ``nvidiactl``, ``nvidia-uvm``,
    ``nvidia-uvm-tools``, ``nvidia-modeset`` (none on a machine without the NVIDIA driver)."""
    import re

    try:
        names = set(os.listdir(dev))
    except OSError:
        return []
    gpus = sorted((n for n in names if re.fullmatch(r"nvidia[0-9]+", n)), key=lambda n: int(n[6:]))
    return [os.path.join(dev, n) for n in [*gpus, *CUDA_DEVICE_NODES] if n in names]


def _ldconfig_listing() -> str:
    """``ldconfig -p``: the shared libraries the dynamic linker knows ('' where it cannot run)."""
    import shutil
    import subprocess

    exe = shutil.which("ldconfig") or next((p for p in ("/sbin/ldconfig", "/usr/sbin/ldconfig") if os.path.exists(p)),
                                           None)
    if exe is None:
        return ""
    try:
        return subprocess.run([exe, "-p"], capture_output=True, text=True, timeout=10, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return ""


def cuda_library_dirs(ldconfig: str | None = None, known: tuple[str, ...] = SYSTEM_READ) -> list[str]:
    """The directories of the NVIDIA driver's libraries (``libcuda.so*``, ``libnvidia-*.so*``) in ``ldconfig -p``'s
    listing (``ldconfig``; default: run it), that no path of ``known`` (the jail's system read roots) holds."""
    listing = _ldconfig_listing() if ldconfig is None else ldconfig
    out: list[str] = []
    for line in listing.splitlines():
        name, sep, path = line.strip().partition(" => ")
        if not sep or not (name.startswith("libcuda.so") or name.startswith("libnvidia-")):
            continue
        folder = os.path.dirname(path.strip())
        real = os.path.realpath(folder)
        held = any(d == k or d.startswith(k.rstrip(os.sep) + os.sep) for d in (folder, real) for k in known)
        if folder and not held and folder not in out:
            out.append(folder)
    return out


def cuda_access(dev: str = "/dev", ldconfig: str | None = None) -> tuple[list[str], list[str]]:
    """What a jail that trains on CUDA may open besides a CPU jail: the NVIDIA device nodes (read, write, ioctl)
    and the driver libraries' directories outside the system dirs every jail reads (read)."""
    return cuda_device_nodes(dev), cuda_library_dirs(ldconfig)


def _read_roots(spec: JailSpec, own: list[str]) -> list[str]:
    """Paths a jail may read besides its own dirs: system dirs, the Python prefix and site-packages,
    the package and its data, the task files' folders (never a folder that holds a jail's own dir)."""
    own_real = [os.path.realpath(p) for p in own]

    def holds_own(p: str) -> bool:  # a path above one of the jail's dirs would expose its siblings
        p = os.path.realpath(p)
        return any(o == p or o.startswith(p.rstrip(os.sep) + os.sep) for o in own_real)

    import site

    prefixes = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
                os.path.dirname(os.path.dirname(os.path.realpath(sys.executable)))}
    paths = [*SYSTEM_READ, *sorted(prefixes), *site.getsitepackages(), site.getusersitepackages(), str(PACKAGE_DIR)]
    for name in ("envs", "conf", "prompts"):
        with contextlib.suppress(FileNotFoundError):
            paths.append(str(data_dir(name)))
    paths += [p for p in spec.readable if os.path.isdir(p)]
    for f in [*(p for p in spec.readable if not os.path.isdir(p)), *task_files()]:
        parent = os.path.dirname(os.path.realpath(f))  # a task file, and the modules and assets beside it
        paths.append(f if holds_own(parent) else parent)
    out = []
    for p in paths:
        if p and p != "/" and p not in out and not (os.path.isdir(p) and holds_own(p)):
            out.append(p)
    return out


def _claim_uid() -> tuple[int, int]:
    """A uid no other live jail on this machine holds: ``(uid, lock fd)``; the lock is held until exit."""
    os.makedirs(JAIL_ROOT + "/uids", mode=0o700, exist_ok=True)
    os.chmod(JAIL_ROOT, 0o755)
    os.makedirs(SCRATCH, mode=0o755, exist_ok=True)
    for slot in random.sample(range(UID_SLOTS), UID_SLOTS):
        fd = os.open(f"{JAIL_ROOT}/uids/{slot}", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue
        return UID_BASE + slot, fd
    raise OSError("no free jail uid (every slot is held by a live jail)")


def _hand_over(paths: list[str], uid: int) -> None:
    """Open the jail's own directories to its uid, keeping the run's files there out of its hands.

    Each directory stays the trusted user's, sticky and writable for all (the run directory above it is
    0700, so only a jail that starts inside it gets there, and Landlock lets only this jail write in it): the
    jail may add files, but not change, rename or remove the ones the run wrote (its reward, prompt,
    verdict). What earlier jails of the same candidate wrote (policy, metrics: owned by their uids) is
    handed to this one so it can continue. No link is followed.
    """
    me = os.geteuid()
    for top in paths:
        os.makedirs(top, exist_ok=True)
        st = os.lstat(top)
        if st.st_uid != me:
            os.lchown(top, me, me)
        os.chmod(top, 0o1777)
        for root, dirs, files in os.walk(top, followlinks=False):
            for name in dirs + files:
                path = os.path.join(root, name)
                with contextlib.suppress(OSError):
                    if os.lstat(path).st_uid != me:
                        os.lchown(path, uid, uid)


def _mount(src: str, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    if _libc.mount(src.encode(), target.encode(), fstype.encode() if fstype else None, ctypes.c_ulong(flags),
                   data.encode() if data else None) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {target}: {os.strerror(err)}")


def _write_id_maps(uid: int, gid: int) -> None:
    Path("/proc/self/setgroups").write_text("deny")
    Path("/proc/self/uid_map").write_text(f"{uid} {uid} 1")
    Path("/proc/self/gid_map").write_text(f"{gid} {gid} 1")


@dataclass
class Jail:
    """Inside a jail: what it has, and ``lock_down`` to put up the walls before candidate code loads."""

    spec: JailSpec
    uid: int | None
    namespaces: list[str]
    scratch: str | None
    problems: list[str] = field(default_factory=list)
    walls: list[str] = field(default_factory=list)
    visible_pids: list[int] = field(default_factory=list)

    def lock_down(self) -> list[str]:
        """Put up the walls (irreversible); return them by name (namespaces included)."""
        from eureka.sandbox.walls import WallSpec, apply_walls

        own = [os.path.realpath(p) for p in self.spec.writable]
        writable = own + ([self.scratch] if self.scratch else [])
        self.visible_pids = _visible_pids()  # what it sees of other processes (the audit hook may hide /proc later)
        walls = apply_walls(WallSpec(
            kind=self.spec.kind, writable=writable, readable=_read_roots(self.spec, writable),
            memory_mb=self.spec.memory_mb, cpu_s=self.spec.cpu_s, max_file_mb=self.spec.max_file_mb,
            max_open_files=self.spec.max_open_files, max_tasks=self.spec.max_tasks, uid=self.uid,
            network_namespace=False, drop_privileges=self.uid is not None, strict_audit=self.spec.strict_audit,
            tmpdir=self.scratch, devices=list(self.spec.devices)))
        self.walls = [*self.namespaces, *walls]
        return list(self.walls)

    def report(self) -> dict:
        """What this process sees of itself: pid, uid, namespaces, limits, other processes, walls."""
        import resource

        ns = {}
        for name in ("pid", "ipc", "mnt", "net", "uts", "user"):
            with contextlib.suppress(OSError):
                ns[name] = os.readlink(f"/proc/self/ns/{name}")
        limits = {}
        for key, res in (("cpu_s", resource.RLIMIT_CPU), ("address_space", resource.RLIMIT_AS),
                         ("tasks", resource.RLIMIT_NPROC), ("file_size", resource.RLIMIT_FSIZE),
                         ("open_files", resource.RLIMIT_NOFILE)):
            soft = resource.getrlimit(res)[0]
            limits[key] = None if soft == resource.RLIM_INFINITY else soft
        status = {}
        with contextlib.suppress(OSError):
            for line in Path("/proc/self/status").read_text().splitlines():
                k, _, v = line.partition(":")
                if k in ("Seccomp", "NoNewPrivs", "Threads"):
                    status[k.lower()] = v.strip()
        pids = _visible_pids() if not self.walls else self.visible_pids
        scratch = None
        if self.scratch:
            with contextlib.suppress(OSError):
                st = os.statvfs(self.scratch)
                scratch = {"path": self.scratch, "size_mb": round(st.f_blocks * st.f_frsize / 2**20, 1)}
        return {"kind": self.spec.kind, "pid": os.getpid(), "uid": os.getuid(), "namespaces": ns,
                "limits": limits, "visible_pids": pids[:20], "scratch": scratch, "walls": list(self.walls),
                "problems": list(self.problems), **status}


class JailedProcess:
    """The trusted side's handle on a jail: its keeper's pid, a pipe to the jailed process, its end."""

    def __init__(self, pid: int, conn: Connection):
        self.pid, self.conn = pid, conn
        self.status: int | None = None

    def alive(self) -> bool:
        """Whether the jail (its keeper) still runs; reaps it when not."""
        if self.status is not None:
            return False
        try:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:
            self.status = 0
            return False
        if pid == 0:
            return True
        self.status = status
        return False

    def wait(self, timeout: float | None = None) -> int | None:
        """Wait for the jail to end (up to ``timeout`` s); return ``exitcode`` like multiprocessing's."""
        import time

        deadline = None if timeout is None else time.monotonic() + timeout
        while self.alive():
            if deadline is not None and time.monotonic() > deadline:
                return None
            time.sleep(0.005)
        return self.exitcode

    @property
    def exitcode(self) -> int | None:
        """None while running; ``-signal`` when killed; the exit code otherwise."""
        if self.status is None:
            return None
        return -os.WTERMSIG(self.status) if os.WIFSIGNALED(self.status) else os.WEXITSTATUS(self.status)

    def kill(self) -> None:
        """End the jail now (the jailed process dies with its keeper) and reap it."""
        if self.status is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                self.status = os.waitpid(self.pid, 0)[1]
        with contextlib.suppress(OSError):
            self.conn.close()


def spawn(spec: JailSpec, target: Callable[..., None], *args: Any, duplex: bool = True) -> JailedProcess:
    """Start ``target(conn, jail, *args)`` in a new jail; call from a trusted, single-threaded process.

    ``target`` runs as PID 1 of the jail's namespaces, before the walls: it prepares what it
    needs (imports, envs, files), then calls ``jail.lock_down()`` before loading anything a
    candidate wrote. ``conn`` is its end of a pipe to the caller (the caller must not unpickle
    what comes back: use ``eureka.procs.send_json`` / ``recv_json``). With ``duplex=False`` the jail
    only sends, through a pipe (no socket in the jail).
    """
    mine, theirs = Pipe(duplex=duplex)

    def keeper() -> None:
        mine.close()
        _keeper(spec, target, args, theirs)

    pid = _fork(70, keeper)
    theirs.close()
    return JailedProcess(pid, mine)


def _keeper(spec: JailSpec, target: Callable[..., None], args: tuple, conn: Connection) -> None:
    """Outside the jail: claim a uid, hand over the dirs, make the namespaces, fork, wait, exit alike."""
    import resource

    from eureka.sandbox.walls import die_with_parent

    die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # it ends as its job did: no core file from a re-raised signal
    root = os.geteuid() == 0
    uid, lock_fd, problems, names = None, -1, [], []
    if root:
        try:
            uid, lock_fd = _claim_uid()
            _hand_over(spec.writable, uid)
        except OSError as exc:
            uid = None
            problems.append(f"own uid: {exc}")
    flags = NAMESPACES | (0 if root else CLONE_NEWUSER)
    outer_uid, outer_gid = os.getuid(), os.getgid()
    if _libc.unshare(flags) != 0:
        problems.append(f"namespaces: {os.strerror(ctypes.get_errno())}")
        flags = 0
    elif not root:
        with contextlib.suppress(OSError):
            _write_id_maps(outer_uid, outer_gid)
    if flags:
        names = ["pidns", "ipcns", "mntns", "netns", "utsns"] + ([] if root else ["userns"])
    scratch = None
    if "mntns" not in names:  # no private tmpfs: a private dir in the temp dir, watched and removed here
        import tempfile

        scratch = tempfile.mkdtemp(prefix=f"eureka-{spec.kind}-")
        if uid is not None:
            os.chown(scratch, uid, uid)
    watched = [os.path.realpath(p) for p in spec.writable] + ([scratch] if scratch else [])
    pid = _fork(71, _inside, spec, uid, names, problems, scratch, target, args, conn)
    conn.close()
    status, over = _wait_watching(pid, watched, spec.disk_mb)
    if scratch:
        import shutil

        shutil.rmtree(scratch, ignore_errors=True)
    code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)
    if over:  # its directories outgrew the quota: ended like a file over its size limit
        code = 128 + signal.SIGXFSZ
    if code > 128:  # the job was ended by a signal (the init reports 128 + signal): end alike
        sig = code - 128
        signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)
        os.kill(os.getpid(), signal.SIGKILL)
    os._exit(code)


def _inside(spec: JailSpec, uid: int | None, names: list[str], problems: list[str], scratch: str | None,
            target: Callable[..., None], args: tuple, conn: Connection) -> None:
    """PID 1 of the new namespaces (trusted init; the keeper's uid lock is closed with every other fd): private /proc, scratch and /dev/shm, then fork the job.

    The init dies with the keeper (parent-death signal); when it dies the kernel ends every
    process of its PID namespace, so the job cannot outlive the run whatever it does. It
    exits as the job did (``128 + signal`` when a signal ended it).
    """
    from eureka.sandbox.walls import die_with_parent

    die_with_parent()
    keep = {0, 1, 2, conn.fileno()}
    for fd in _open_fds():
        if fd not in keep:
            with contextlib.suppress(OSError):
                os.close(fd)
    if "mntns" in names:
        try:
            _mount("none", "/", None, MS_REC | MS_PRIVATE)
            _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
            owner = f",uid={uid},gid={uid}" if uid is not None else ""
            os.makedirs(SCRATCH, exist_ok=True)
            _mount("tmpfs", SCRATCH, "tmpfs", MS_NOSUID | MS_NODEV,
                   f"size={max(1, int(spec.scratch_mb))}m,mode=0700{owner}")
            scratch = SCRATCH
            if os.path.isdir("/dev/shm"):
                _mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, f"size=16m,mode=1777{owner}")
        except OSError as exc:
            problems.append(str(exc))
    if scratch is None:  # the tmpfs could not be mounted: a private dir in the temp dir
        import tempfile

        scratch = tempfile.mkdtemp(prefix=f"eureka-{spec.kind}-")
        if uid is not None:
            os.chown(scratch, uid, uid)
    with contextlib.suppress(OSError):
        _libc.sethostname(b"eureka-jail", 11)
    pid = _fork(72, _job, spec, uid, names, problems, scratch, target, args, conn)
    conn.close()
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    status, cpu = _reap_with_cpu(pid)
    sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
    if sig == signal.SIGKILL and spec.cpu_s > 0 and cpu >= spec.cpu_s:
        sig = signal.SIGXCPU  # the CPU hard limit's SIGKILL (the job ignored SIGXCPU): a CPU overrun all the same
    os._exit(128 + sig if sig else os.WEXITSTATUS(status))


def _job(spec: JailSpec, uid: int | None, names: list[str], problems: list[str], scratch: str,
         target: Callable[..., None], args: tuple, conn: Connection) -> None:
    """PID 2: the process that will run candidate code, with an allow-listed environment."""
    from eureka.sandbox.walls import die_with_parent

    die_with_parent()
    cwd = os.path.realpath(spec.writable[0]) if spec.writable else scratch
    os.chdir(cwd)  # its own dir stays reachable through the working directory (the run dir is 0700)
    env = allowed_env(dict(os.environ), spec.env_allow, ENV_ALLOW)
    os.environ.clear()
    os.environ.update(env, HOME=scratch, TMPDIR=scratch)
    import tempfile

    tempfile.tempdir = scratch
    jail = Jail(spec, uid, names, scratch, problems)
    target(conn, jail, *args)


def _fork(fail_code: int, fn: Callable[..., None], *args: Any) -> int:
    """Fork; the child runs ``fn(*args)`` and exits (0, its ``SystemExit`` code, or ``fail_code``)."""
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        return pid
    status = fail_code
    try:
        fn(*args)
        status = 0
    except SystemExit as exc:
        status = exc.code if isinstance(exc.code, int) else 1
    except BaseException:  # noqa: BLE001 - the exit code tells the parent; the traceback goes to stderr
        import traceback

        traceback.print_exc()
    finally:
        _flush_output()
        os._exit(status)


def _reap(pid: int) -> int:
    """Wait for the child ``pid``; its wait status."""
    while True:
        try:
            return os.waitpid(pid, 0)[1]
        except InterruptedError:
            continue


def _reap_with_cpu(pid: int) -> tuple[int, float]:
    """Wait for the child ``pid``; its wait status and the CPU seconds it used (all its threads)."""
    while True:
        try:
            _, status, usage = os.wait4(pid, 0)
            return status, usage.ru_utime + usage.ru_stime
        except InterruptedError:
            continue


def disk_usage(paths: list[str], max_entries: int) -> tuple[int, int]:
    """Bytes allocated (``st_blocks``, so sparse or ``fallocate``d files count as what they hold) and entries
    beneath ``paths``; no link followed; stops counting at ``max_entries`` entries."""
    total, count, stack = 0, 0, list(paths)
    while stack and count <= max_entries:
        try:
            with os.scandir(stack.pop()) as it:
                for entry in it:
                    count += 1
                    try:
                        st = entry.stat(follow_symlinks=False)
                    except OSError:
                        continue
                    total += st.st_blocks * 512
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(entry.path)
        except OSError:
            continue
    return total, count


def _wait_watching(pid: int, dirs: list[str], disk_mb: int) -> tuple[int, bool]:
    """Wait for the init ``pid`` while adding up ``dirs`` every ``DISK_POLL_S``; kill it when they grew by more
    than ``disk_mb`` or ``MAX_NEW_ENTRIES``. Returns its wait status and whether it was over the quota."""
    import select
    import time

    if not dirs or disk_mb <= 0:
        return _reap(pid), False
    quota = disk_mb * 2**20
    base, base_n = disk_usage(dirs, 10 * MAX_NEW_ENTRIES)
    try:
        pidfd: int | None = os.pidfd_open(pid)
    except (AttributeError, OSError):
        pidfd = None
    try:
        while True:
            if pidfd is not None:
                select.select([pidfd], [], [], DISK_POLL_S)
            else:
                time.sleep(DISK_POLL_S / 5)
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                return status, False
            used, n = disk_usage(dirs, base_n + MAX_NEW_ENTRIES)
            if used - base > quota or n - base_n > MAX_NEW_ENTRIES:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                return _reap(pid), True
    finally:
        if pidfd is not None:
            os.close(pidfd)


def _flush_output() -> None:
    """Flush Python's buffers and let a capped-output pump write what is left (``walls.CappedOutput``)."""
    import threading

    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    for fd in (1, 2):
        with contextlib.suppress(OSError):
            os.close(fd)
    for t in threading.enumerate():
        if t.name == "capped-output":
            t.join(timeout=2.0)


def bounded_report(raw: object) -> dict | None:
    """The jail's report of itself, bounded (shown in the summary, never trusted for anything)."""
    if not isinstance(raw, dict):
        return None
    ns = cast(dict, raw.get("namespaces")) if isinstance(raw.get("namespaces"), dict) else {}
    limits = cast(dict, raw.get("limits")) if isinstance(raw.get("limits"), dict) else {}
    return {"pid": _number(raw.get("pid")), "uid": _number(raw.get("uid")),
            "namespaces": {str(k)[:8]: str(v)[:40] for k, v in list(ns.items())[:8]},
            "limits": {str(k)[:16]: _number(v) for k, v in list(limits.items())[:8]},
            "visible_pids": [int(x) for x in (raw.get("visible_pids") or [])[:20] if _number(x) is not None],
            "seccomp": str(raw.get("seccomp", ""))[:4]}


def _visible_pids() -> list[int]:
    try:
        return sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
    except OSError:
        return []


def _number(v: object) -> float | None:
    import math

    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None


def _open_fds() -> list[int]:
    try:
        return [int(fd) for fd in os.listdir("/proc/self/fd")]
    except OSError:
        return list(range(3, 256))
