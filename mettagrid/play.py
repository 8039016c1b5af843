"""`python -m mettagrid.play [preset|config.yaml] [--agent N] [--seed S]`: play one agent of a game in the terminal.

Keys: arrows or w/a/s/d turn towards that side, or step forward when already facing it (or use move_north... when
the game has cardinal moves); e get items, r put items, x swap, 1-9 attack the cell of that number (attack_0..8),
c change colour, space or . wait (noop), q quit. The other agents act at random. Without a terminal (or with
`--keys`), the keys are read from `--keys` and the last frame and a summary are printed.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import numpy as np

from mettagrid.env import MettaGridEnv
from mettagrid.render import render_ansi

__all__ = ["KEY_HELP", "PlaySession", "main"]

KEY_HELP = "arrows/wasd move  e get  r put  x swap  1-9 attack  c colour  space wait  q quit"
_DIRECTIONS = {"w": 0, "s": 1, "a": 2, "d": 3}  # orientation: 0 up, 1 down, 2 left, 3 right
_SIDES = ("up", "down", "left", "right")
_CARDINAL = ("north", "south", "west", "east")
_SIMPLE = {"e": "get_items", "r": "put_items", "x": "swap", "c": "change_color_inc", " ": "noop", ".": "noop"}


class PlaySession:
    """One game in which a person controls `agent` key by key and the other agents act at random."""

    def __init__(self, config: Any = "arena", agent: int = 0, seed: int = 0) -> None:
        self.env = MettaGridEnv(config, num_envs=1, seed=seed)
        if not 0 <= agent < self.env.num_agents:
            raise ValueError(f"agent = {agent}, expected 0 <= agent < num_agents = {self.env.num_agents}")
        self.agent = agent
        self.names = self.env.action_names()
        self.rng = np.random.default_rng(seed)
        self.env.reset(seed)
        self.total = 0.0
        self.episodes = 0
        self.last = "-"

    def action_for(self, key: str) -> int | None:
        """The action index a key means for the controlled agent now (None: the key means nothing here)."""
        if key in _DIRECTIONS:
            side = _DIRECTIONS[key]
            if f"move_{_CARDINAL[side]}" in self.names:
                return self.names.index(f"move_{_CARDINAL[side]}")
            facing = int(self.env.grid_objects(0)["agent_orientation"][self.agent])
            name = "move_forward" if facing == side else f"rotate_{_SIDES[side]}"
            return self.names.index(name) if name in self.names else None
        if key.isdigit() and key != "0":
            name = f"attack_{int(key) - 1}"
        else:
            name = _SIMPLE.get(key, "")
        return self.names.index(name) if name in self.names else None

    def press(self, key: str) -> bool:
        """Plays one step for a key (False if the key means nothing here and no step was taken)."""
        action = self.action_for(key)
        if action is None:
            return False
        actions = self.rng.integers(0, len(self.names), self.env.num_agents, dtype=np.int32)
        actions[self.agent] = action
        _, rewards, terminals, truncations, infos = self.env.step(actions)
        self.total += float(rewards[self.agent])
        snap = self.env.grid_objects(0)
        ok = bool(snap["agent_last_action_success"][self.agent])
        self.last = self.names[action] + ("" if ok else " (failed)")
        if terminals[self.agent] or truncations[self.agent]:
            self.episodes += 1
            self.last += "; episode over, a new one starts"
        return True

    def status(self) -> str:
        """Step, the controlled agent's return, inventory, facing, frozen and last action, as text lines."""
        snap = self.env.grid_objects(0)
        a = self.agent
        items = self.env.item_names
        inv = ", ".join(f"{items[k]} {int(v)}" for k, v in enumerate(snap["agent_inventory"][a]) if v) or "empty"
        frozen = int(snap["agent_frozen"][a])
        return (f"step {self.env.current_step(0)}/{self.env.episode_max_steps(0)}  agent {a} at "
                f"({int(snap['agent_row'][a])}, {int(snap['agent_col'][a])}) facing "
                f"{_SIDES[int(snap['agent_orientation'][a])]}{'  FROZEN ' + str(frozen) if frozen else ''}\n"
                f"return {self.total:.3f}  inventory: {inv}\nlast: {self.last}")

    def frame(self) -> str:
        """The map as text (agents are ^ v < > by the side they face, * when frozen), then the status lines."""
        text = render_ansi(self.env.game_config(0), self.env.grid_objects(0))
        return text.split("\n", 1)[1] + "\n" + self.status()

    def position(self) -> tuple[int, int]:
        """The controlled agent's (row, column)."""
        snap = self.env.grid_objects(0)
        return int(snap["agent_row"][self.agent]), int(snap["agent_col"][self.agent])


def _curses_loop(session: PlaySession) -> None:
    import curses

    arrows = {curses.KEY_UP: "w", curses.KEY_DOWN: "s", curses.KEY_LEFT: "a", curses.KEY_RIGHT: "d"}

    def run(screen: Any) -> None:
        curses.curs_set(0)
        while True:
            screen.erase()
            lines = session.frame().splitlines() + ["", KEY_HELP]
            height, width = screen.getmaxyx()
            for y, line in enumerate(lines[: height - 1]):
                screen.addnstr(y, 0, line, width - 1)
            r, c = session.position()
            if r < height - 1 and c < width - 1:
                screen.chgat(r, c, 1, curses.A_REVERSE)  # the agent you control
            screen.refresh()
            code = screen.getch()
            key = arrows.get(code, chr(code) if 0 <= code < 256 else "")
            if key == "q":
                return
            session.press(key)

    curses.wrapper(run)


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m mettagrid.play`."""
    parser = argparse.ArgumentParser(prog="python -m mettagrid.play", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("game", nargs="?", default="arena", help="a preset name or a GameConfig YAML/JSON file")
    parser.add_argument("--agent", type=int, default=0, help="the agent you control (default 0)")
    parser.add_argument("--seed", type=int, default=0, help="map and random-agent seed")
    parser.add_argument("--keys", help="play these keys without a terminal UI, then print the last frame")
    args = parser.parse_args(argv)
    try:
        session = PlaySession(args.game, args.agent, args.seed)
    except (ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.keys is None and sys.stdin.isatty() and sys.stdout.isatty():
        _curses_loop(session)
        print(session.status())
        return 0
    keys = args.keys if args.keys is not None else sys.stdin.read()
    steps = sum(session.press(k) for k in keys if k != "q")
    print(session.frame())
    print(f"{steps} steps played, {session.episodes} episodes finished")
    return 0


if __name__ == "__main__":
    sys.exit(main())
