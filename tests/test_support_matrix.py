"""The README's AWS support matrix is what the operation tables say (issue 16)."""

from __future__ import annotations

from pathlib import Path

import pytest

from vigil.api.aws import support

README = Path(__file__).resolve().parent.parent / "README.md"


def test_the_readme_matrix_is_generated_from_the_operation_tables() -> None:
    assert support.current_block(README.read_text()) == support.render(), (
        "README.md's support matrix is stale: run `make support-matrix`"
    )


def test_an_operation_added_to_a_table_changes_the_matrix(monkeypatch: pytest.MonkeyPatch) -> None:
    tables = support.served_operations()
    assert "PutMetricStream" not in tables["cloudwatch"]
    grown = {**tables, "cloudwatch": tables["cloudwatch"] | {"PutMetricStream"}}
    monkeypatch.setattr(support, "served_operations", lambda: grown)
    assert support.current_block(README.read_text()) != support.render()
    assert "| PutMetricStream | supported |" in support.render()


def test_every_served_operation_is_in_its_botocore_model(monkeypatch: pytest.MonkeyPatch) -> None:
    support.render()  # raises for names botocore does not know
    monkeypatch.setattr(support, "served_operations", lambda: {"logs": frozenset({"Nope"})})
    with pytest.raises(ValueError, match="Nope"):
        support.render()


def test_replace_block_keeps_the_rest(tmp_path: Path) -> None:
    text = f"intro\n{support.BEGIN}\nold\n{support.END}\noutro\n"
    assert (
        support.replace_block(text, "new\n")
        == f"intro\n{support.BEGIN}\nnew\n{support.END}\noutro\n"
    )
    path = tmp_path / "README.md"
    path.write_text(text)
    assert support.main([str(path)]) == 0
    assert support.current_block(path.read_text()) == support.render()
