"""Run ``vigil serve`` as a separate process, the way users and outside tests do."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any, Protocol

import httpx

LISTENING = re.compile(r"^vigil listening (.*)$")


class Served(Protocol):
    """A running vigil as tests see it: this process or tests.runtime.InProcessVigil."""

    addresses: dict[str, str]

    @property
    def url(self) -> str: ...
    @property
    def otlp_http_url(self) -> str: ...
    @property
    def grpc_target(self) -> str: ...
    @property
    def xray_address(self) -> tuple[str, int]: ...
    def client(self, **kwargs: Any) -> httpx.Client: ...


class ServedAddresses:
    """Where a started vigil listens, read from its ``addresses`` (listener name ->
    host:port); shared by this harness and tests.runtime.InProcessVigil."""

    addresses: dict[str, str]

    @property
    def url(self) -> str:
        return "http://" + self.addresses["http"]

    @property
    def otlp_http_url(self) -> str:
        return "http://" + self.addresses["otlp-http"]

    @property
    def grpc_target(self) -> str:
        return self.addresses["otlp-grpc"]

    @property
    def xray_address(self) -> tuple[str, int]:
        """The X-Ray daemon's (host, port): UDP segments, TCP sampling calls."""
        host, _, port = self.addresses["xray"].rpartition(":")
        return host.strip("[]"), int(port)

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30, **kwargs)


class VigilProcess(ServedAddresses):
    def __init__(self, data_dir: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.args = list(args)
        self.env = env or {}
        self.proc: subprocess.Popen[str] | None = None
        self.addresses: dict[str, str] = {}
        self._log: IO[str] | None = None

    def start(self, timeout: float = 90.0) -> VigilProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._log = open(self.data_dir / "vigil.log", "a")  # noqa: SIM115 - lives as long as the process
        cmd = [sys.executable, "-m", "vigil", "serve", "--data-dir", str(self.data_dir)]
        for flag in ("--port", "--otlp-http-port", "--otlp-grpc-port", "--xray-port"):
            if flag not in self.args:
                cmd += [flag, "0"]
        self.proc = subprocess.Popen(
            cmd + self.args,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            env={**os.environ, **self.env},
        )
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            match = LISTENING.match(line.strip())
            if match:
                self.addresses = dict(item.split("=", 1) for item in match.group(1).split())
                return self
        code = self.proc.poll()
        raise RuntimeError(f"vigil did not start (exit {code}); log:\n{self.log_text()[-4000:]}")

    def log_text(self) -> str:
        path = self.data_dir / "vigil.log"
        return path.read_text() if path.exists() else ""

    def stop(self, timeout: float = 60.0) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout)
        self._close()
        return code

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(30)
        self._close()

    def _close(self) -> None:
        if self.proc is not None and self.proc.stdout is not None:
            self.proc.stdout.close()
        if self._log is not None:
            self._log.close()
            self._log = None
