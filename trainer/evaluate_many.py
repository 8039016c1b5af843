"""Many policies on a suite: `python -m trainer.evaluate <suite-or-recipe> policy_uris=<uri>[,<uri>...]
[stats_db=<path>] [num_episodes=N] [seed=S] [num_envs=N] [device=cpu] [torch_threads=1] [--all-versions]`.

Every policy plays every sim of the suite (trainer.suites: a suite name, a recipe name meaning its evaluation sims,
or `module:function`) for num_episodes episodes. Policies are checkpoint URIs (file://path, a plain path; a
directory means its latest checkpoint, or with --all-versions each of its checkpoints, oldest first), `random`
(uniformly random actions) or `scripted://<name>` (a scripted teacher of trainer.teachers). Seeded: each policy
plays each sim's games from `seed` and samples its actions with a generator seeded by it, so the same command gives
the same numbers, and every policy meets the same first maps. With stats_db, each policy's episodes go to that
DuckDB file (trainer.stats_db, checked for writing before anything is evaluated) with the policy URI, sim, seeds
and one row per agent; `python -m trainer.analyze <file>` turns them into a scorecard. The functions here are the
command's parts, for a notebook: `evaluate_policies(["random", "file://train_dir/a/checkpoints"], "navigation")`.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mettagrid import MettaGridEnv
from trainer.analyze import policy_labels
from trainer.checkpoint import CheckpointError, Location, list_checkpoints, load_policy, policy_uri, resolve_uri
from trainer.config import ConfigError
from trainer.evaluate import _Actor, _as_env, _check_compatible, _report
from trainer.stats_db import StatsDBError, check_writable, require_duckdb, write_episodes
from trainer.suites import SUITES, Sim, describe_suites, get_suite

__all__ = ["RANDOM", "SCRIPTED", "evaluate_policies", "expand_policy_uris", "main", "play_episodes"]

RANDOM = "random"
"""The policy URI of uniformly random actions (seeded)."""
SCRIPTED = "scripted://"
"""The prefix of scripted teachers' policy URIs: scripted://<name> (trainer.teachers.scripted_teacher)."""

Actor = Callable[[np.ndarray], np.ndarray]


