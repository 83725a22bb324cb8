"""Run a command under a seccomp filter that refuses namespaces, as a container's default profile does.

``python tests/sandbox/no_namespaces.py CMD ARGS...``: ``unshare``, ``setns`` and ``clone`` with any
namespace flag answer EPERM, ``clone3`` ENOSYS (so glibc falls back to ``clone``); everything else is
allowed, exec included. The filter stays on the command and everything it starts.
"""

from __future__ import annotations

import ctypes
import errno
import os
import sys

NAMESPACE_FLAGS = (0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000, 0x00000080)


def refuse_namespaces() -> None:
    """Install the filter on this process (irreversible)."""
    from eureka.sandbox.kernel import (
        SCMP_ACT_ALLOW,
        SCMP_ACT_ERRNO,
        SCMP_CMP_MASKED_EQ,
        _libseccomp,
        _no_new_privs,
    )
    from eureka.sandbox.kernel import _ScmpArgCmp as Cmp

    lib = _libseccomp()
    ctx = lib.seccomp_init(SCMP_ACT_ALLOW)
    deny = SCMP_ACT_ERRNO(errno.EPERM)

    def rule(action: int, name: str, *cmps: tuple[int, int, int, int]) -> None:
        arr = (Cmp * max(1, len(cmps)))(*[Cmp(*c) for c in cmps])
        nr = lib.seccomp_syscall_resolve_name(name.encode())
        if lib.seccomp_rule_add_array(ctx, action, nr, len(cmps), arr) < 0:
            raise OSError(f"rule for {name}")

    rule(deny, "unshare")
    rule(deny, "setns")
    for flag in NAMESPACE_FLAGS:  # a rule per flag: any of them set refuses the clone
        rule(deny, "clone", (0, SCMP_CMP_MASKED_EQ, flag, flag))
    rule(SCMP_ACT_ERRNO(errno.ENOSYS), "clone3")
    _no_new_privs()
    if lib.seccomp_load(ctypes.c_void_p(ctx)) < 0:
        raise OSError("seccomp_load")


if __name__ == "__main__":
    refuse_namespaces()
    os.execvp(sys.argv[1], sys.argv[1:])
