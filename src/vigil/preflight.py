"""Checks before ``vigil serve`` opens anything: errors a person can act on, in one line.

* ``lock_data_dir``: one server per data directory. An exclusive ``flock`` on
  ``DIR/vigil.lock`` (which holds the owner's pid) is taken before the embedded store
  opens; a second server fails with "data directory DIR is in use by pid N" instead of a
  chDB traceback. The kernel drops the lock when its process dies, so ``kill -9`` leaves
  nothing to clean up.
* ``check_ports``: every fixed port the configuration names is bound and released once,
  so that a port in use is reported as "port P (--flag) … is in use" before migrations
  run, naming the flag that changes it. (A port can still be taken between this check and
  the listener's bind; the listeners word that case the same way.)
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import socket
from dataclasses import dataclass
from pathlib import Path

LOCK_FILE = "vigil.lock"


class PreflightError(Exception):
    """What stops the server from starting, worded for the person who started it."""


@dataclass
class DataDirLock:
    path: Path
    fd: int | None

    def release(self) -> None:
        if self.fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self.fd, 0)
            os.close(self.fd)  # closing the descriptor drops the flock
            self.fd = None


def lock_data_dir(data_dir: Path) -> DataDirLock:
    """Take the data directory for this process, or PreflightError naming its owner."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        owner = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise PreflightError(
            f"data directory {data_dir} is in use by pid {owner}"
            " (stop that vigil, or pass another --data-dir)"
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return DataDirLock(path, fd)


def port_in_use(host: str, port: int, flag: str, kind: str = "TCP") -> PreflightError:
    return PreflightError(
        f"port {port} ({flag}) on {host} is in use ({kind}): stop what listens there, or"
        f" choose another with {flag} PORT (0 picks a free one)"
    )


def check_ports(host: str, ports: dict[str, int | None], udp: frozenset[str]) -> None:
    """Bind each ``flag: port`` (skipping None and 0) on ``host`` and release it; the flags
    in ``udp`` are checked over UDP as well."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for flag, port in ports.items():
        if not port:
            continue
        kinds = [("TCP", socket.SOCK_STREAM)] + (
            [("UDP", socket.SOCK_DGRAM)] if flag in udp else []
        )
        for kind, type_ in kinds:
            with socket.socket(family, type_) as sock:
                if type_ == socket.SOCK_STREAM:
                    # As the listeners bind: a port in TIME_WAIT is free, a listening one is not.
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    sock.bind((host, port))
                except OSError as exc:
                    if exc.errno == errno.EADDRINUSE:
                        raise port_in_use(host, port, flag, kind) from None
                    if exc.errno == errno.EACCES:
                        raise PreflightError(
                            f"port {port} ({flag}) on {host}: permission denied (ports below"
                            f" 1024 need privileges); choose another with {flag} PORT"
                        ) from None
                    if exc.errno == errno.EADDRNOTAVAIL:
                        raise PreflightError(
                            f"cannot bind {host} (--host): no such address on this machine"
                        ) from None
                    raise
