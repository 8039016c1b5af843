"""Random agents on a preset, shown in colour in the terminal with the steps per second.

    python -m mettagrid.demo [preset] [--envs N] [--threads T] [--fps F] [--steps-per-frame K]
                             [--seconds S] [--frames N] [--seed S]

On a terminal it redraws game 0's coloured map in place `--fps` times a second while all games step as fast as
they can between frames (or `--steps-per-frame` steps, to watch the agents move), with the speed and a key to the
map's characters, until Ctrl-C (or `--seconds` / `--frames`). Without a terminal (a pipe, a file) it steps for
`--seconds` (default 3) and prints one plain frame and the speed.
"""

from __future__ import annotations

import argparse
import math
import shutil
import signal
import sys
import textwrap
import threading
import time
from typing import Any, TextIO

import numpy as np

from mettagrid.config import ConverterConfig
from mettagrid.env import MettaGridEnv
from mettagrid.presets import PRESETS
from mettagrid.render import ansi_redraw, render_ansi

__all__ = ["main"]

_HIDE_CURSOR, _SHOW_CURSOR, _CLEAR = "\x1b[?25l", "\x1b[?25h", "\x1b[2J"


class _Stepper:
    """Steps every game with pre-drawn random actions and keeps the speed and the finished episodes."""

    def __init__(self, env: MettaGridEnv, seed: int) -> None:
        self.env = env
        self.actions = np.random.default_rng(seed).integers(0, env.single_action_space.n, size=(256, env.num_agents),
                                                            dtype=np.int32)
        self.k = self.steps = self.episodes = 0
        self.seconds = 0.0
        self.returns: list[float] = []

    def run(self, until: float = math.inf, steps: int | None = None) -> None:
        """Steps until the clock reads `until`, or `steps` times (at least once)."""
        start = now = time.perf_counter()
        n = 0
        while True:
            *_, infos = self.env.step(self.actions[self.k])
            self.k = (self.k + 1) % len(self.actions)
            n += 1
            self.episodes += len(infos)
            self.returns += [i["episode_return"] for i in infos]
            now = time.perf_counter()
            if (n >= steps) if steps is not None else now >= until:
                break
        self.steps += n
        self.seconds += now - start

    def speed(self, threads: int) -> str:
        if self.steps == 0:
            return "measuring the speed..."
        mean = f"{np.mean(self.returns):.3f}" if self.returns else "n/a"
        return (f"{self.steps * self.env.num_agents / self.seconds:,.0f} agent-steps/s "
                f"({self.steps / self.seconds:,.0f} env steps/s, {threads} thread(s)); "
                f"{self.episodes} episodes finished, mean return {mean}")


def _key(env: MettaGridEnv) -> str:
    """What the map's characters mean, for the object types on game 0's map."""
    snap = env.grid_objects(0)
    types = sorted({int(t) for t in snap["object_type"]})
    objects = list(env.game_config(0).objects.items())
    parts = [f"{objects[t][1].char or '?'} {objects[t][0]}" for t in types] + [". floor", "^v<> agents (facing)"]
    if any(isinstance(objects[t][1], ConverterConfig) for t in types):
        parts.append("underlined: output ready")
    if any(name.startswith("attack") for name in env.action_names()):
        parts.append("* frozen")
    return "  ".join(parts)


def _frame(env: MettaGridEnv, preset: str, stepper: _Stepper, threads: int, color: bool,
           size: tuple[int, int] | None) -> str:
    """Game 0's map and status lines; given a terminal's `size` = (columns, lines), the lines are wrapped to its
    width and the map cropped to what is left of its height."""
    snap = env.grid_objects(0)
    h, w = int(snap["height"]), int(snap["width"])
    agents = f"{env.agents_per_env} agent{'s' if env.agents_per_env != 1 else ''}"
    status = [f"{preset}: game 0 of {env.num_envs} ({agents} each)", stepper.speed(threads), _key(env)]
    crop = None
    if size is not None:
        columns, lines = size
        width = max(20, columns - 1)
        status = [part for line in status for part in textwrap.wrap(line, width)]
        rows = lines - len(status) - 2  # the step line above the map, a spare line at the bottom
        if rows < h or width < w:
            status += textwrap.wrap(f"(the {w} x {h} map is cropped to the terminal; enlarge it to see all)", width)
            crop = (max(1, lines - len(status) - 2), width)
    return render_ansi(env.game_config(0), snap, color=color, crop=crop) + "\n" + "\n".join(status)


