"""Kernel-enforced walls through ctypes: seccomp (via Debian's libseccomp.so.2) and Landlock.

Why ctypes and not a binding: the PyPI bindings (``pyseccomp`` 0.1.2 from 2021, ``landlock``
1.0.0.dev5) are unmaintained or pre-release, and we need exactly two features they hide or
lack: seccomp's thread-sync flag (the filter must cover threads torch already started) and
argument-masked rules (``clone`` of threads allowed, of processes refused). The whole
surface is a dozen documented calls. Both walls are irreversible for the process and its
future children; Python code cannot switch them off.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import struct

PR_SET_NO_NEW_PRIVS = 38
PR_SET_PDEATHSIG = 1

# -- seccomp ---------------------------------------------------------------------------------
SCMP_ACT_ALLOW = 0x7FFF0000
SCMP_ACT_KILL_PROCESS = 0x80000000
SCMP_FLTATR_ACT_BADARCH, SCMP_FLTATR_CTL_TSYNC = 2, 4
SCMP_CMP_NE, SCMP_CMP_EQ, SCMP_CMP_MASKED_EQ = 1, 4, 7
CLONE_THREAD = 0x00010000


def SCMP_ACT_ERRNO(code: int) -> int:  # noqa: N802 - the libseccomp macro's name
    return 0x00050000 | (code & 0xFFFF)


class _ScmpArgCmp(ctypes.Structure):
    _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int), ("datum_a", ctypes.c_uint64),
                ("datum_b", ctypes.c_uint64)]


# Syscalls refused outright (EPERM): new sockets and listening, new programs, tracing,
# namespaces and mounts, kernel keyrings, BPF, perf and module loading, and memory that RLIMIT_AS does not
# count (memfd, SysV shared memory; POSIX shared memory is a file in /dev/shm, which Landlock keeps read-only).
DENIED_SYSCALLS = (
    "socket", "socketpair", "connect", "bind", "listen", "accept", "accept4",
    "execve", "execveat", "fork", "vfork",
    "ptrace", "process_vm_readv", "process_vm_writev", "pidfd_open", "pidfd_getfd", "pidfd_send_signal",
    "unshare", "setns", "mount", "umount2", "pivot_root", "chroot", "move_mount", "open_tree", "fsopen",
    "keyctl", "add_key", "request_key", "bpf", "perf_event_open", "init_module", "finit_module",
    "delete_module", "kexec_load", "reboot", "swapon", "swapoff", "userfaultfd", "io_uring_setup",
    "tkill", "rt_sigqueueinfo",
    "memfd_create", "memfd_secret", "shmget", "shmat",
)
EXEC_SYSCALLS = ("execve",)  # what ``allow_exec`` lets through (one program started from a prepared child)


def _libseccomp():
    lib = ctypes.CDLL("libseccomp.so.2", use_errno=True)  # no find_library: it runs gcc
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_syscall_resolve_name.restype = ctypes.c_int
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_rule_add_array.restype = ctypes.c_int
    lib.seccomp_rule_add_array.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint,
                                           ctypes.POINTER(_ScmpArgCmp)]
    lib.seccomp_attr_set.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_uint32]
    lib.seccomp_load.argtypes = [ctypes.c_void_p]
    lib.seccomp_release.argtypes = [ctypes.c_void_p]
    return lib


def install_seccomp(allow_exec: bool = False) -> str:
    """Refuse new sockets, programs, processes, tracing and signals to other processes.

    A system call of another architecture (e.g. ``int 0x80`` on x86-64, which the filter cannot
    read like a native one) kills the whole process at once (``SCMP_ACT_KILL_PROCESS``), not just
    the calling thread (which left a multi-threaded job hanging until its wall-clock limit).
    ``allow_exec`` keeps ``execve`` open: for a child about to start a helper program (the
    renderer's ffmpeg), whose filter stays on it after the exec.

    Threads stay allowed (``clone`` with ``CLONE_THREAD``); ``clone3`` answers ENOSYS so
    glibc falls back to ``clone``, whose flags the filter can read; ``kill`` and ``tgkill``
    may only target this process. Raises ``OSError`` when the filter cannot be loaded.
    """
    lib = _libseccomp()
    ctx = lib.seccomp_init(SCMP_ACT_ALLOW)
    if not ctx:
        raise OSError("seccomp_init failed")
    deny = SCMP_ACT_ERRNO(errno.EPERM)
    pid = os.getpid()

    def rule(action: int, name: str, *cmps: tuple[int, int, int, int]) -> None:
        nr = lib.seccomp_syscall_resolve_name(name.encode())
        if nr < 0:  # not on this architecture
            return
        arr = (_ScmpArgCmp * max(1, len(cmps)))(*[_ScmpArgCmp(*c) for c in cmps])
        rc = lib.seccomp_rule_add_array(ctx, action, nr, len(cmps), arr)
        if rc < 0:
            raise OSError(-rc, f"seccomp rule for {name} failed")

    try:
        rc = lib.seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS)
        if rc < 0:
            raise OSError(-rc, "seccomp: killing the process on a foreign architecture's call is unavailable")
        for name in DENIED_SYSCALLS:
            if not (allow_exec and name in EXEC_SYSCALLS):
                rule(deny, name)
        rule(deny, "clone", (0, SCMP_CMP_MASKED_EQ, CLONE_THREAD, 0))  # a new process, not a thread
        rule(SCMP_ACT_ERRNO(errno.ENOSYS), "clone3")
        rule(deny, "kill", (0, SCMP_CMP_NE, pid, 0))
        rule(deny, "tgkill", (0, SCMP_CMP_NE, pid, 0))
        # The parent-death signal is how a jail dies with the run: it may not be changed from inside.
        rule(deny, "prctl", (0, SCMP_CMP_EQ, PR_SET_PDEATHSIG, 0))
        # Limits, priority and affinity of this process only (pid 0 = itself).
        rule(deny, "prlimit64", (0, SCMP_CMP_NE, 0, 0))
        rule(deny, "setpriority", (1, SCMP_CMP_NE, 0, 0))
        rule(deny, "sched_setaffinity", (0, SCMP_CMP_NE, 0, 0))
        rule(deny, "sched_setscheduler", (0, SCMP_CMP_NE, 0, 0))
        rule(deny, "sched_setparam", (0, SCMP_CMP_NE, 0, 0))
        rule(deny, "sched_setattr", (0, SCMP_CMP_NE, 0, 0))
        rule(deny, "ioprio_set", (1, SCMP_CMP_NE, 0, 0))
        rc = lib.seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1)
        if rc < 0:
            raise OSError(-rc, "seccomp thread sync unavailable")
        _no_new_privs()
        rc = lib.seccomp_load(ctx)
        if rc < 0:
            raise OSError(-rc, f"seccomp_load failed: {os.strerror(-rc)}")
    finally:
        lib.seccomp_release(ctx)
    return "seccomp"


def _no_new_privs() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")


# -- Landlock --------------------------------------------------------------------------------
_LANDLOCK_NR = {"x86_64": (444, 445, 446), "aarch64": (444, 445, 446)}
LANDLOCK_CREATE_RULESET_VERSION = 1
LANDLOCK_RULE_PATH_BENEATH = 1
FS_EXECUTE, FS_WRITE_FILE, FS_READ_FILE, FS_READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
FS_REMOVE_DIR, FS_REMOVE_FILE, FS_MAKE_CHAR, FS_MAKE_DIR = 1 << 4, 1 << 5, 1 << 6, 1 << 7
FS_MAKE_REG, FS_MAKE_SOCK, FS_MAKE_FIFO, FS_MAKE_BLOCK, FS_MAKE_SYM = 1 << 8, 1 << 9, 1 << 10, 1 << 11, 1 << 12
FS_REFER, FS_TRUNCATE, FS_IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
NET_BIND_TCP, NET_CONNECT_TCP = 1 << 0, 1 << 1
SCOPE_ABSTRACT_UNIX_SOCKET, SCOPE_SIGNAL = 1 << 0, 1 << 1
# What a walled process may do under its own directories: create, write, remove files and dirs.
WRITE_ACCESS = (FS_WRITE_FILE | FS_REMOVE_DIR | FS_REMOVE_FILE | FS_MAKE_DIR | FS_MAKE_REG | FS_TRUNCATE
                | FS_REFER)
READ_ACCESS = FS_READ_FILE | FS_READ_DIR
DEVICE_ACCESS = FS_READ_FILE | FS_WRITE_FILE | FS_IOCTL_DEV  # a device node it may use (CUDA's /dev/nvidia*)
FILE_ONLY = FS_EXECUTE | FS_WRITE_FILE | FS_READ_FILE | FS_TRUNCATE | FS_IOCTL_DEV  # rights a file rule may hold
# Everything Landlock can refuse about files (reading too, when a read allow-list is given).
HANDLED_FS = (FS_EXECUTE | FS_WRITE_FILE | FS_REMOVE_DIR | FS_REMOVE_FILE | FS_MAKE_CHAR | FS_MAKE_DIR
              | FS_MAKE_REG | FS_MAKE_SOCK | FS_MAKE_FIFO | FS_MAKE_BLOCK | FS_MAKE_SYM)


def _syscall():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return libc.syscall


def landlock_abi() -> int:
    """Landlock ABI version of this kernel (0 when absent)."""
    nrs = _LANDLOCK_NR.get(platform.machine())
    if nrs is None:
        return 0
    try:
        abi = _syscall()(nrs[0], None, ctypes.c_size_t(0), ctypes.c_uint32(LANDLOCK_CREATE_RULESET_VERSION))
    except OSError:
        return 0
    return max(int(abi), 0)


def install_landlock(writable: list[str], readable: list[str] | None = None, devices: list[str] | None = None) -> str:
    """Allow writes only beneath ``writable``; no exec of files; with ABI >= 4 no TCP, >= 6 no signals out.

    With ``readable`` (a list of directories and files), reads are allowed only beneath those
    paths and ``writable``; paths that do not exist are skipped. ``devices``: device files it may
    also read, write and (ABI >= 5, which refuses device ioctls otherwise) ioctl: a GPU's nodes.

    Applies to this thread and every thread or process it creates later: call it before
    starting threads. Raises ``OSError`` when Landlock is absent or refuses.
    """
    abi = landlock_abi()
    if abi < 1:
        raise OSError(errno.ENOSYS, "Landlock is not available on this kernel")
    create, add, restrict = _LANDLOCK_NR[platform.machine()]
    sysc = _syscall()
    handled = HANDLED_FS | (FS_REFER if abi >= 2 else 0) | (FS_TRUNCATE if abi >= 3 else 0) \
        | (FS_IOCTL_DEV if abi >= 5 else 0) | (READ_ACCESS if readable is not None else 0)
    fields = [handled]
    parts = ["fs"]
    if abi >= 4:
        fields.append(NET_BIND_TCP | NET_CONNECT_TCP)
        parts.append("tcp")
    if abi >= 6:
        if len(fields) == 1:
            fields.append(0)
        fields.append(SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL)
        parts.append("signals")
    attr = struct.pack(f"<{len(fields)}Q", *fields)
    buf = ctypes.create_string_buffer(attr, len(attr))
    fd = sysc(create, buf, ctypes.c_size_t(len(attr)), ctypes.c_uint32(0))
    if fd < 0:
        raise OSError(ctypes.get_errno(), "landlock_create_ruleset failed")
    try:
        rules = [(p, (WRITE_ACCESS | READ_ACCESS) & handled) for p in writable]
        rules += [(p, READ_ACCESS & handled) for p in (readable or [])]
        rules += [(p, DEVICE_ACCESS & handled) for p in (devices or [])]
        for path, allowed in rules:
            try:
                pfd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                continue  # a read path that does not exist here
            try:
                if not os.path.isdir(path):
                    allowed &= FILE_ONLY
                rule = struct.pack("<Qi", allowed, pfd)
                rbuf = ctypes.create_string_buffer(rule, len(rule))
                if sysc(add, ctypes.c_int(fd), ctypes.c_int(LANDLOCK_RULE_PATH_BENEATH), rbuf,
                        ctypes.c_uint32(0)) != 0:
                    raise OSError(ctypes.get_errno(), f"landlock_add_rule({path}) failed")
            finally:
                os.close(pfd)
        _no_new_privs()
        if sysc(restrict, ctypes.c_int(fd), ctypes.c_uint32(0)) != 0:
            raise OSError(ctypes.get_errno(), "landlock_restrict_self failed")
    finally:
        os.close(fd)
    if readable is not None:
        parts.insert(1, "reads")
    return "landlock(" + "+".join(parts) + f", abi {abi})"
