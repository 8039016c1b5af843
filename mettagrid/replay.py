"""Episodes as animated GIFs: RGB frames from `mettagrid.render` written with Pillow (the `gif` extra).

    from mettagrid.replay import episode_frames, save_episode_gif, save_gif
    save_episode_gif("arena", "arena.gif", seed=0)          # one episode, random actions
    save_gif([env.render() for _ in ...], "frames.gif")     # any RGB frames, e.g. from render_mode="rgb_array"
    frames = episode_frames(env, policy)                    # an env's game 0 for one episode, as RGB frames

Pillow is imported only when a GIF is written; without it these functions raise an ImportError that names the
extra to install.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from mettagrid.config import GameConfig
from mettagrid.env import MettaGridEnv
from mettagrid.render import render_rgb

__all__ = ["episode_frames", "require_gif_support", "save_episode_gif", "save_gif"]


def _pil() -> Any:
    try:
        from PIL import Image
    except ImportError as e:  # the `gif` extra is optional
        raise ImportError("writing GIFs needs Pillow: pip install 'metta-gridworld[gif]' "
                          "(or pip install pillow)") from e
    return Image


def require_gif_support() -> None:
    """Raises an ImportError naming the `gif` extra when Pillow is missing (call it before long work)."""
    _pil()


def save_gif(frames: Sequence[np.ndarray], path: str | Path, fps: float = 10.0, loop: int = 0) -> Path:
    """Writes RGB frames (each (H, W, 3) uint8, all one size) to an animated GIF (atomically); returns the path."""
    frames = list(frames)
    if not frames:
        raise ValueError("save_gif: no frames")
    if fps <= 0:
        raise ValueError(f"save_gif: fps = {fps!r}, expected > 0")
    shape = np.shape(frames[0])
    for i, f in enumerate(frames):
        if not isinstance(f, np.ndarray) or f.dtype != np.uint8 or f.ndim != 3 or f.shape[2] != 3:
            raise ValueError(f"save_gif: frame {i} must be an (H, W, 3) uint8 array, got "
                             f"{type(f).__name__} {getattr(f, 'shape', '')} {getattr(f, 'dtype', '')}")
        if f.shape != shape:
            raise ValueError(f"save_gif: frame {i} has shape {f.shape}, frame 0 has {shape}")
    image = _pil()
    images = [image.fromarray(f) for f in frames]
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:],
                       duration=max(1, round(1000 / fps)), loop=loop, optimize=False)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def episode_frames(
    env: MettaGridEnv,
    policy: Callable[[np.ndarray], np.ndarray] | None = None,
    seed: int = 0,
    max_frames: int | None = None,
    cell: int = 8,
) -> list[np.ndarray]:
    """Resets `env` and renders its game 0 at every step of one episode; all its games act, by
    `policy(observations) -> actions` or uniformly at random."""
    if max_frames is not None and max_frames < 1:
        raise ValueError(f"max_frames = {max_frames}, expected >= 1 or None")
    obs, _ = env.reset(seed)
    rng = np.random.default_rng(seed)
    n_actions = int(env.single_action_space.n)
    length = env.episode_max_steps(0)
    limit = max_frames if max_frames is not None else (length + 1 if length > 0 else 1001)
    frames = [render_rgb(env.game_config(0), env.grid_objects(0), cell)]
    # The core starts the next episode inside the step that ends this one, so the last step is not drawn.
    while len(frames) < limit and (length == 0 or env.current_step(0) + 1 < length):
        actions = policy(obs) if policy is not None else rng.integers(0, n_actions, env.num_agents, dtype=np.int32)
        obs, *_ = env.step(actions)
        frames.append(render_rgb(env.game_config(0), env.grid_objects(0), cell))
    return frames


def save_episode_gif(
    config: "GameConfig | dict[str, Any] | str | Path",
    path: str | Path,
    policy: Callable[[np.ndarray], np.ndarray] | None = None,
    seed: int = 0,
    max_frames: int | None = None,
    cell: int = 8,
    fps: float = 10.0,
) -> Path:
    """Plays one episode of a game (random actions unless `policy(observations) -> actions`) into a GIF."""
    _pil()  # fail before playing when Pillow is missing
    env = MettaGridEnv(config, num_envs=1, seed=seed)
    return save_gif(episode_frames(env, policy, seed, max_frames, cell), path, fps=fps)
