"""Terminal play: keys map to the controlled agent's actions, each key plays one step, the command runs without a TTY."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mechanics_util import config
from mettagrid.config import ActionConfig, ActionsConfig
from mettagrid.play import PlaySession


def test_keys_turn_then_step_and_report() -> None:
    s = PlaySession(config(["#####", "#@.s#", "#####"], 1), agent=0, seed=0)
    names = s.names
    assert s.action_for("d") == names.index("rotate_right")  # facing up: first turn
    assert s.press("d") and "facing right" in s.status()
    assert s.action_for("d") == names.index("move_forward")
    s.press("d")
    assert "agent 0 at (1, 2)" in s.status() and s.last == "move_forward"
    s.press("d")  # the block stops it
    assert "agent 0 at (1, 2)" in s.status() and s.last == "move_forward (failed)"
    assert s.action_for("x") == names.index("swap") and s.action_for(" ") == names.index("noop")
    assert not s.press("z") and "step 3/" in s.status()  # an unknown key plays nothing
    assert s.frame().splitlines()[:3] == ["#####", "#.>s#", "#####"] and s.position() == (1, 2)


def test_attack_digits_and_cardinal_moves() -> None:
    s = PlaySession("arena_combat", agent=5, seed=1)
    assert [s.action_for(k) for k in "19"] == [s.names.index("attack_0"), s.names.index("attack_8")]
    assert s.action_for("0") is None
    cfg = config(["#####", "#.@.#", "#####"], 1, actions=ActionsConfig(move_cardinal=ActionConfig(enabled=True)))
    c = PlaySession(cfg)
    assert [c.names[c.action_for(k)] for k in "wsad"] == ["move_north", "move_south", "move_west", "move_east"]
    c.press("a")
    assert "at (1, 1)" in c.status()
    with pytest.raises(ValueError, match="agent = 2"):
        PlaySession(cfg, agent=2)


def test_play_command_without_a_terminal(tmp_path: Path) -> None:
    # run outside the source tree, so `-m` imports the installed package (the sanitizer job builds its own)
    proc = subprocess.run([sys.executable, "-m", "mettagrid.play", "navigation", "--keys", "ddwq?", "--seed", "1"],
                          capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "3 steps played, 0 episodes finished" in proc.stdout and "step 3/200" in proc.stdout
    bad = subprocess.run([sys.executable, "-m", "mettagrid.play", "no_such_game", "--keys", ""], capture_output=True,
                         text=True, timeout=60, cwd=tmp_path)
    assert bad.returncode == 2 and "no_such_game" in bad.stderr
