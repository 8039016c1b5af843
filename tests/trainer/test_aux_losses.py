"""Auxiliary objectives: dynamics and contrastive losses by hand (values, gradients, masks), their heads trained by
the optimizer, saved and restored with a run, and a smoke training run with both switched on."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from torch import nn

import trainer.train as tt
from tiny_run import tiny_config
from trainer import AgentModelConfig, ConfigError, EnvConfig, ExperienceConfig, TrainerConfig, apply_overrides
from trainer import compute_advantages, eval_policy, eval_random, load_policy, make_agent, make_environment
from trainer import make_experience_manager, make_optimizer, rollout, train_ppo
from trainer.aux_losses import ContrastiveLoss, DynamicsLoss, info_nce, next_obs_target, obs_target_size, pair_mask
from trainer.checkpoint import CheckpointError, load_trainer_state, save_trainer_state
from trainer.losses import make_losses
from trainer.policies import TYPE_ONE_HOT

from mettagrid.env import GLOBAL_LOCATION, PADDING_LOCATION

PAD = [PADDING_LOCATION] * 3


@pytest.fixture(scope="module")
def env():
    return make_environment(EnvConfig(num_envs=4), seed=1)


def _agent(env, policy: str = "fast", hidden: int = 32) -> nn.Module:
    return make_agent(env.single_observation_space, env.single_action_space, [], "cpu",
                      AgentModelConfig(policy=policy, hidden_dim=hidden, cnn_channels=8, embed_dim=16),
                      feature_spec=env.feature_spec())


def _obs(tokens: list[list[int]], n: int = 200) -> torch.Tensor:
    """One (n, 3) uint8 observation from the given tokens, padded."""
    return torch.tensor(tokens + [PAD] * (n - len(tokens)), dtype=torch.uint8)


# ------------------------------------------------------------------ the pieces by hand


def test_pair_mask_by_hand() -> None:
    dones = torch.tensor([[1.0, 0, 0, 1, 0], [0, 0, 1, 0, 0]])
    # k=1: pair (t, t+1) counts unless obs_{t+1} starts an episode
    assert pair_mask(dones, 1).tolist() == [[True, True, False, True], [True, False, True, True]]
    # k=2: no start in t+1..t+2
    assert pair_mask(dones, 2).tolist() == [[True, False, False], [False, False, True]]
    assert pair_mask(dones, 4).tolist() == [[False], [False]]
    with pytest.raises(ValueError, match="offset k = 5 must be in"):
        pair_mask(dones, 5)


def test_info_nce_by_hand() -> None:
    # two rows, orthonormal: each anchor scores [1, 0] -> loss log(1 + e^-1) per row
    a = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]], requires_grad=True)
    c = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]], requires_grad=True)
    loss, acc, count = info_nce(a, c, torch.ones(1, 2, dtype=torch.bool))
    assert loss.item() == pytest.approx(math.log(1 + math.exp(-1)))
    assert float(acc) == 1.0 and int(count) == 2
    loss.backward()
    # d/d a_i = -(c_i - sum_j softmax_j c_j) / rows; softmax of row 0 is [s, 1 - s], s = e / (1 + e)
    s = math.e / (1 + math.e)
    assert a.grad[0].tolist() == [pytest.approx([-(1 - s) / 2, (1 - s) / 2]),
                                  pytest.approx([(1 - s) / 2, -(1 - s) / 2])]

    # a third, invalid row is neither an anchor nor a candidate; temperature 0.5 doubles the scores
    a = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [5.0, 5.0]]], requires_grad=True)
    c = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [9.0, 9.0]]], requires_grad=True)
    loss, acc, count = info_nce(a, c, torch.tensor([[True, True, False]]), temperature=0.5)
    assert loss.item() == pytest.approx(math.log(1 + math.exp(-2)))
    assert int(count) == 2
    loss.backward()
    assert a.grad[0, 2].tolist() == [0.0, 0.0] and c.grad[0, 2].tolist() == [0.0, 0.0]

    # three valid rows: scores [1, 0, -1], [0, 1, 0], [1, 1, -1] (the last anchor picks row 0: wrong)
    a = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]])
    c = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]]])
    loss, acc, _ = info_nce(a, c, torch.ones(1, 3, dtype=torch.bool))
    e = math.e
    expected = [math.log(e + 1 + 1 / e) - 1, math.log(e + 2) - 1, 1 + math.log(2 * e + 1 / e)]
    assert loss.item() == pytest.approx(sum(expected) / 3)
    assert float(acc) == pytest.approx(2 / 3)

    # a group (time step) with a single valid row has nothing to contrast: not counted
    loss2, _, count2 = info_nce(torch.cat([a, a]), torch.cat([c, c]), torch.tensor([[True] * 3, [True, False, False]]))
    assert int(count2) == 3 and loss2.item() == pytest.approx(loss.item())


def test_next_obs_target_by_hand(env) -> None:
    policy = _agent(env)
    f = policy.num_features
    spec = env.feature_spec()
    orientation, heart = spec["agent:orientation"], spec["inv:heart"]
    obs = _obs([
        [0x00, 0, 1],  # a wall (type 1) at row 0, col 0: block (0, 0) of 4 x 4 cells
        [0x01, 0, 1],  # another in the same block
        [0x55, 0, 8],  # type 8 at (5, 5): block (1, 1), 16 cells
        [0x59, 0, 40],  # type 40 >= TYPE_ONE_HOT at (5, 9): read as a number, block (1, 2) of 4 x 3 cells
        [0xAA, orientation["id"], 3],  # orientation 3 at (10, 10): block (2, 2), 9 cells
        [GLOBAL_LOCATION, heart["id"], 50],  # a global token: inventory
    ])
    target = next_obs_target(policy, obs[None], regions=3)[0]
    assert target.shape == (obs_target_size(policy, 3),) == ((TYPE_ONE_HOT + f) * 9 + f,)
    expected = torch.zeros_like(target)
    expected[1 * 9 + 0] = 2 / 16
    expected[8 * 9 + 4] = 1 / 16
    expected[(TYPE_ONE_HOT + 0) * 9 + 5] = (40 / 255) / 12
    expected[(TYPE_ONE_HOT + orientation["id"]) * 9 + 8] = (3 / orientation["normalization"]) / 9
    expected[(TYPE_ONE_HOT + f) * 9 + heart["id"]] = 50 / heart["normalization"]
    assert torch.allclose(target, expected)
    # an all-padding observation is all zeros; one region is the whole window
    assert not next_obs_target(policy, _obs([])[None], 3).any()
    whole = next_obs_target(policy, obs[None], regions=1)[0]
    assert float(whole[1]) == pytest.approx(2 / 121) and float(whole[8]) == pytest.approx(1 / 121)


def test_dynamics_loss_by_hand(env) -> None:
    policy = _agent(env, hidden=4)
    loss_fn = DynamicsLoss({"reward_coef": 1.0, "obs_coef": 0.5, "regions": 1}, name="dynamics")
    loss_fn.setup(policy)
    head = loss_fn.head
    assert head[0].in_features == 4 + env.single_action_space.n and head[-1].out_features == 1 + 84
    with torch.no_grad():  # a head that predicts a constant: reward 0.5, wall fraction 0.25
        for p in head.parameters():
            p.zero_()
        head[-1].bias[0] = 0.5
        head[-1].bias[1 + 1] = 0.25
    wall, empty = [0x00, 0, 1], []
    obs = torch.stack([_obs(empty), _obs([wall]), _obs([wall] * 3), _obs([wall, [0x11, 0, 1]])])[None]
    mb = {"obs": obs, "actions": torch.tensor([[1, 2, 3, 4]]),
          "rewards": torch.tensor([[0.0, 1.0, 100.0, 2.0]]),  # 100 comes with obs_2, which starts an episode
          "dones": torch.tensor([[0.0, 0.0, 1.0, 0.0]])}
    hidden = torch.zeros(1, 4, 4)
    loss, stats = loss_fn.compute(policy, mb, {"hidden": hidden})
    # counted pairs: (0 -> 1) and (2 -> 3); (1 -> 2) crosses an episode start, step 3 ends the segment
    assert float(stats["dynamics/reward_loss"]) == pytest.approx(((0.5 - 1) ** 2 + (0.5 - 2) ** 2) / 2)
    obs_loss = ((0.25 - 1 / 121) ** 2 + (0.25 - 2 / 121) ** 2) / 2
    assert float(stats["dynamics/obs_loss"]) == pytest.approx(obs_loss)
    assert loss.item() == pytest.approx(1.25 + 0.5 * obs_loss)
    assert float(stats["dynamics/pairs"]) == pytest.approx(2 / 3)
    loss.backward()
    assert float(head[-1].bias.grad[0]) == pytest.approx(2 * ((0.5 - 1) + (0.5 - 2)) / 2)
    assert float(head[-1].bias.grad[2]) == pytest.approx(0.5 * 2 * ((0.25 - 1 / 121) + (0.25 - 2 / 121)) / 2)


def test_dynamics_mask_reaches_the_core(env) -> None:
    # gradients reach the core state at t only where (t, t+1) counts: not at episode ends, not at segment ends
    torch.manual_seed(0)
    policy = _agent(env, hidden=8)
    loss_fn = DynamicsLoss(name="dynamics")
    obs = torch.stack([_obs([[0x00, 0, 1]])] * 8).view(2, 4, 200, 3)
    mb = {"obs": obs, "actions": torch.tensor([[1, 2, 3, 4], [0, 1, 2, 3]]), "rewards": torch.rand(2, 4),
          "dones": torch.tensor([[1.0, 0, 1, 0], [0, 0, 0, 0]])}
    hidden = torch.randn(2, 4, 8, requires_grad=True)
    loss, _ = loss_fn.compute(policy, mb, {"hidden": hidden})
    loss.backward()
    flows = hidden.grad.abs().sum(-1) > 0
    assert flows.tolist() == [[True, False, True, False], [True, True, True, False]]
    # the action of an uncounted pair changes nothing; a counted one does
    before = loss.item()
    for row, t, same in ((0, 1, True), (0, 3, True), (1, 1, False)):
        changed = {**mb, "actions": mb["actions"].clone()}
        changed["actions"][row, t] = 7
        value = loss_fn.compute(policy, changed, {"hidden": hidden})[0].item()
        assert (value == before) is same, (row, t)


def test_contrastive_loss_by_hand() -> None:
    class Tiny(nn.Module):  # what setup reads of a policy: the actor's input width and the device
        def __init__(self) -> None:
            super().__init__()
            self.actor = nn.Linear(2, 3)

    loss_fn = make_losses({"contrastive": {"horizon": 1, "temperature": 1.0, "projection_dim": 2}})["contrastive"]
    loss_fn.setup(Tiny())
    with torch.no_grad():
        for proj in (loss_fn.anchor, loss_fn.target):
            proj.weight.copy_(torch.eye(2))
            proj.bias.zero_()
    # row 0 points along x, row 1 along y (lengths differ: the projections are normalised)
    hidden = torch.tensor([[[1.0, 0.0], [2.0, 0.0], [3.0, 0.0]], [[0.0, 1.0], [0.0, 2.0], [0.0, 1.0]]],
                          requires_grad=True)
    dones = torch.tensor([[0.0, 0.0, 0.0], [0.0, 0.0, 1.0]])  # row 1's step 2 starts an episode
    loss, stats = loss_fn.compute(Tiny(), {"dones": dones}, {"hidden": hidden})
    # t = 0: two rows, orthonormal -> log(1 + e^-1) each; t = 1: only row 0's pair counts, nothing to contrast
    assert loss.item() == pytest.approx(math.log(1 + math.exp(-1)))
    assert float(stats["contrastive/accuracy"]) == 1.0 and stats["contrastive/offset"] == 1.0
    loss.backward()
    assert hidden.grad[:, 0].abs().sum() > 0 and hidden.grad[:, 2].abs().sum() == 0  # step 2 is no candidate of t=0

    with pytest.raises(ValueError, match=r"losses.contrastive.horizon = 3 must be less than the segment length "
                                         r"\(experience.bptt_horizon = 3\)"):
        make_losses({"contrastive": {"horizon": 3}})["contrastive"].compute(Tiny(), {"dones": dones},
                                                                          {"hidden": hidden})


def test_contrastive_geometric_offset() -> None:
    loss_fn = make_losses({"contrastive": {"horizon": 4, "offset": "geometric"}})["contrastive"]
    torch.manual_seed(0)
    ks = [loss_fn.offset(64) for _ in range(4000)]
    assert min(ks) == 1 and max(ks) <= 63
    assert sum(ks) / len(ks) == pytest.approx(4.0, rel=0.05)  # mean of the geometric distribution
    assert ks.count(1) / len(ks) == pytest.approx(0.25, abs=0.03)  # P(k = 1) = 1 / horizon
    assert {loss_fn.offset(3) for _ in range(200)} == {1, 2}  # capped at T - 1


def test_configs_and_errors(env) -> None:
    cfg = apply_overrides(TrainerConfig(), ["losses.dynamics.weight=0.1", "losses.contrastive.weight=0.05",
                                            "losses.contrastive.offset=geometric"])
    assert set(cfg.losses) == {"ppo", "dynamics", "contrastive"}
    assert cfg.losses["dynamics"].weight == 0.1 and cfg.losses["contrastive"].offset == "geometric"
    assert TrainerConfig.model_validate(cfg.model_dump()) == cfg
    with pytest.raises(ConfigError, match="offset"):
        apply_overrides(cfg, ["losses.contrastive.offset=sometimes"])
    with pytest.raises(ConfigError, match="regions"):
        apply_overrides(cfg, ["losses.dynamics.regions=0"])
    with pytest.raises(ConfigError, match="unknown key 'horizon'"):
        apply_overrides(cfg, ["losses.dynamics.horizon=2"])
    loss_fn = make_losses({"dynamics": {}})["dynamics"]
    with pytest.raises(ValueError, match=r"loss 'dynamics' needs outputs\['hidden'\]"):
        loss_fn.compute(_agent(env), {"dones": torch.zeros(1, 2)}, {"hidden": None})
    assert loss_fn.head is not None and loss_fn.head[0].in_features == 32 + env.single_action_space.n  # lazily
    with pytest.raises(ValueError, match="was set up for hidden"):
        loss_fn.setup(_agent(env, hidden=8))


@pytest.mark.parametrize("policy", ["fast", "lstm", "transformer"])
def test_policy_exposes_its_core_output(env, policy: str) -> None:
    agent = _agent(env, policy)
    obs = torch.from_numpy(env.observations)[:, None].repeat(1, 3, 1, 1)
    out = agent(obs, agent.initial_state(obs.shape[0], "cpu"), torch.zeros(obs.shape[0], 3))
    assert out.hidden.shape == (obs.shape[0], 3, 32)
    assert torch.allclose(agent.actor(out.hidden), out.logits)
    assert torch.allclose(agent.critic(out.hidden).squeeze(-1), out.values)


# ------------------------------------------------------------------ heads: optimizer, checkpoints, training


def _setup(env, configs: dict) -> tuple:
    torch.manual_seed(0)
    agent = _agent(env, "lstm")
    losses = make_losses(configs)
    optimizer = make_optimizer(agent, learning_rate=3e-3, losses=losses)
    experience = make_experience_manager(env, agent, ExperienceConfig(bptt_horizon=16, batch_size=128,
                                                                      minibatch_size=64))
    return agent, losses, optimizer, experience


BOTH = {"ppo": {}, "dynamics": {"weight": 0.5}, "contrastive": {"weight": 0.5}}


def test_optimizer_trains_the_heads(env) -> None:
    agent, losses, optimizer, exp = _setup(env, BOTH)
    heads = [p for name in ("dynamics", "contrastive") for p in losses[name].parameters()]
    assert len(optimizer.param_groups) == 2 and len(heads) == 8
    assert [id(p) for p in optimizer.param_groups[1]["params"]] == [id(p) for p in heads]
    assert [id(p) for p in optimizer.param_groups[0]["params"]] == [id(p) for p in agent.parameters()]
    assert len(make_optimizer(agent, losses=make_losses({"ppo": {}})).param_groups) == 1  # no heads: as before
    muon = make_optimizer(agent, type="muon", losses=losses)
    assert {id(p) for p in heads} <= {id(p) for p in muon.adam.param_groups[1]["params"]}

    before = [p.detach().clone() for p in heads]
    first = None
    for _ in range(4):
        rollout(exp, agent)
        compute_advantages(exp)
        stats = train_ppo(agent, optimizer, exp, losses=losses)
        first = first or stats
    assert all(not torch.equal(b, p) for b, p in zip(before, heads))
    for key in ("loss/dynamics", "dynamics/reward_loss", "dynamics/obs_loss", "loss/contrastive",
                "contrastive/accuracy"):
        assert math.isfinite(stats[key]), key
    assert stats["loss/dynamics/weight"] == 0.5 and stats["loss/contrastive/weight"] == 0.5
    assert stats["dynamics/obs_loss"] < first["dynamics/obs_loss"]  # the head learns the next observation

    # an optimizer built without the losses cannot train their heads: a clear error, not silently frozen heads
    with pytest.raises(ValueError, match=r"optimizer does not train the parameters of the losses \['dynamics'"):
        train_ppo(agent, make_optimizer(agent), exp, losses=losses)
    with pytest.raises(ValueError, match=r"\['contrastive'\]; build the losses once"):
        train_ppo(agent, optimizer, exp, losses={"ppo": {}, "contrastive": {}})  # configs: built anew each update


def test_trainer_state_restores_the_heads_exactly(env, tmp_path: Path) -> None:
    agent, losses, optimizer, exp = _setup(env, BOTH)
    rollout(exp, agent)
    compute_advantages(exp)
    train_ppo(agent, optimizer, exp, losses=losses)
    path = tmp_path / "trainer_state.pt"
    save_trainer_state(path, optimizer, 1, 128, "run:v1.safetensors", losses=losses)

    torch.manual_seed(123)  # fresh heads, initialised differently
    fresh = make_losses(BOTH)
    fresh_opt = make_optimizer(agent, learning_rate=3e-3, losses=fresh)
    assert not torch.equal(fresh["dynamics"].head[0].weight, losses["dynamics"].head[0].weight)
    state = load_trainer_state(path, losses=fresh)
    fresh_opt.load_state_dict(state["optimizer"])
    for name in ("dynamics", "contrastive"):
        saved, loaded = losses[name].state_dict(), fresh[name].state_dict()
        assert saved.keys() == loaded.keys() and all(torch.equal(saved[k], loaded[k]) for k in saved)
    assert torch.equal(fresh_opt.state_dict()["state"][len(list(agent.parameters()))]["exp_avg"],
                       optimizer.state_dict()["state"][len(list(agent.parameters()))]["exp_avg"])

    # other losses than the run was saved with: named
    with pytest.raises(CheckpointError, match=r"holds weights of the losses \['contrastive'\], which this config"):
        load_trainer_state(path, losses={"dynamics": fresh["dynamics"]})
    save_trainer_state(path, optimizer, 1, 128, "run:v1.safetensors")
    with pytest.raises(CheckpointError, match=r"holds no weights for the losses \['contrastive', 'dynamics'\]"):
        load_trainer_state(path, losses=fresh)
    other = make_losses({"dynamics": {"regions": 2}})
    other["dynamics"].setup(agent)
    save_trainer_state(path, optimizer, 1, 128, "run:v1.safetensors", losses=losses)
    with pytest.raises(CheckpointError, match="the saved weights of loss 'dynamics' do not fit it"):
        load_trainer_state(path, losses={"dynamics": other["dynamics"], "contrastive": fresh["contrastive"]})
    assert load_trainer_state(path)["epoch"] == 1  # without losses: read as before
    damaged = torch.load(path, weights_only=True)
    damaged["losses"]["contrastive"]["anchor.bias"][0] = float("nan")
    torch.save(damaged, path)
    with pytest.raises(CheckpointError, match=r"the saved weights \['anchor.bias'\] of loss 'contrastive' are not fin"):
        load_trainer_state(path, losses=fresh)


def test_train_with_both_and_resume(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = apply_overrides(tiny_config(tmp_path, epochs=2), ["losses.dynamics.weight=0.1",
                                                              "losses.contrastive.weight=0.1"])
    tt.train(first)
    records = [json.loads(line) for line in (first.run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [1, 2]
    for r in records:
        assert r["loss/dynamics/weight"] == 0.1 and r["loss/contrastive/weight"] == 0.1
        for key in ("loss/dynamics", "dynamics/reward_loss", "dynamics/obs_loss", "loss/contrastive",
                    "contrastive/accuracy", "loss/ppo"):
            assert math.isfinite(r[key]), key
    state_path = first.run_dir / "checkpoints" / "trainer_state.pt"
    saved = load_trainer_state(state_path)
    assert set(saved["losses"]) == {"dynamics", "contrastive"}
    # the policy checkpoint holds the policy alone and loads without the heads
    policy = load_policy(f"file://{first.run_dir}")
    assert not any(k.startswith(("head", "anchor", "target")) for k in policy.state_dict())

    seen: dict[str, object] = {}
    make_opt, wrap = tt.make_optimizer, tt.wrap_distributed

    def capture_optimizer(*args: object, **kw: object) -> object:
        seen["losses"] = kw["losses"]
        return make_opt(*args, **kw)  # type: ignore[arg-type]

    def capture_resume_point(agent: nn.Module, info: object) -> nn.Module:  # the heads as resumed, before training
        losses: dict = seen["losses"]  # type: ignore[assignment]
        seen["heads"] = {n: {k: v.clone() for k, v in loss.state_dict().items()}
                         for n, loss in losses.items() if isinstance(loss, nn.Module)}
        return wrap(agent, info)  # type: ignore[arg-type]

    monkeypatch.setattr(tt, "make_optimizer", capture_optimizer)
    monkeypatch.setattr(tt, "wrap_distributed", capture_resume_point)
    second = apply_overrides(tiny_config(tmp_path, epochs=3), ["losses.dynamics.weight=0.1",
                                                               "losses.contrastive.weight=0.1"])
    assert tt.train(second)["epoch"] == 3
    heads = seen["heads"]
    for name, weights in saved["losses"].items():
        assert heads[name].keys() == weights.keys()  # type: ignore[index]
        assert all(torch.equal(heads[name][k], v) for k, v in weights.items())  # type: ignore[index]
    # resuming without them is refused, naming the losses
    with pytest.raises(CheckpointError, match=r"losses \['contrastive', 'dynamics'\], which this config lacks"):
        tt.train(tiny_config(tmp_path, epochs=4))


def _ddp_worker(out: Path, overrides: list[str]) -> None:
    """Run under torchrun by test_heads_stay_identical_across_ranks: trains, then compares the heads of the ranks."""
    import torch.distributed as dist

    seen: dict[str, object] = {}
    make_opt = tt.make_optimizer

    def capture(*args: object, **kw: object) -> object:
        optimizer = make_opt(*args, **kw)  # type: ignore[arg-type]
        seen["losses"] = kw["losses"]
        seen["init"] = torch.cat([p.detach().flatten().clone() for p in optimizer.param_groups[1]["params"]])
        return optimizer

    tt.make_optimizer = capture  # type: ignore[assignment]
    tt.cleanup_distributed = lambda: None  # keep the group for the checks below
    tt.train(tt.build_config("navigation", overrides))
    heads = torch.cat([p.detach().flatten() for name in ("dynamics", "contrastive")
                       for p in seen["losses"][name].parameters()])  # type: ignore[index]
    gathered = [torch.zeros_like(heads) for _ in range(dist.get_world_size())]
    dist.all_gather(gathered, heads)
    if dist.get_rank() == 0:
        out.write_text(json.dumps({"identical": all(torch.equal(g, heads) for g in gathered),
                                   "changed": float((heads - seen["init"]).abs().max())}))  # type: ignore[operator]
    dist.barrier()
    dist.destroy_process_group()


@pytest.mark.slow
def test_heads_stay_identical_across_ranks(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    out = tmp_path / "check.json"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", __file__, str(out),
           "run=w", f"train_dir={tmp_path}", "total_timesteps=512", "env.num_envs=4", "agent.hidden_dim=32",
           "experience.bptt_horizon=16", "experience.batch_size=128", "experience.minibatch_size=64",
           "progress=false", "losses.dynamics.weight=0.5", "losses.contrastive.weight=0.5"]
    proc = subprocess.run(cmd, cwd=Path(__file__).resolve().parents[2], env={**os.environ, "OMP_NUM_THREADS": "1"},
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    check = json.loads(out.read_text())
    assert check["identical"] and check["changed"] > 0  # trained on each rank's own games, averaged


@pytest.mark.slow
@pytest.mark.parametrize("losses", [["losses.dynamics.weight=0.1"], ["losses.contrastive.weight=0.1"]])
def test_navigation_learns_with_an_auxiliary_loss(tmp_path: Path, losses: list[str]) -> None:
    from trainer.recipes import navigation

    cfg = apply_overrides(navigation(), [*losses, f"train_dir={tmp_path}", "progress=false", "device=cpu",
                                         "total_timesteps=500000"])
    result = tt.train(cfg)
    trained = eval_policy(load_policy(result["policy_uri"]), cfg.env, num_episodes=64, num_envs=16, seed=2024)
    random = eval_random(cfg.env, num_episodes=64, num_envs=16, seed=2024)
    print(f"\n{losses}: trained {trained['mean_return']:.2f}, random {random['mean_return']:.2f}")
    assert trained["mean_return"] >= 3.0 * random["mean_return"]


if __name__ == "__main__":
    import sys

    _ddp_worker(Path(sys.argv[1]), sys.argv[2:])
