"""Playing against a trained policy: `mettagrid.play` with policy_uri= (the person controls one agent, the policy the
others, its recurrent state carried and reset at episode ends), checked step by step against driving the same game
with the policy directly, and its errors (a policy that does not fit the game, a missing `train` extra, bad
settings)."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest
import torch

import trainer.train as tt
from mettagrid import MettaGridEnv
from mettagrid.play import PlaySession, main
from tiny_run import tiny_config
from trainer import CheckpointError, EnvConfig, make_agent, make_environment, save_checkpoint
from trainer.checkpoint import load_policy
from trainer.env import make_game_config
from trainer.evaluate import policy_actor

ARENA = EnvConfig(preset="arena", game={"max_steps": 30}, num_envs=1)
KEYS = "dwwaexs.rdc" * 4  # 44 steps: the 30-step episode ends once
SEED = 5


def _same_state(a: object, b: object) -> bool:
    """Whether two recurrent states (tensors, or tuples of them) are equal."""
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        return torch.equal(a, b)
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return len(a) == len(b) and all(_same_state(x, y) for x, y in zip(a, b))
    return a is None and b is None


@pytest.fixture(scope="module")
def arena_policy(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A tiny LSTM policy trained for one epoch on 30-step arena games (24 agents); its run folder's URI."""
    cfg = tiny_config(tmp_path_factory.mktemp("play"), run="arena_tiny", epochs=1)
    cfg.env = ARENA.model_copy()
    cfg.total_timesteps = cfg.experience.batch_size = cfg.experience.minibatch_size = 24 * 16
    tt.train(cfg)
    return f"file://{cfg.run_dir}"


def test_the_policy_plays_the_others_as_when_driven_directly(arena_policy: str) -> None:
    game = make_game_config(ARENA)
    session = PlaySession(game, agent=3, seed=SEED, policy_uri=arena_policy)
    env = MettaGridEnv(game, num_envs=1, seed=SEED)
    obs, _ = env.reset(SEED)
    actor = policy_actor(load_policy(arena_policy), env.num_agents, "cpu", seed=SEED)
    no_reset = policy_actor(load_policy(arena_policy), env.num_agents, "cpu", seed=SEED)  # a broken driver
    diverged, human_return, episode_ends = False, 0.0, 0
    policy_moves: list[np.ndarray] = []
    random_moves: list[np.ndarray] = []
    for key in KEYS:
        action = session.action_for(key)
        assert action is not None
        actions = actor(obs)
        no_reset(obs)
        diverged |= not _same_state(no_reset.state, actor.state)  # type: ignore[attr-defined]
        actions[3] = action
        obs, rewards, terminals, truncations, _ = env.step(actions)
        actor.episode_ended(terminals | truncations)
        episode_ends += int(truncations[3] or terminals[3])
        human_return += float(rewards[3])
        assert session.press(key)
        ours, theirs = session.env.grid_objects(0), env.grid_objects(0)
        assert all(np.array_equal(ours[k], theirs[k]) for k in theirs), key
        assert np.array_equal(session.obs, obs)
        if not (terminals[3] or truncations[3]):  # (an episode's end shows the next episode's first state)
            assert int(ours["agent_last_action"][3]) == action  # the person's agent did what the key says
        assert _same_state(session.players.actor.state, actor.state)  # type: ignore[union-attr]
        policy_moves.append(ours["agent_last_action"].copy())
    assert episode_ends == session.episodes >= 1 and session.total == pytest.approx(human_return)
    assert diverged  # a driver that kept the recurrent state across an episode's end would hold another state
    assert "the other agents: policy arena_tiny epoch 1" in session.status()
    # the same game with random co-players goes otherwise
    rand = PlaySession(game, agent=3, seed=SEED)
    for key in KEYS:
        rand.press(key)
        random_moves.append(rand.env.grid_objects(0)["agent_last_action"].copy())
    assert len(random_moves) == len(policy_moves) and not all(map(np.array_equal, random_moves, policy_moves))