class _RandomActor:
    """Uniformly random actions from a generator seeded by `seed` (the same stream as trainer.evaluate.eval_random)."""

    def __init__(self, env: MettaGridEnv, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.num_actions = int(env.single_action_space.n)
        self.num_agents = env.num_agents

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        return self.rng.integers(0, self.num_actions, self.num_agents, dtype=np.int32)

    def episode_ended(self, dones: np.ndarray) -> None:
        """Random actions carry no state between episodes."""


def _scripted_teacher(uri: str, env: MettaGridEnv, seed: int) -> Any:
    """The scripted teacher a scripted://<name> URI names, for `env`, its choices seeded by `seed` (trainer.teachers,
    imported on first use)."""
    name = uri[len(SCRIPTED):]
    try:
        teachers = importlib.import_module("trainer.teachers")
    except ModuleNotFoundError as e:
        if e.name != "trainer.teachers":
            raise
        raise ValueError(f"policy {uri!r}: scripted teachers need trainer.teachers, which this installation does not "
                         "have") from None
    try:
        return teachers.scripted_teacher(name, env, seed=seed)
    except (KeyError, ValueError) as e:
        raise ValueError(f"policy {uri!r}: {' '.join(str(e).split())}") from None


def _uri_of(where: Location) -> str:
    """The URI a policy is stored under: file://<absolute path> for a local checkpoint, a remote one's own URI."""
    return policy_uri(where.resolve() if isinstance(where, Path) else where)


def expand_policy_uris(uris: Sequence[str], all_versions: bool = False) -> list[str]:
    """The policies to evaluate: `random` and scripted://<name> as given, a checkpoint (a path, file:// or a remote URI)
    as its URI (file://<absolute path> for local ones), a folder as its latest checkpoint's (with all_versions: each
    of its checkpoints, oldest first); duplicates once, in the order given. A bad URI raises CheckpointError."""
    out: list[str] = []
    for uri in uris:
        uri = uri.strip()
        if uri == RANDOM:
            found = [uri]
        elif uri.startswith(SCRIPTED):
            if not uri[len(SCRIPTED):]:
                raise CheckpointError(f"policy URI {uri!r} names no scripted teacher: give scripted://<name>")
            found = [uri]
        else:
            versions = list_checkpoints(uri) if all_versions else []  # [] for a file: it is its only version
            found = [_uri_of(v) for v in versions] or [_uri_of(resolve_uri(uri))]
        out += [u for u in found if u not in out]
    if not out:
        raise ValueError("no policies to evaluate: give policy_uris=<uri>[,<uri>...]")
    return out


def play_episodes(actor: Actor, env: MettaGridEnv, num_episodes: int, seed: int) -> list[dict[str, Any]]:
    """Resets `env` with `seed` and plays `actor` (observations -> actions; `episode_ended(dones)` and `reset()`
    called where it has them) until `num_episodes` episodes ended; returns their infos, each with `agents`:
    {"episode_return": [...], "group": [...], "agent/<stat>": [...]}, one value per agent."""
    obs, _ = env.reset(seed)
    reset = getattr(actor, "reset", None)
    if reset is not None:
        reset()
    ended = getattr(actor, "episode_ended", None)
    names = env.agent_stat_names
    infos: list[dict[str, Any]] = []
    while len(infos) < num_episodes:
        obs, _, terminals, truncations, step_infos = env.step(actor(obs))
        if ended is not None:
            ended(terminals | truncations)
        for info in step_infos:  # the record of an ended game's episode stays until its next one ends
            record = env.episode_record(info["env"])
            info["agents"] = {"episode_return": record["returns"].tolist(), "group": record["groups"].tolist(),
                              **{f"agent/{n}": record["agent_stats"][:, i].tolist() for i, n in enumerate(names)}}
        infos.extend(step_infos)
    return infos[:num_episodes]


def _actor(uri: str, policy: torch.nn.Module | None, env: MettaGridEnv, seed: int, device: str,
           deterministic: bool) -> Actor:
    if uri == RANDOM:
        return _RandomActor(env, seed)
    if uri.startswith(SCRIPTED):
        return _scripted_teacher(uri, env, seed)
    assert policy is not None
    return _Actor(policy, env.num_agents, device, deterministic, seed)


def evaluate_policies(
    policy_uris: Sequence[str],
    suite: str | Mapping[str, Sim],
    num_episodes: int = 16,
    seed: int = 12345,
    stats_db: str | Path | None = None,
    device: str = "cpu",
    num_envs: int | None = None,
    deterministic: bool = False,
    all_versions: bool = False,
    progress: Callable[[str, str, dict[str, Any]], None] | None = None,
) -> dict[str, dict[str, dict[str, Any]]]:
    """Every policy on every sim of `suite` (a name for trainer.suites.get_suite, or {name: sim}); returns
    {policy URI: {sim: report}}, each report as trainer.evaluate.eval_policy's (its episode infos with per-agent
    `agents`). Everything is checked first (URIs, sims, each policy against each sim's observations and actions, the
    stats file), then evaluated; with `stats_db` each policy's episodes are appended as one evaluation when it is
    done. `progress(uri, sim, report)` is called after each pair."""
    if num_episodes < 1:
        raise ValueError(f"num_episodes = {num_episodes}, expected >= 1")
    if seed < 0:
        raise ValueError(f"seed = {seed}, expected >= 0")
    sims = get_suite(suite) if isinstance(suite, str) else dict(suite)
    if not sims:
        raise ValueError("the suite is empty; give {sim name: env config}")
    uris = expand_policy_uris(policy_uris, all_versions)
    if stats_db is not None:
        require_duckdb()
        check_writable(stats_db)  # a locked, corrupt or read-only file: now, not after the evaluation
    probes = {name: _as_env(sim, 1, 1, seed) for name, sim in sims.items()}  # bad sim configs fail here
    policies: dict[str, torch.nn.Module | None] = {}
    for uri in uris:
        policies[uri] = None if uri == RANDOM or uri.startswith(SCRIPTED) else load_policy(uri, device=device)
        for name, env in probes.items():
            try:
                if policies[uri] is not None:
                    _check_compatible(policies[uri], env)  # type: ignore[arg-type]
                elif uri.startswith(SCRIPTED):
                    _scripted_teacher(uri, env, seed)
            except ValueError as e:
                raise ValueError(f"policy {uri} on sim {name!r}: {e}") from None
    results: dict[str, dict[str, dict[str, Any]]] = {}
    for uri in uris:
        results[uri] = {}
        for name, sim in sims.items():
            env = _as_env(sim, num_episodes, num_envs, seed)
            actor = _actor(uri, policies[uri], env, seed, device, deterministic)
            results[uri][name] = _report(play_episodes(actor, env, num_episodes, seed), num_episodes)
            env.close()
            if progress is not None:
                progress(uri, name, results[uri][name])
        if stats_db is not None:
            meta = getattr(policies[uri], "checkpoint_metadata", None) or {}
            write_episodes(stats_db, {name: r["episode_infos"] for name, r in results[uri].items()}, policy_uri=uri,
                           run=meta.get("run"), epoch=meta.get("epoch"), agent_step=meta.get("agent_step"),
                           eval_seed=seed)
    return results


# ------------------------------------------------------------------ command line

_KEYS = {"policy_uris": "policy URIs, comma-separated (repeatable)", "stats_db": "DuckDB file to append episodes to",
         "num_episodes": "episodes per policy and sim (default 16)", "seed": "env and sampling seed (default 12345)",
         "num_envs": "games stepped together (default min(num_episodes, 16))", "device": "torch device (default cpu)",
         "torch_threads": "torch.set_num_threads (default 1, as in training: small batches, shared CPUs)"}


def _int(key: str, text: str, low: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"{key}={text!r}: expected an integer >= {low}") from None
    if value < low:
        raise ValueError(f"{key}={value}: expected an integer >= {low}")
    return value


def _parse(pairs: list[str]) -> dict[str, Any]:
    """key=value arguments -> options; ValueError naming an unknown key, a repeated one or a bad value."""
    given: dict[str, str] = {}
    uris: list[str] = []
    for item in pairs:
        key, sep, text = item.partition("=")
        if not sep:
            raise ValueError(f"argument {item!r} is not of the form key=value; keys: {', '.join(_KEYS)}")
        if key not in _KEYS:
            raise ValueError(f"unknown key {key!r}; keys: {', '.join(_KEYS)}")
        if key == "policy_uris":
            uris += [u.strip() for u in text.split(",") if u.strip()]
            continue
        if key in given:
            raise ValueError(f"{key} is given twice")
        given[key] = text
    if not uris:
        raise ValueError("give the policies: policy_uris=<uri>[,<uri>...] (checkpoint files or directories, "
                         "random, scripted://<name>)")
    return {"policy_uris": uris, "stats_db": given.get("stats_db") or None,
            "num_episodes": _int("num_episodes", given.get("num_episodes", "16"), 1),
            "seed": _int("seed", given.get("seed", "12345"), 0),
            "num_envs": _int("num_envs", given["num_envs"], 1) if "num_envs" in given else None,
            "device": given.get("device", "cpu"),
            "torch_threads": _int("torch_threads", given.get("torch_threads", "1"), 1)}


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m trainer.evaluate`: each policy's mean return on each sim; episodes into DuckDB."""
    parser = argparse.ArgumentParser(
        prog="python -m trainer.evaluate",
        description="Evaluate policies on every sim of a suite: python -m trainer.evaluate <suite-or-recipe> "
                    "policy_uris=<uri>[,<uri>...] [stats_db=<file>] [num_episodes=N] [seed=S] [--all-versions]",
        epilog="keys:\n" + "\n".join(f"  {k:<14} {v}" for k, v in _KEYS.items()) + "\n\nsuites:\n"
               + "\n".join(f"  {k:<14} {v}" for k, v in describe_suites().items())
               + "\n  <recipe>       a recipe's evaluation sims (python -m trainer.train --list)"
                 "\n  module:function your own suite",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("suite", nargs="?", help="a suite, a recipe (its evaluation sims) or module:function")
    parser.add_argument("options", nargs="*", help=f"key=value: {', '.join(_KEYS)}")
    parser.add_argument("--all-versions", action="store_true", help="evaluate every checkpoint of each directory "
                        "URI, not only its latest")
    parser.add_argument("--list", action="store_true", help="list the suites and exit")
    args = parser.parse_intermixed_args(argv)
    if args.list:
        for name, doc in describe_suites().items():
            print(f"{name:<12} {doc}")
        return 0
    try:
        if args.suite is None or "=" in args.suite:
            raise ValueError(f"give a suite first ({', '.join(SUITES)}, a recipe or module:function), then "
                             "policy_uris=...")
        opts = _parse(args.options)
        torch.set_num_threads(opts["torch_threads"])
        sims = get_suite(args.suite)
        uris = expand_policy_uris(opts["policy_uris"], args.all_versions)
        labels = policy_labels(uris)
        width = max(len(label) for label in labels.values())
        sim_width = max(len(name) for name in sims)
        print(f"suite    {args.suite}: {len(uris)} policies x {len(sims)} sims, {opts['num_episodes']} episodes "
              f"each, seed {opts['seed']}")
        for uri in uris:
            if labels[uri] != uri:
                print(f"policy   {labels[uri]:<{width}}  {uri}")

        def progress(uri: str, sim: str, report: dict[str, Any]) -> None:
            print(f"{labels[uri]:<{width}}  {sim:<{sim_width}}  mean return {report['mean_return']:.3f} +- "
                  f"{report['std_return']:.3f}, mean length {report['mean_length']:.1f}", flush=True)

        evaluate_policies(uris, sims, opts["num_episodes"], opts["seed"], opts["stats_db"], opts["device"],
                          opts["num_envs"], progress=progress)
    except (CheckpointError, ConfigError, ImportError, OSError, StatsDBError, ValueError) as e:
        print(f"error: {' '.join(str(e).split())}", file=sys.stderr)
        return 2
    if opts["stats_db"]:
        print(f"stats    {opts['stats_db']} (tables episodes, agent_episodes); scorecard: "
              f"python -m trainer.analyze {opts['stats_db']}")
    return 0
