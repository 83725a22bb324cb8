"""``feedback=web``: the port is checked before any work (one line, exit 2 through the CLI)."""

import socket

import pytest

from eureka.errors import ConfigError
from eureka.prefer.port import TRIES, check_port


def test_not_a_port():
    with pytest.raises(ConfigError, match=r"feedback.port=0: not a port; valid: 1 \.\. "):
        check_port("127.0.0.1", 0)


def test_every_port_of_the_range_busy():
    held: list[socket.socket] = []
    try:
        for base in range(42000, 60000, 97):  # a range of TRIES free ports, all held here
            socks = []
            for p in range(base, base + TRIES):
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                try:
                    s.bind(("127.0.0.1", p))
                except OSError:
                    s.close()
                    break
                socks.append(s)
            held += socks
            if len(socks) == TRIES:
                break
        else:
            pytest.skip("no range of free ports to hold")
        with pytest.raises(ConfigError, match=f"feedback.port={base}: no free port in {base}-{base + TRIES - 1}"):
            check_port("127.0.0.1", base)
    finally:
        for s in held:
            s.close()