def test_the_persons_agent_obeys_the_keys(arena_policy: str) -> None:
    s = PlaySession(make_game_config(ARENA), agent=0, seed=1, policy_uri=arena_policy)
    facing = int(s.env.grid_objects(0)["agent_orientation"][0])
    key = "s" if facing != 1 else "w"  # a side it does not face: the first press turns it there
    assert s.press(key)
    assert s.last.startswith("rotate_down" if key == "s" else "rotate_up")
    assert int(s.env.grid_objects(0)["agent_orientation"][0]) == (1 if key == "s" else 0)
    assert s.press("x") and s.last.startswith("swap") and int(s.env.grid_objects(0)["agent_last_action"][0]) == \
        s.names.index("swap")
    assert not s.press("z") and s.env.current_step(0) == 2  # a key that means nothing plays no step


def test_a_policy_that_does_not_fit_the_game_is_refused(tmp_path: Path) -> None:
    nav = make_environment(EnvConfig(num_envs=1))
    agent = make_agent(nav.single_observation_space, nav.single_action_space, [], "cpu",
                       feature_spec=nav.feature_spec(), action_names=nav.action_names())
    uri = save_checkpoint(agent, tmp_path / "nav", 1, run="nav")
    with pytest.raises(ValueError, match=r"does not fit the game arena: the policy's actions are \['noop', .*"
                                         r"the game's \['noop', .*'swap'"):
        PlaySession("arena", policy_uri=str(uri))
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        PlaySession("arena", policy_uri=str(tmp_path / "missing"))


def test_a_missing_train_extra_is_one_clear_error(arena_policy: str, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now raises ImportError
    with pytest.raises(ImportError, match=r"pip install 'metta-gridworld\[train\]'"):
        PlaySession("arena", policy_uri=arena_policy)
    assert main(["arena", f"policy_uri={arena_policy}", "--keys", "d"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: playing against a policy (policy_uri=) needs the trainer: the trainer needs torch")
    assert "pip install 'metta-gridworld[train]'" in err and err.count("\n") == 1


def test_play_command_with_a_policy(arena_policy: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    game = tmp_path / "arena30.json"
    game.write_text(make_game_config(ARENA).model_dump_json())
    assert main([str(game), f"policy_uri={arena_policy}", "agent=3", f"seed={SEED}", "--keys", KEYS[:12] + "q"]) == 0
    out = capsys.readouterr().out
    same = PlaySession(str(game), agent=3, seed=SEED, policy_uri=arena_policy)
    for key in KEYS[:12]:
        same.press(key)
    assert out == same.frame() + "\n12 steps played, 0 episodes finished\n"  # the same game, the same policy moves
    assert "agent 3 at" in out and "the other agents: policy arena_tiny epoch 1" in out
    # `import mettagrid.play` (as `python -m mettagrid.play` does) loads neither torch nor the trainer
    proc = subprocess.run([sys.executable, "-c", "import sys, mettagrid.play; "
                           "print([m for m in ('torch', 'trainer', 'fsspec') if m in sys.modules])"],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0 and proc.stdout == "[]\n", proc.stderr
    for argv, message in (
            (["arena", "foo=1"], "error: 'foo=1': expected one of policy_uri=, agent=, seed="),
            (["arena", "agent=x"], "error: agent='x': expected an integer"),
            (["arena", "policy_uri="], "error: policy_uri= is empty"),
            (["arena", f"policy_uri={tmp_path}/nope"], "error: "),
            (["arena", f"policy_uri={arena_policy}", "agent=24"], "error: agent = 24, expected 0 <= agent < num_agents = 24")):
        assert main(argv + ["--keys", ""]) == 2
        err = capsys.readouterr().err
        assert err.startswith(message) and err.count("\n") == 1, (argv, err)


def test_play_against_a_policy_from_a_remote_uri(arena_policy: str) -> None:
    fsspec = pytest.importorskip("fsspec", reason="the remote extra (fsspec) is an optional dependency")
    local = load_policy(arena_policy).checkpoint_metadata["path"]
    bucket = f"/play-{uuid.uuid4().hex[:12]}"
    fs = fsspec.filesystem("memory")
    fs.pipe_file(f"{bucket}/arena_tiny/checkpoints/arena_tiny:v1.safetensors", Path(local).read_bytes())
    try:
        game = make_game_config(ARENA)
        remote = PlaySession(game, agent=3, seed=SEED, policy_uri=f"memory:/{bucket}/arena_tiny")  # the run folder
        here = PlaySession(game, agent=3, seed=SEED, policy_uri=arena_policy)
        for key in KEYS[:12]:
            remote.press(key)
            here.press(key)
        assert remote.frame() == here.frame()
    finally:
        fs.rm(bucket, recursive=True)
