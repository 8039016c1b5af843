"""Games in groups that share every episode's seed: `group_size` native VecEnvs of `num_envs / group_size` games each,
reset with the same seed, behind the interface of one VecEnv (MettaGridEnv(..., group_size=G) builds it).

The core seeds game g of a VecEnv from (seed, g) and draws each later episode's seed from that game's own stream,
so game g of every member VecEnv plays the same sequence of episode seeds: the same maps, agent order and (with
desync_episodes) the same first-episode length, hence the same episode boundaries. Game i of the whole env is game
`i % K` of member `i // K` (K = num_envs / group_size): group g holds the games g, g + K, g + 2K, ... Each member
writes straight into its slice of the env's buffers (member j owns rows [j * K * agents, (j + 1) * K * agents)).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mettagrid import _core

__all__ = ["GroupedVecEnv", "game_groups"]


def game_groups(num_envs: int, group_size: int) -> np.ndarray:
    """The group of each game of a grouped env: game i is in group i % (num_envs // group_size)."""
    return np.arange(num_envs, dtype=np.int64) % (num_envs // group_size)


class GroupedVecEnv:
    """`group_size` VecEnvs of `num_envs // group_size` games, stepped one after the other as one VecEnv."""

    def __init__(self, spec: Any, num_envs: int, num_threads: int, group_size: int) -> None:
        if group_size < 1 or num_envs % group_size:
            raise ValueError(f"group_size = {group_size} must be >= 1 and divide num_envs = {num_envs}")
        self._per_member = num_envs // group_size
        threads = max(1, min(num_threads, self._per_member))
        self._members = [_core.VecEnv(spec, self._per_member, threads) for _ in range(group_size)]
        self._num_threads = int(num_threads)
        self._agents = 0  # agents per game, known once buffers are set

    def _game(self, env: int) -> tuple[Any, int]:
        if not isinstance(env, (int, np.integer)) or not 0 <= env < self.num_envs:
            raise IndexError(f"env index {env} is out of range [0, {self.num_envs})")
        return self._members[env // self._per_member], int(env) % self._per_member

    def set_buffers(self, observations: np.ndarray, rewards: np.ndarray, terminals: np.ndarray,
                    truncations: np.ndarray, final_observations: np.ndarray | None = None) -> None:
        """Gives member j its contiguous slice of each (flat) buffer."""
        rows = rewards.shape[0] // len(self._members)
        per_row = observations.shape[0] // rewards.shape[0]
        self._agents = rows // self._per_member
        for j, member in enumerate(self._members):
            r, o = slice(j * rows, (j + 1) * rows), slice(j * rows * per_row, (j + 1) * rows * per_row)
            member.set_buffers(observations[o], rewards[r], terminals[r], truncations[r],
                               None if final_observations is None else final_observations[o])

    def reset(self, seed: int) -> None:
        """Resets every member with the same seed (game g of each member gets the same seed stream)."""
        for member in self._members:
            member.reset(seed)

    def step(self, actions: np.ndarray) -> list[int]:
        """Steps every member with its slice of the actions; returns the (global) indices of games that ended."""
        rows = self._per_member * self._agents
        ended: list[int] = []
        for j, member in enumerate(self._members):
            ended.extend(j * self._per_member + g for g in member.step(actions[j * rows:(j + 1) * rows]))
        return ended

    def episode(self, env: int) -> dict:
        member, g = self._game(env)
        return member.episode(g)

    def set_next_spec(self, env: int, spec: Any) -> None:
        member, g = self._game(env)
        member.set_next_spec(g, spec)

    def game_stat_names_of(self, env: int) -> list[str]:
        member, g = self._game(env)
        return member.game_stat_names_of(g)

    def live_stats(self, env: int) -> dict:
        member, g = self._game(env)
        return member.live_stats(g)

    def snapshot(self, env: int) -> dict:
        member, g = self._game(env)
        return member.snapshot(g)

    def current_step(self, env: int) -> int:
        member, g = self._game(env)
        return member.current_step(g)

    def episode_max_steps(self, env: int) -> int:
        member, g = self._game(env)
        return member.episode_max_steps(g)

    def episode_seed(self, env: int) -> int:
        member, g = self._game(env)
        return member.episode_seed(g)

    @property
    def num_envs(self) -> int:
        return self._per_member * len(self._members)

    @property
    def num_threads(self) -> int:
        return self._num_threads

    @property
    def obs_size(self) -> int:
        return self._members[0].obs_size

    @property
    def agent_stat_names(self) -> list[str]:
        return self._members[0].agent_stat_names

    @property
    def game_stat_names(self) -> list[str]:
        return self._members[0].game_stat_names
