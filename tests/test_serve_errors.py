"""``vigil serve`` errors a person can act on: one line naming the cause and the fix,
before anything is opened (issue 16)."""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.vigil_process import VigilProcess
from vigil import cli

FLAGS = ("--port", "--otlp-http-port", "--otlp-grpc-port", "--xray-port")


def _serve(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``vigil serve`` as a process, every port free (0) unless ``args`` names it."""
    cmd = [sys.executable, "-m", "vigil", "serve", "--data-dir", str(data_dir)]
    for flag in FLAGS:
        if flag not in args:
            cmd += [flag, "0"]
    return subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=120, check=False)


def _one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("vigil: ")]
    assert len(lines) == 1, done.stderr
    return lines[0]


@pytest.mark.parametrize(("flag", "kind"), [(f, socket.SOCK_STREAM) for f in FLAGS])
def test_a_port_in_use_is_one_line_naming_port_and_flag(
    tmp_path: Path, flag: str, kind: socket.SocketKind
) -> None:
    with socket.socket(socket.AF_INET, kind) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = _serve(tmp_path / "data", flag, str(port))
    line = _one_error_line(done)
    assert line == (
        f"vigil: port {port} ({flag}) on 127.0.0.1 is in use (TCP): stop what listens"
        f" there, or choose another with {flag} PORT (0 picks a free one)"
    )
    # Refused before the store was opened or migrated.
    assert not (tmp_path / "data" / "clickhouse").exists()


def test_the_x_ray_port_is_checked_over_udp_too(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        done = _serve(tmp_path / "data", "--xray-port", str(port))
    assert f"port {port} (--xray-port) on 127.0.0.1 is in use (UDP)" in _one_error_line(done)


def test_a_second_server_on_the_same_data_dir_names_the_first(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = VigilProcess(data).start()
    try:
        assert first.proc is not None
        done = _serve(data)
        line = _one_error_line(done)
        assert line == (
            f"vigil: data directory {data} is in use by pid {first.proc.pid}"
            " (stop that vigil, or pass another --data-dir)"
        )
        with first.client() as http:  # the first one is unharmed
            assert http.get("/healthz").status_code == 200
    finally:
        first.kill()  # kill -9: the lock goes with the process
    again = VigilProcess(data).start()
    assert again.stop() == 0


def test_every_serve_flag_has_help_and_its_default() -> None:
    parser = argparse.ArgumentParser(prog="vigil")
    sub = parser.add_subparsers(dest="command")
    cli._serve_parser(sub)
    serve = sub.choices["serve"]
    text = serve.format_help()
    for action in serve._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        assert action.help, f"{action.option_strings} has no help"
        if isinstance(action, argparse._StoreTrueAction):
            assert "default: off" in action.help, action.option_strings
            continue
        helped = serve.formatter_class(prog="vigil")._get_help_string(action)
        assert helped is not None
        assert "default" in helped, f"{action.option_strings}: no default in {helped!r}"
    assert "(default: 8080)" in text
    # The same text from the command line.
    shown = subprocess.run(
        [sys.executable, "-m", "vigil", "serve", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert "(default: 4318)" in shown
    assert "--wal-fsync" in shown
