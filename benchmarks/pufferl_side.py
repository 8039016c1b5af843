"""PuffeRL (pufferlib-core's trainer) with its default policy on a recipe's game, measured as time_to_skill.py
measures ours: training wall time and agent steps until an evaluated threshold.

Runs in its own virtual environment (pufferlib-core needs the torch it was built for), with this package
installed there; time_to_skill.py --pufferl PYTHON starts it for the side-by-side:

    python3 -m venv .puffer
    .puffer/bin/pip install torch==2.9.0 pufferlib-core==3.0.23 psutil "heavyball<3" rich rich-argparse
    .puffer/bin/pip install --no-deps .
    python benchmarks/time_to_skill.py navigation --pufferl .puffer/bin/python

PuffeRL's own defaults ([train] section of PufferLib's default.ini): Muon, lr 0.015 with cosine annealing,
gamma 0.995, gae_lambda 0.90, one update epoch, clip 0.2, vf_coef 2.0, vf_clip 0.2, max_grad_norm 1.5, ent_coef
0.001, minibatch 16384, bptt 64, prio_alpha 0.8, prio_beta0 0.2; the batch is the smallest multiple of
agents x bptt that the minibatch divides. Policy: `pufferlib.models.Default(hidden_size=128)` in an
`LSTMWrapper(128, 128)`. Flush-denormal is set (its first layer over raw token bytes is otherwise ~4x slower).
Evaluation: the same fixed seeds and episode count as ours, actions sampled with a seeded generator.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
import pufferlib  # noqa: E402
import pufferlib.models  # noqa: E402
import pufferlib.pufferl  # noqa: E402
import pufferlib.vector  # noqa: E402
import torch  # noqa: E402

from mettagrid import MettaGridEnv, make_config  # noqa: E402

GAMES = {"navigation": ("navigation", {}, 64), "navigation_maze": ("navigation_maze", {}, 64),
         "arena": ("arena", {}, 8), "arena_combat": ("arena_combat", {}, 8)}


def _config(batch: int, total: int, seed: int) -> dict[str, Any]:
    return {"optimizer": "muon", "learning_rate": 0.015, "anneal_lr": True, "gamma": 0.995, "gae_lambda": 0.90,
            "update_epochs": 1, "clip_coef": 0.2, "vf_coef": 2.0, "vf_clip_coef": 0.2, "max_grad_norm": 1.5,
            "ent_coef": 0.001, "adam_beta1": 0.95, "adam_beta2": 0.999, "adam_eps": 1e-8, "batch_size": batch,
            "minibatch_size": 16384, "max_minibatch_size": 32768, "bptt_horizon": 64, "vtrace_rho_clip": 1.0,
            "vtrace_c_clip": 1.0, "prio_alpha": 0.8, "prio_beta0": 0.2, "device": "cpu", "cpu_offload": False,
            "compile": False, "compile_mode": "default", "compile_fullgraph": False, "precision": "float32",
            "use_rnn": True, "checkpoint_interval": 10**9, "data_dir": "/tmp/pufferl_side", "env": "mettagrid",
            "seed": seed, "torch_deterministic": False, "total_timesteps": total}


def evaluate(policy: Any, game: Any, episodes: int, seed: int) -> dict[str, float]:
    """Mean return and mean episode stats of `episodes` episodes on fixed seeds, sampled actions."""
    env = MettaGridEnv(game, num_envs=min(episodes, 16), seed=seed)
    obs, _ = env.reset(seed)
    gen = torch.Generator().manual_seed(seed)
    state: dict[str, Any] = {"lstm_h": None, "lstm_c": None}
    infos: list[dict[str, Any]] = []
    with torch.no_grad():
        while len(infos) < episodes:
            logits, _ = policy.forward_eval(torch.as_tensor(obs), state)
            probs = torch.softmax(logits.float(), dim=-1)
            actions = torch.multinomial(probs, 1, generator=gen)[:, 0].to(torch.int32).numpy()
            obs, _, terms, truncs, step_infos = env.step(actions)
            done = torch.as_tensor(terms | truncs).view(-1, 1).float()
            state["lstm_h"], state["lstm_c"] = state["lstm_h"] * (1 - done), state["lstm_c"] * (1 - done)
            infos.extend(step_infos)
    infos = infos[:episodes]
    out = {"episode_return": float(np.mean([i["episode_return"] for i in infos]))}
    for key in infos[0]:
        if key.startswith("agent/"):
            out[key] = float(np.mean([i[key] for i in infos]))
    return out


def main() -> None:
    """Trains PuffeRL on the recipe's game until the thresholds or the budget; prints JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipe")
    parser.add_argument("--metric", default="episode_return")
    parser.add_argument("--threshold", type=float, nargs="+", default=[8.0])
    parser.add_argument("--budget", type=float, default=300.0)
    parser.add_argument("--eval-every", type=float, default=5.0)
    parser.add_argument("--episodes", type=int, default=16)
    parser.add_argument("--eval-seed", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.set_flush_denormal(True)
    torch.manual_seed(args.seed)
    preset, options, games = GAMES[args.recipe]
    game = make_config(preset, **options)
    agents = games * game.num_agents
    unit = agents * 64
    batch = unit * max(1, -(-16384 // unit))
    while batch % 16384:
        batch += unit
    vecenv = pufferlib.vector.make(MettaGridEnv, backend=pufferlib.vector.Serial, num_envs=1,
                                   env_kwargs={"config": game, "num_envs": games, "num_threads": 1})
    policy = pufferlib.models.LSTMWrapper(vecenv.driver_env, pufferlib.models.Default(vecenv.driver_env, 128), 128, 128)
    trainer = pufferlib.pufferl.PuffeRL(_config(batch, 10**10, args.seed), vecenv, policy)
    trainer.print_dashboard = lambda *a, **k: None  # its live dashboard would fill the benchmark's output
    reached: dict[str, dict[str, float]] = {}
    curve = []
    trained, next_eval = 0.0, args.eval_every
    while trained < args.budget and len(reached) < len(args.threshold):
        t0 = time.perf_counter()
        trainer.evaluate()
        trainer.train()
        trained += time.perf_counter() - t0
        if trained >= next_eval or trained >= args.budget:
            next_eval = trained + args.eval_every
            value = evaluate(policy, game, args.episodes, args.eval_seed).get(args.metric, float("nan"))
            curve.append((round(trained, 2), int(trainer.global_step), round(value, 4)))
            print(f"  pufferl {trained:8.1f} s {trainer.global_step:>12,} steps  {args.metric} {value:.4f}",
                  file=sys.stderr, flush=True)
            for th in args.threshold:
                if str(th) not in reached and value >= th:
                    reached[str(th)] = {"seconds": round(trained, 2), "agent_steps": int(trainer.global_step)}
    result = {"overrides": ["PuffeRL defaults"], "metric": args.metric, "reached": reached,
              "train_seconds": round(trained, 2), "agent_steps": int(trainer.global_step),
              "sps": round(trainer.global_step / max(trained, 1e-9)), "curve": curve, "batch_size": batch,
              "torch": torch.__version__, "pufferlib": getattr(pufferlib, "__version__", "?")}
    vecenv.close()
    text = json.dumps(result)
    if args.json:
        args.json.write_text(text)
    print(text, flush=True)
    sys.stderr.flush()
    os._exit(0)  # PuffeRL leaves a non-daemon monitoring thread running, which would keep the process alive


if __name__ == "__main__":
    main()
