"""Pictures: an RGB image and ANSI text of the arena, and an animated GIF of an episode (needs Pillow)."""

import argparse
from pathlib import Path

import numpy as np

import mettagrid
from mettagrid.replay import save_episode_gif


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=200, help="episode length (frames in the GIF)")
    parser.add_argument("--out", default="arena.gif", help="where to write the GIF")
    args = parser.parse_args()

    env = mettagrid.parallel_env("arena", render_mode="rgb_array", seed=0)
    env.reset()
    image = env.render()
    print(f"rgb_array: {image.shape} {image.dtype}, {len(np.unique(image.reshape(-1, 3), axis=0))} colours")
    text = mettagrid.parallel_env("arena", render_mode="ansi", seed=0)
    text.reset()
    print(text.render().splitlines()[0])

    path = save_episode_gif(mettagrid.make_config("arena", max_steps=args.steps), args.out, seed=0)
    print(f"gif: {path} ({Path(path).stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()
