"""The README's quickstart, run as written against a started server (issue 16).

The code blocks of the "Quickstart" section are taken from README.md in order: ``export``
lines set the environment of what follows, other shell lines run in bash, Python blocks
run in a fresh interpreter. ``make run`` is the one line not run: the test starts the
server itself, on free ports, and only the README's fixed addresses are replaced by the
chosen ones (and ``VIGIL_URL``, the command line's default address, set to the server).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

from tests.vigil_process import VigilProcess

ROOT = Path(__file__).resolve().parent.parent
BLOCK = re.compile(r"^```(\w+)\n(.*?)^```$", re.S | re.M)


def quickstart_blocks() -> list[tuple[str, str]]:
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Quickstart\n", 1)[1].split("\n## ", 1)[0]
    return [(m.group(1), m.group(2)) for m in BLOCK.finditer(section)]


def test_the_readme_quickstart_works_when_pasted(tmp_path: Path) -> None:
    blocks = quickstart_blocks()
    assert [kind for kind, _ in blocks] == ["sh", "sh", "python", "python", "sh"]
    server = VigilProcess(tmp_path / "data").start()
    try:
        addresses = {
            "http://127.0.0.1:8080": server.url,
            "http://127.0.0.1:4318": server.otlp_http_url,
            ".venv/bin/": str(Path(sys.executable).parent) + "/",
        }
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "VIGIL_"))}
        env["VIGIL_URL"] = server.url  # what `vigil logs` reaches by default: 127.0.0.1:8080
        outputs: list[str] = []
        for kind, code in blocks:
            for written, actual in addresses.items():
                code = code.replace(written, actual)
            if kind == "python":
                done = subprocess.run(
                    [sys.executable, "-"], input=code, env=env, cwd=tmp_path,
                    capture_output=True, text=True, timeout=120, check=False,
                )  # fmt: skip
                assert done.returncode == 0, f"{code}\n{done.stderr}"
                continue
            for line in code.splitlines():
                command = line.split("  #", 1)[0].strip()
                if not command or command.startswith("make "):
                    continue
                if command.startswith("export "):
                    pairs = [item.split("=", 1) for item in shlex.split(command)[1:]]
                    env.update({key: value for key, value in pairs})
                    continue
                done = subprocess.run(
                    ["bash", "-c", command], env=env, cwd=ROOT,
                    capture_output=True, text=True, timeout=120, check=False,
                )  # fmt: skip
                assert done.returncode == 0, f"{command}\n{done.stderr}"
                outputs.append(done.stdout)
    finally:
        assert server.stop() == 0, server.log_text()[-3000:]
    table, logs, traces = outputs
    assert table.splitlines() == ["errors", "------", "1"]
    (error,) = json.loads(logs)["logs"]
    assert json.loads(error["body"]) == {"level": "ERROR", "order": 2}
    assert error["severity"] == "ERROR"
    (trace,) = json.loads(traces)["traces"]
    assert trace["span_count"] == 2
