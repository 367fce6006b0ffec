"""The import-linter contract of pyproject.toml (DESIGN.md, "Layers") holds on the tree, and
fails when a module imports against it: each case copies src/vigil to a temporary
directory, adds one deliberate import there, and runs the real ``lint-imports`` on the copy.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def _lint(source_root: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` on the package found first under ``source_root``."""
    env = {**os.environ, "PYTHONPATH": str(source_root)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


def _copy(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    shutil.copytree(
        ROOT / "src" / "vigil",
        src / "vigil",
        ignore=shutil.ignore_patterns("__pycache__", "*.so", "*.c", "*.pyx", "*.pxi"),
    )
    return src


def test_the_tree_keeps_the_contract(tmp_path: Path) -> None:
    result = _lint(ROOT / "src", tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 3 kept, 0 broken." in result.stdout, result.stdout


@pytest.mark.parametrize(
    ("module", "line", "broken"),
    [
        # model is the bottom layer: it may not import the API on top.
        ("vigil/model/backwards.py", "import vigil.api.params\n", "vigil layers"),
        # A sibling arrow nobody declared: store -> query.
        ("vigil/store/backwards.py", "import vigil.query.metrics.levels\n", "vigil layers"),
        # ingest is below the rules.
        ("vigil/ingest/backwards.py", "import vigil.rules.schedule\n", "vigil layers"),
        # The SDK is shipped to applications: it imports nothing of the server ...
        ("vigil/sdk/backwards.py", "import vigil.model.common\n", "it imports no other"),
        # ... and the server nothing of it.
        ("vigil/query/backwards.py", "import vigil.sdk.metrics\n", "no vigil module imports"),
    ],
)
def test_a_backwards_import_breaks_the_contract(
    tmp_path: Path, module: str, line: str, broken: str
) -> None:
    src = _copy(tmp_path)
    (src / module).write_text(f'"""A deliberate import against the layers."""\n\n{line}')
    result = _lint(src, tmp_path)
    assert result.returncode != 0, result.stdout
    assert "1 broken" in result.stdout, result.stdout
    dotted = module.removesuffix(".py").replace("/", ".")
    assert dotted in result.stdout, result.stdout
    assert broken in result.stdout.split("Broken contracts")[-1], result.stdout
