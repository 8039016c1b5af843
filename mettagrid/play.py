"""`python -m mettagrid.play [preset|config.yaml] [policy_uri=URI] [agent=N] [seed=S]`: play one agent of a game in
the terminal.

Keys: arrows or w/a/s/d turn towards that side, or step forward when already facing it (or use move_north... when
the game has cardinal moves); e get items, r put items, x swap, 1-9 attack the cell of that number (attack_0..8),
c change colour, space or . wait (noop), q quit. The other agents act at random, or, with policy_uri=, are
played by that trained policy (on the CPU, its recurrent state carried from step to step and reset when an
episode ends; actions sampled with the seed), loaded through trainer.checkpoint.load_policy (needs the `train`
extra; imported only then). `--agent N` and `--seed S` are the same as agent=N and seed=S. Without a terminal (or
with `--keys`), the keys are read from `--keys` and the last frame and a summary are printed.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import numpy as np

from mettagrid.env import MettaGridEnv
from mettagrid.render import render_ansi

__all__ = ["KEY_HELP", "PlaySession", "main", "policy_fits"]

KEY_HELP = "arrows/wasd move  e get  r put  x swap  1-9 attack  c colour  space wait  q quit"
_DIRECTIONS = {"w": 0, "s": 1, "a": 2, "d": 3}  # orientation: 0 up, 1 down, 2 left, 3 right
_SIDES = ("up", "down", "left", "right")
_CARDINAL = ("north", "south", "west", "east")
_SIMPLE = {"e": "get_items", "r": "put_items", "x": "swap", "c": "change_color_inc", " ": "noop", ".": "noop"}


def policy_fits(spec: Any, env: MettaGridEnv) -> list[str]:
    """The ways a policy's spec (trainer.policies.PolicySpec) does not fit a game's observations and actions, each
    naming both sides; [] when it fits."""
    problems = []
    obs_shape = tuple(env.single_observation_space.shape)
    if tuple(spec.obs_shape) != obs_shape:
        problems.append(f"the policy observes {tuple(spec.obs_shape)} tokens, the game gives {obs_shape}")
    window = (env.config.obs_height, env.config.obs_width)
    if tuple(spec.obs_window) != window:
        problems.append(f"the policy's observation window is {tuple(spec.obs_window)}, the game's {window}")
    names = env.action_names()
    if spec.num_actions != len(names) or (spec.action_names is not None and list(spec.action_names) != names):
        problems.append(f"the policy's actions are {spec.action_names or spec.num_actions}, the game's {names}")
    game_ids = {k: v["id"] for k, v in env.feature_spec().items()}
    differ = sorted(k for k, v in spec.feature_spec.items() if k in game_ids and v["id"] != game_ids[k])
    if differ:
        problems.append(f"features {differ} have the ids {[spec.feature_spec[k]['id'] for k in differ]} in the "
                        f"policy, {[game_ids[k] for k in differ]} in the game")
    return problems


def _require_trainer() -> None:
    """Raises an ImportError naming the `train` extra when torch, safetensors or rich cannot be imported."""
    from trainer.extras import require_train_extra

    try:
        require_train_extra()
    except ImportError as e:
        raise ImportError(f"playing against a policy (policy_uri=) needs the trainer: {e}", name=e.name) from e


class _PolicyPlayers:
    """The other agents' actions from a trained policy (trainer.evaluate.policy_actor on the CPU: recurrent state
    carried, sampling seeded), the whole game's observations in, the person's row's action unused."""

    def __init__(self, uri: str, env: MettaGridEnv, game: str, seed: int) -> None:
        _require_trainer()
        from trainer.checkpoint import load_policy
        from trainer.evaluate import policy_actor

        policy = load_policy(uri, device="cpu")
        problems = policy_fits(policy.spec, env)
        if problems:
            raise ValueError(f"policy_uri={uri} does not fit the game {game}: {'; '.join(problems)}")
        meta = policy.checkpoint_metadata
        self.name = f"{meta['run']} epoch {meta['epoch']}"
        self.actor = policy_actor(policy, env.num_agents, "cpu", deterministic=False, seed=seed)

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        return self.actor(obs)

    def episode_ended(self, dones: np.ndarray) -> None:
        self.actor.episode_ended(dones)  # type: ignore[attr-defined]


