"""A replay to step through in a browser: one arena episode of random agents written as a self-contained HTML page."""

import argparse
from pathlib import Path

import mettagrid
from mettagrid.replay import record_episode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--preset", default="arena", help="a mettagrid preset")
    parser.add_argument("--steps", type=int, default=300, help="episode length")
    parser.add_argument("--out", default="replay.html", help="where to write the page")
    args = parser.parse_args()

    replay = record_episode(mettagrid.make_config(args.preset, max_steps=args.steps), seed=0, title=args.preset)
    path = replay.save_html(args.out)
    data = replay.to_dict()
    print(f"{args.preset}: {data['num_steps']} steps, {len(data['agents'])} agents, {len(data['objects'])} objects")
    print(f"viewer: {path} ({Path(path).stat().st_size:,} bytes); open it in a browser")


if __name__ == "__main__":
    main()
