"""Which walls this machine allows, asked once at start-up, before any candidate code runs.

A jail goes on with the walls the kernel grants (see ``eureka.sandbox.jail``); this module finds
out beforehand which ones it will not get, so the run can say so in one line and refuse LLM code
unless the user opts in (``sandbox.allow_weaker=true``). The probe runs in a child process: it
tries what a jail does (new namespaces, a mount inside them, Landlock's ABI, a seccomp filter)
and reports what was refused and why.
"""

from __future__ import annotations

import ctypes
import json
import os
import platform
import subprocess
import sys

# Why a wall is usually missing, by what was refused (a hint after the kernel's own error).
WHY_UNSHARE = "a container's seccomp profile, or user namespaces disabled?"
WHY_MOUNT = ("Ubuntu 24.04's AppArmor restriction of unprivileged user namespaces "
             "(kernel.apparmor_restrict_unprivileged_userns=1)?")


def missing_walls() -> list[tuple[str, str]]:
    """The walls this machine refuses, as ``(wall, why)``; empty when every wall goes up."""
    if platform.system() != "Linux":
        return [("jail", f"{platform.system()} has no namespaces, Landlock or seccomp (Linux only)")]
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "PYTHONPATH", "LANG", "LC_ALL", "VIRTUAL_ENV")}
    try:
        proc = subprocess.run([sys.executable, "-c", "from eureka.sandbox.probe import _main; _main()"],
                              capture_output=True, text=True, timeout=60, env=env)
        found = json.loads(proc.stdout.strip().splitlines()[-1])
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return [("probe", "the wall probe itself failed to run")]
    return [(str(w), str(why)) for w, why in found]


def startup_line(missing: list[tuple[str, str]], llm_code: bool, allowed: bool) -> str:
    """The one line said at start-up when walls are missing (empty when none is)."""
    if not missing:
        return ""
    walls = "; ".join(f"no {w}: {why}" for w, why in missing)
    if not llm_code:
        tail = "the offline designer's code runs under the walls that exist"
    elif allowed:
        tail = "LLM code runs anyway (sandbox.allow_weaker=true)"
    else:
        tail = "LLM code will not run here; opt in with sandbox.allow_weaker=true (README: The sandbox)"
    return f"eureka: sandbox: {walls}; {tail}"


def _errno_text() -> str:
    err = ctypes.get_errno()
    return f"{os.strerror(err)} (errno {err})"


def _in_child(fn) -> str | None:
    """Run ``fn()`` (which returns a problem or None) in a forked child; its problem, or None."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            problem = fn()
        except BaseException as exc:  # noqa: BLE001 - reported to the parent
            problem = f"{type(exc).__name__}: {exc}"
        os.write(w, (problem or "").encode()[:4000])
        os._exit(0)
    os.close(w)
    out = b""
    while chunk := os.read(r, 4096):
        out += chunk
    os.close(r)
    os.waitpid(pid, 0)
    return out.decode() or None


def _namespaces() -> str | None:
    from eureka.sandbox.jail import CLONE_NEWUSER, MS_PRIVATE, MS_REC, NAMESPACES, _mount, _write_id_maps

    libc = ctypes.CDLL(None, use_errno=True)
    root = os.geteuid() == 0
    uid, gid = os.getuid(), os.getgid()
    if libc.unshare(NAMESPACES | (0 if root else CLONE_NEWUSER)) != 0:
        return f"unshare refused: {_errno_text()}; {WHY_UNSHARE}"
    try:
        if not root:
            _write_id_maps(uid, gid)
        _mount("none", "/", None, MS_REC | MS_PRIVATE)
        _mount("tmpfs", "/tmp", "tmpfs", 0, "size=1m")
    except OSError as exc:
        return f"mount refused inside the new namespaces: {exc.strerror or exc}; {WHY_MOUNT}"
    return None


def _seccomp() -> str | None:
    from eureka.sandbox.kernel import install_seccomp

    try:
        install_seccomp()
    except OSError as exc:
        return f"the filter could not be loaded: {exc} (libseccomp2 installed? a kernel with seccomp?)"
    return None


def _main() -> None:
    """The probe's child process: print the missing walls as JSON."""
    from eureka.sandbox.kernel import landlock_abi

    missing = []
    ns = _in_child(_namespaces)
    if ns:
        missing.append(("PID/IPC/mount/network/UTS namespaces", ns))
    if landlock_abi() < 1:
        missing.append(("Landlock", "the kernel has none (Linux < 5.13, or landlock missing from its lsm= list)"))
    sc = _in_child(_seccomp)
    if sc:
        missing.append(("seccomp", sc))
    print(json.dumps(missing))


if __name__ == "__main__":
    _main()