class PlaySession:
    """One game in which a person controls `agent` key by key and the other agents act at random, or are played by
    the policy at `policy_uri` (a checkpoint file or run folder URI; loaded with trainer.checkpoint.load_policy)."""

    def __init__(self, config: Any = "arena", agent: int = 0, seed: int = 0, policy_uri: str | None = None) -> None:
        self.env = MettaGridEnv(config, num_envs=1, seed=seed)
        if not 0 <= agent < self.env.num_agents:
            raise ValueError(f"agent = {agent}, expected 0 <= agent < num_agents = {self.env.num_agents}")
        self.agent = agent
        self.names = self.env.action_names()
        self.rng = np.random.default_rng(seed)
        game = str(config) if isinstance(config, str) else "(the GameConfig given)"
        self.players = _PolicyPlayers(policy_uri, self.env, game, seed) if policy_uri is not None else None
        self.obs, _ = self.env.reset(seed)
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
        if self.players is not None:
            actions = np.array(self.players(self.obs), dtype=np.int32)
        else:
            actions = self.rng.integers(0, len(self.names), self.env.num_agents, dtype=np.int32)
        actions[self.agent] = action
        self.obs, rewards, terminals, truncations, infos = self.env.step(actions)
        if self.players is not None:
            self.players.episode_ended(terminals | truncations)
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
        others = f"\nthe other agents: policy {self.players.name}" if self.players is not None else ""
        return (f"step {self.env.current_step(0)}/{self.env.episode_max_steps(0)}  agent {a} at "
                f"({int(snap['agent_row'][a])}, {int(snap['agent_col'][a])}) facing "
                f"{_SIDES[int(snap['agent_orientation'][a])]}{'  FROZEN ' + str(frozen) if frozen else ''}\n"
                f"return {self.total:.3f}  inventory: {inv}\nlast: {self.last}{others}")

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


_SETTINGS = {"policy_uri": str, "agent": int, "seed": int}


def _settings(items: list[str]) -> dict[str, Any]:
    """key=value command-line settings -> {key: value}; an unknown key or a bad value raises ValueError naming it."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or key not in _SETTINGS:
            raise ValueError(f"{item!r}: expected one of {', '.join(k + '=' for k in _SETTINGS)} (or a game first)")
        if key in out:
            raise ValueError(f"{key}= is given twice")
        if _SETTINGS[key] is int:
            try:
                out[key] = int(value)
            except ValueError:
                raise ValueError(f"{key}={value!r}: expected an integer") from None
        elif not value:
            raise ValueError(f"{key}= is empty; expected a policy URI (a checkpoint file or run folder)")
        else:
            out[key] = value
    return out


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m mettagrid.play`."""
    parser = argparse.ArgumentParser(prog="python -m mettagrid.play", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("game", nargs="?", default="arena", help="a preset name or a GameConfig YAML/JSON file")
    parser.add_argument("settings", nargs="*", metavar="key=value",
                        help="policy_uri=URI (a trained policy plays the other agents), agent=N, seed=S")
    parser.add_argument("--agent", type=int, default=0, help="the agent you control (default 0)")
    parser.add_argument("--seed", type=int, default=0, help="map, random-agent and policy-sampling seed")
    parser.add_argument("--keys", help="play these keys without a terminal UI, then print the last frame")
    args = parser.parse_intermixed_args(argv)
    errors: tuple[type[Exception], ...] = (ValueError, OSError, ImportError)
    try:
        settings = _settings(([args.game] if "=" in args.game else []) + args.settings)
        game = "arena" if "=" in args.game else args.game
        uri = settings.get("policy_uri")
        if uri is not None:
            _require_trainer()
            from trainer.checkpoint import CheckpointError

            errors += (CheckpointError,)
        session = PlaySession(game, settings.get("agent", args.agent), settings.get("seed", args.seed), uri)
    except errors as e:
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