def _animate(env: MettaGridEnv, args: argparse.Namespace, stepper: _Stepper, out: TextIO) -> None:
    """Redraws the coloured frame in place `args.fps` times a second, stepping between frames, until Ctrl-C,
    `args.seconds` or `args.frames`; always shows the cursor again."""
    end = time.perf_counter() + (args.seconds if args.seconds is not None else math.inf)
    frames = 0
    # Ctrl-C sets a flag that the loop checks between frames, so it never lands inside a step or a write
    stop: list[bool] = []
    handler = None
    if threading.current_thread() is threading.main_thread():
        handler = signal.signal(signal.SIGINT, lambda signum, frame: stop.append(True))
    out.write(_HIDE_CURSOR + _CLEAR)
    try:
        while not stop:
            size = tuple(shutil.get_terminal_size())
            out.write(ansi_redraw(_frame(env, args.preset, stepper, args.threads, True, size)))
            out.flush()
            frames += 1
            due = time.perf_counter() + 1 / args.fps
            if frames == args.frames or time.perf_counter() >= end:
                break
            if args.steps_per_frame:
                stepper.run(steps=args.steps_per_frame)
                time.sleep(max(0.0, min(due, end) - time.perf_counter()))
            else:
                stepper.run(until=min(due, end))
    except KeyboardInterrupt:  # a Ctrl-C from before the handler was set
        pass
    finally:
        if handler is not None:
            signal.signal(signal.SIGINT, handler)
        out.write("\x1b[0m" + _SHOW_CURSOR)
        out.flush()


def main(argv: list[str] | None = None) -> int:
    """Runs random agents, animated on a terminal, and reports agent-steps per second."""
    parser = argparse.ArgumentParser(prog="python -m mettagrid.demo", description=__doc__.splitlines()[0])
    parser.add_argument("preset", nargs="?", default="arena", choices=sorted(PRESETS))
    parser.add_argument("--envs", type=int, default=16, help="games stepped per call (default 16)")
    parser.add_argument("--threads", type=int, default=1, help="C++ threads (default 1)")
    parser.add_argument("--fps", type=float, default=5.0, help="frames per second on a terminal (default 5)")
    parser.add_argument("--steps-per-frame", type=int, default=0,
                        help="env steps between frames (default 0: as many as fit; 1 to watch the agents move)")
    parser.add_argument("--seconds", type=float, default=None,
                        help="how long to run (default: until Ctrl-C on a terminal, 3 otherwise)")
    parser.add_argument("--frames", type=int, default=None, help="stop after this many frames on a terminal")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    for name in ("envs", "threads", "frames"):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f"--{name} must be at least 1")
    if args.fps <= 0 or args.steps_per_frame < 0 or (args.seconds is not None and args.seconds < 0):
        parser.error("--fps must be > 0, --steps-per-frame and --seconds >= 0")

    env = MettaGridEnv(args.preset, num_envs=args.envs, num_threads=args.threads, seed=args.seed)
    env.reset(seed=args.seed)
    stepper = _Stepper(env, args.seed)
    out: Any = sys.stdout
    if out.isatty():
        _animate(env, args, stepper, out)
        print(f"\n{stepper.speed(args.threads)}")
        return 0
    stepper.run(until=time.perf_counter() + (args.seconds if args.seconds is not None else 3.0))
    print(_frame(env, args.preset, stepper, args.threads, False, None))
    return 0


if __name__ == "__main__":
    sys.exit(main())
