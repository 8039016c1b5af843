"""Policies: token decoding, global tokens, LSTM resets, shapes; the optimizers; a short training run of each policy."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from gymnasium import spaces

from tiny_run import tiny_config
from trainer import AgentModelConfig, load_policy, make_agent, make_optimizer
from trainer.optim import MuonWithAdam, muon_parameters
from trainer.policies import FastPolicy, LSTMPolicy, TransformerPolicy
from trainer.train import train

OBS = spaces.Box(0, 255, (6, 3), dtype=np.uint8)
ACT = spaces.Discrete(5)
SPEC = {"type_id": {"id": 0, "normalization": 255.0}, "hp": {"id": 1, "normalization": 10.0},
        "last_action": {"id": 2, "normalization": 5.0}, "last_reward": {"id": 3, "normalization": 100.0}}


def _obs() -> torch.Tensor:
    tokens = [[(2 << 4) | 3, 0, 8], [(2 << 4) | 3, 1, 5], [0xFE, 2, 3], [(10 << 4) | 10, 1, 10],
              [0xFF, 0xFF, 0xFF], [0xFF, 0xFF, 0xFF]]
    return torch.tensor([tokens], dtype=torch.uint8)


@pytest.mark.parametrize("policy", ["fast", "lstm", "transformer"])
def test_shapes_and_padding(policy: str) -> None:
    agent = make_agent(OBS, ACT, [], "cpu", AgentModelConfig(policy=policy, hidden_dim=16, embed_dim=16),
                       feature_spec=SPEC)
    obs = _obs().repeat(4, 1, 1)
    out = agent(obs)
    assert out.logits.shape == (4, 1, 5) and out.values.shape == (4, 1)
    seq = agent(obs.unsqueeze(1).repeat(1, 3, 1, 1))
    assert seq.logits.shape == (4, 3, 5)
    # padding tokens carry nothing: more padding columns give the same output
    padded = torch.cat([obs, torch.full((4, 5, 3), 0xFF, dtype=torch.uint8)], dim=1)
    assert torch.allclose(agent(padded).logits, out.logits, atol=1e-6)
    # an observation of padding only still gives finite outputs
    assert torch.isfinite(agent(torch.full((2, 6, 3), 0xFF, dtype=torch.uint8)).logits).all()
    with pytest.raises(ValueError, match="uint8 tokens"):
        agent(obs.float())
    with pytest.raises(ValueError, match="uint8 tokens"):
        agent(obs[..., :2])


def test_feature_planes_by_hand() -> None:
    agent = make_agent(OBS, ACT, [], "cpu", AgentModelConfig(policy="fast"), feature_spec=SPEC)
    grid, glob = agent.feature_planes(_obs())
    assert grid.shape == (1, 4, 11, 11) and glob.shape == (1, 4)
    assert grid[0, 0, 2, 3].item() == pytest.approx(8 / 255) and grid[0, 1, 2, 3].item() == pytest.approx(0.5)
    assert grid[0, 1, 10, 10].item() == pytest.approx(1.0)
    assert float(grid.abs().sum()) == pytest.approx(8 / 255 + 0.5 + 1.0)  # the global token is not on the grid
    assert glob[0].tolist() == pytest.approx([0, 0, 3 / 5, 0])
    only = make_agent(OBS, ACT, ["last_reward"], "cpu", AgentModelConfig(policy="fast"), feature_spec=SPEC)
    assert only.feature_planes(_obs())[1][0].tolist() == [0, 0, 0, 0]  # last_action is not a chosen global feature
    with pytest.raises(ValueError, match="global_features"):
        make_agent(OBS, ACT, ["nope"], "cpu", feature_spec=SPEC)


def test_lstm_resets_state_at_episode_starts() -> None:
    torch.manual_seed(0)
    agent = make_agent(OBS, ACT, [], "cpu", AgentModelConfig(policy="lstm", hidden_dim=8), feature_spec=SPEC)
    obs = torch.randint(0, 120, (2, 6, 6, 3), dtype=torch.uint8)
    obs[..., 1] %= 4
    dones = torch.zeros(2, 6)
    dones[0, 3] = 1.0
    state = tuple(torch.randn_like(s) for s in agent.initial_state(2, "cpu"))
    full = agent(obs, state, dones)
    tail = agent(obs[:1, 3:], agent.initial_state(1, "cpu"))
    assert torch.allclose(full.logits[0, 3:], tail.logits[0], atol=1e-6)
    # without the done the state carries over
    assert not torch.allclose(agent(obs, state).logits[0, 3:], tail.logits[0], atol=1e-4)
    assert torch.allclose(full.logits[1], agent(obs[1:], tuple(s[1:] for s in state)).logits[0], atol=1e-6)


@pytest.mark.parametrize("policy", ["fast", "lstm"])
def test_token_encoder_shapes_and_padding(policy: str) -> None:
    agent = make_agent(OBS, ACT, [], "cpu", AgentModelConfig(policy=policy, encoder="tokens", hidden_dim=16),
                       feature_spec=SPEC)
    obs = _obs().repeat(3, 1, 1)
    out = agent(obs)
    assert out.logits.shape == (3, 1, 5) and torch.isfinite(out.logits).all()
    padded = torch.cat([obs, torch.full((3, 4, 3), 0xFF, dtype=torch.uint8)], dim=1)
    assert torch.allclose(agent(padded).logits, out.logits, atol=1e-6)
    assert torch.isfinite(agent(torch.full((2, 6, 3), 0xFF, dtype=torch.uint8)).logits).all()


def _arena_tokens_agent(reset_seed: int, rng_seed: int, steps: int, global_features: list[str],
                        hidden_dim: int) -> tuple[torch.Tensor, FastPolicy]:
    """Observations of two arena games after `steps` random steps, and a seeded fast token-encoder policy for them."""
    import mettagrid

    env = mettagrid.MettaGridEnv("arena", num_envs=2, seed=0)
    env.reset(seed=reset_seed)
    rng = np.random.default_rng(rng_seed)
    for _ in range(steps):
        env.step(rng.integers(0, env.single_action_space.n, env.num_agents, dtype=np.int32))
    torch.manual_seed(0)
    agent = make_agent(env.single_observation_space, env.single_action_space, global_features, "cpu",
                       AgentModelConfig(policy="fast", encoder="tokens", hidden_dim=hidden_dim),
                       feature_spec=env.feature_spec())
    return torch.from_numpy(env.observations.copy()), agent


def test_token_first_layer_equals_the_dense_computation() -> None:
    """The EmbeddingBag over tokens is exactly a linear layer over the dense planes (plus one-hot type planes)."""
    obs, agent = _arena_tokens_agent(reset_seed=3, rng_seed=0, steps=20, global_features=["last_action"], hidden_dim=32)
    enc = agent.encoder
    dense = enc.dense(agent, obs)
    weight = enc.table.weight.double()
    expected = (dense.double() @ weight + enc.bias.double()).float()
    assert torch.allclose(enc.first_layer(agent, obs), expected, atol=1e-5)
    # The dense input is the policy's own feature planes, with type ids as one-hot planes instead of numbers.
    planes, glob = agent.feature_planes(obs)
    f, cells = agent.num_features, agent.height * agent.width
    numeric = dense[:, : f * cells].view(-1, f, agent.height, agent.width)
    type_id = enc.type_feature
    assert torch.allclose(numeric[:, :type_id], planes[:, :type_id]) and torch.allclose(
        numeric[:, type_id + 1:], planes[:, type_id + 1:])
    types = dense[:, enc.type_base: enc.global_base].view(-1, 32, agent.height, agent.width)
    ids = torch.arange(32).view(1, 32, 1, 1).float()
    assert torch.allclose((types * ids).sum(1) / 255.0, planes[:, type_id], atol=1e-6)
    assert types.sum() > 0 and torch.allclose(dense[:, enc.global_base:], glob)
    # Gradients flow to exactly the rows the tokens name.
    enc.first_layer(agent, obs).sum().backward()
    touched = enc.table.weight.grad.abs().sum(1) > 0
    assert torch.equal(touched, dense.abs().sum(0) > 0)


def test_token_table_gradient_equals_torchs_embedding_bag_gradient() -> None:
    """The native kernel's table gradient (used in training on CPU) is torch's embedding-bag gradient."""
    from trainer import policies

    obs, agent = _arena_tokens_agent(reset_seed=5, rng_seed=1, steps=10, global_features=[], hidden_dim=16)
    enc = agent.encoder
    index, weight = enc.inputs(agent, obs)
    upstream = torch.randn(obs.shape[0], 16, generator=torch.Generator().manual_seed(2))
    assert policies._native_table_grad(enc.table.weight, weight)  # the training path on CPU uses the kernel
    (enc.first_layer(agent, obs) * upstream).sum().backward()
    native = enc.table.weight.grad.clone()
    enc.table.weight.grad = None
    (enc.table(index, per_sample_weights=weight) * upstream).sum().backward()
    assert native.abs().sum() > 0 and torch.allclose(native, enc.table.weight.grad, atol=1e-5)
    assert torch.allclose(enc.bias.grad, upstream.sum(0), atol=1e-5)  # and the bias its own


def test_token_table_kernel_refuses_bad_input() -> None:
    from trainer import policies

    kernels = policies._kernels
    index = torch.tensor([[0, 3], [1, 4]])
    weight = torch.tensor([[1.0, 2.0], [0.5, 0.0]])
    grad_out = torch.tensor([[1.0, 1.0], [2.0, 2.0]])
    table = torch.zeros(4, 2)
    # index 4 has weight 0 (padding): skipped, not an error
    kernels.token_table_grad(index, weight, grad_out, table)
    assert table.tolist() == [[1.0, 1.0], [1.0, 1.0], [0.0, 0.0], [2.0, 2.0]]
    before = table.clone()
    with pytest.raises(IndexError, match=r"index\[1, 0\] = 9 is outside the table's 4 rows"):
        kernels.token_table_grad(torch.tensor([[0, 3], [9, 1]]), weight, grad_out, table)
    assert torch.equal(table, before)  # nothing written
    with pytest.raises(ValueError, match="weight has shape"):
        kernels.token_table_grad(index, weight[:1], grad_out, table)
    with pytest.raises(ValueError, match="grad_out has shape"):
        kernels.token_table_grad(index, weight, torch.zeros(2, 3), table)
    with pytest.raises(TypeError):  # int32 index: no silent conversion
        kernels.token_table_grad(index.int(), weight, grad_out, table)


def test_trim_keeps_the_token_columns_up_to_the_last_used_one() -> None:
    from trainer.policies import Policy

    obs = torch.full((3, 6, 3), 0xFF, dtype=torch.uint8)
    obs[0, :2] = 1
    obs[2, :4] = 2
    trimmed = Policy._trim(obs)
    assert trimmed.shape == (3, 4, 3) and torch.equal(trimmed, obs[:, :4])
    assert trimmed.data_ptr() == obs.data_ptr()  # a view, no copy
    assert Policy._trim(torch.full((2, 5, 3), 0xFF, dtype=torch.uint8)).shape == (2, 1, 3)


def test_lstm_segments_with_many_episode_starts_match_step_by_step() -> None:
    torch.manual_seed(1)
    agent = make_agent(OBS, ACT, [], "cpu", AgentModelConfig(policy="lstm", hidden_dim=8), feature_spec=SPEC)
    obs = torch.randint(0, 120, (5, 9, 6, 3), dtype=torch.uint8)
    obs[..., 1] %= 4
    dones = (torch.rand(5, 9) < 0.3).float()
    state = tuple(torch.randn_like(s) for s in agent.initial_state(5, "cpu"))
    full = agent(obs, state, dones)
    h, c = state
    for t in range(9):  # the reference: one step at a time, zeroing the state of rows that start an episode
        keep = (1.0 - dones[:, t]).view(5, 1, 1)
        step = agent(obs[:, t:t + 1], (h * keep, c * keep))
        assert torch.allclose(full.logits[:, t], step.logits[:, 0], atol=1e-6)
        h, c = step.state
    assert torch.allclose(full.state[0], h, atol=1e-6) and torch.allclose(full.state[1], c, atol=1e-6)


def test_make_agent_checks_spaces() -> None:
    with pytest.raises(TypeError, match="Discrete"):
        make_agent(OBS, spaces.MultiDiscrete([2, 3]), [], "cpu", feature_spec=SPEC)
    with pytest.raises(ValueError, match="tokens"):
        make_agent(spaces.Box(0, 1, (4, 11, 11), dtype=np.uint8), ACT, [], "cpu", feature_spec=SPEC)
    assert isinstance(make_agent(OBS, ACT, [], "cpu", feature_spec=SPEC, policy="transformer"), TransformerPolicy)
    assert make_agent(OBS, ACT, [], "cpu", feature_spec=SPEC, hidden_dim=24).config.hidden_dim == 24


def test_muon_optimizer() -> None:
    agent = make_agent(OBS, ACT, [], "cpu", AgentModelConfig(policy="lstm", hidden_dim=16), feature_spec=SPEC)
    muon, adam = muon_parameters(agent)
    assert all(p.ndim == 2 for p in muon) and len(muon) >= 3
    ids = {id(p) for p in muon}
    assert id(agent.actor.weight) not in ids and id(agent.critic.weight) not in ids
    assert len(muon) + len(adam) == len(list(agent.parameters()))
    opt = make_optimizer(agent, type="muon", learning_rate=0.01)
    assert isinstance(opt, MuonWithAdam) and isinstance(opt.muon, torch.optim.Muon)
    before = agent.lstm.weight_ih_l0.detach().clone()
    loss = agent(_obs()).logits.sum() + agent(_obs()).values.sum()
    opt.zero_grad()
    loss.backward()
    opt.step()
    assert not torch.equal(before, agent.lstm.weight_ih_l0)
    state = opt.state_dict()
    fresh = make_optimizer(agent, type="muon", learning_rate=0.01)
    fresh.load_state_dict(state)
    assert fresh.state_dict()["muon"]["state"].keys() == state["muon"]["state"].keys()
    with pytest.raises(ValueError, match="muon and adam"):
        fresh.load_state_dict({"state": {}})


@pytest.mark.parametrize("policy, optimizer", [("fast", "adam"), ("lstm", "muon"), ("transformer", "adam")])
def test_smoke_training_each_policy(tmp_path: Path, policy: str, optimizer: str) -> None:
    cfg = tiny_config(tmp_path, run=f"smoke_{policy}", policy=policy, epochs=2)
    cfg.optimizer.type = optimizer  # type: ignore[assignment]
    result = train(cfg)
    assert result["epoch"] == 2
    records = [json.loads(line) for line in (cfg.run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [1, 2]
    assert all(math.isfinite(r["policy_loss"]) and math.isfinite(r["value_loss"]) for r in records)
    loaded = load_policy(result["policy_uri"])
    assert type(loaded) is {"fast": FastPolicy, "lstm": LSTMPolicy, "transformer": TransformerPolicy}[policy]
