"""The committed type stubs of the core module match the built module."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import mettagrid


def test_core_stubs_are_current(tmp_path: Path) -> None:
    out = tmp_path / "_core.pyi"
    subprocess.run([sys.executable, "-m", "nanobind.stubgen", "-q", "-m", "mettagrid._core", "-o", str(out)], check=True,
                   cwd=tmp_path)
    committed = Path(mettagrid.__file__).with_name("_core.pyi").read_text()
    assert out.read_text() == committed, "regenerate with: python -m nanobind.stubgen -m mettagrid._core -o mettagrid/_core.pyi"
