"""Numbers shared by C++ and Python are defined once, in the core, and exported by mettagrid._core: the Python
sources use those names and never restate the numbers; the config's names for them match the core's tables; and
docs/GAME.md documents the same values."""

from __future__ import annotations

import ast
import io
import re
import tokenize
import typing
from pathlib import Path

import pytest

from mettagrid import _core
from mettagrid.config import ActionsConfig, GameConfig, MapBuilder, MazeMapBuilder
from mettagrid.env import GLOBAL_LOCATION, INVENTORY_FEATURE_BASE, PADDING_LOCATION, feature_spec

ROOT = Path(__file__).resolve().parents[2]
# The packages and the examples; the tests pin the documented values on purpose, so they are not scanned.
SOURCES = sorted(p for d in ("mettagrid", "trainer", "examples") for p in (ROOT / d).rglob("*.py"))
# Names of the core's tables, as the config and the observations spell them.
NAMED = {**_core.ACTION_KINDS, **_core.MAP_KINDS, **_core.MAZE_ALGORITHMS, **_core.FEATURE_IDS}


def restatements(source: str) -> list[str]:
    """Places in Python code (not strings or comments) that restate a core constant as a literal:
    - the token locations written as 0xFE / 0xFF, or 254 in any form;
    - a table pairing a name of the core's tables with an integer (`{"noop": 0}`, `("type_id", 0, ...)`);
    - a `kind` or `algorithm` (of an action or a map node), a feature-id base or a location name assigned an
      expression with an integer in it (`node.kind = 3`, `node.kind, node.width = 0, w`,
      `INVENTORY_FEATURE_BASE = 16`)."""
    found = []
    toks = [t for t in tokenize.generate_tokens(io.StringIO(source).readline)
            if t.type not in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT)]
    for i, t in enumerate(toks):
        nxt = [u.string for u in toks[i + 1:i + 3]]
        if t.type == tokenize.NUMBER and (re.fullmatch(r"0[xX][fF][eEfF]", t.string) or _int(t.string) == 254):
            found.append(t.start[0])
        elif t.type == tokenize.STRING and _unquote(t.string) in NAMED and len(nxt) == 2 and _int(nxt[1]) is not None:
            if nxt[0] == ":" or (nxt[0] == "," and toks[i - 1].string == "("):
                found.append(t.start[0])
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                pairs = zip(target.elts, node.value.elts) if isinstance(target, ast.Tuple) and isinstance(
                    node.value, ast.Tuple) else [(target, node.value)]
                for where, value in pairs:
                    name = getattr(where, "attr", getattr(where, "id", ""))
                    literal = any(isinstance(c, ast.Constant) and type(c.value) is int for c in ast.walk(value))
                    if literal and (name in ("kind", "algorithm") or re.search(r"INVENTORY_FEATURE|LOCATION", name)):
                        found.append(node.lineno)
    lines = source.splitlines()
    return [f"line {n}: {lines[n - 1].strip()}" for n in sorted(set(found))]


def _int(text: str) -> int | None:
    try:
        return int(text, 0)
    except ValueError:
        return None


def _unquote(text: str) -> str | None:
    return text[1:-1] if re.fullmatch(r"(['\"])[^'\"]*\1", text) else None


def test_the_scanner_finds_each_kind_of_restatement() -> None:
    old = '''
GLOBAL_LOCATION = 0xFE
PADDING = 0xFF
INVENTORY_FEATURE_BASE = 16
_KIND = {"noop": 0, "move": 1}
_BASE_FEATURES = [("type_id", 0, 255.0), ("agent:group", 1, 10.0)]
node.kind = 3
node.algorithm = 1
is_global = loc == 254
node.kind, node.height = 0, h
node.algorithm = 0 if mb.algorithm == "prim" else 1
'''
    assert [int(place.split(":")[0][len("line "):]) for place in restatements(old)] == list(range(2, 12))
    fine = '''
"""Global tokens sit at 0xFE."""  # and padding at 0xFF
entries = [("noop", "noop", 0), ("move_forward", "move", 0)]
_NORMALIZATION = {"type_id": 255.0}
space = Box(0, 255, shape)
node.kind = _core.MAP_KINDS[mb.type]
seed &= 0xFFFFFFFFFFFFFFFF
'''
    assert restatements(fine) == []


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_python_sources_do_not_restate_core_constants(path: Path) -> None:
    assert restatements(path.read_text()) == [], f"{path.relative_to(ROOT)} restates a constant of mettagrid._core"


def test_config_names_match_the_core_tables() -> None:
    assert list(_core.ACTION_KINDS) == list(ActionsConfig.model_fields)
    builders = typing.get_args(typing.get_args(MapBuilder)[0])
    assert set(_core.MAP_KINDS) == {b.model_fields["type"].default for b in builders}
    assert set(_core.MAZE_ALGORITHMS) == set(typing.get_args(MazeMapBuilder.model_fields["algorithm"].annotation))
    assert sorted(_core.FEATURE_IDS.values()) == list(range(len(_core.FEATURE_IDS)))
    assert max(_core.FEATURE_IDS.values()) < INVENTORY_FEATURE_BASE == _core.FIRST_INVENTORY_FEATURE
    assert INVENTORY_FEATURE_BASE + _core.MAX_ITEMS <= 256  # every inventory feature id fits in a byte


def test_game_md_documents_the_core_values() -> None:
    text = (ROOT / "docs" / "GAME.md").read_text()
    rows = re.findall(r"^\| (\d+|16 \+ i) \| ([\w:<> ]+?) \| .* \| (\d+) \|$", text, re.M)
    documented = {name: (int(fid), float(norm)) for fid, name, norm in rows if fid.isdigit()}
    spec = feature_spec(GameConfig())
    assert documented == {n: (f["id"], f["normalization"]) for n, f in spec.items() if not n.startswith("inv:")}
    assert ("16 + i", "inv:<item i>", "100") in rows and INVENTORY_FEATURE_BASE == 16
    assert spec["inv:ore_red"] == {"id": INVENTORY_FEATURE_BASE, "normalization": 100.0}
    assert "Global tokens have location `0xFE`; padding is `0xFF 0xFF 0xFF`" in text
    assert (GLOBAL_LOCATION, PADDING_LOCATION) == (0xFE, 0xFF)
    assert f"at most {_core.MAX_ITEMS})" in text
