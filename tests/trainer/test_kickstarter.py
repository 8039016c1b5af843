"""The kickstarter (teacher distillation): the loss terms by hand, the annealing schedule, teachers run during the
rollout and dropped after anneal_steps, teacher loading errors, training via train() and the command line, and
(slow) the evidence that kickstarting from a trained navigation policy pays."""

from __future__ import annotations

import gc
import json
import math
import weakref
from pathlib import Path

import pytest
import torch

import trainer.losses as losses_module
import trainer.train as tt
from tiny_run import tiny_config
from trainer import AgentModelConfig, ConfigError, EnvConfig, ExperienceConfig, TrainerConfig, apply_overrides
from trainer import make_agent, make_environment, make_experience_manager, make_optimizer, rollout, train_ppo
from trainer.checkpoint import CheckpointError, save_checkpoint
from trainer.config import KickstarterConfig, loss_config
from trainer.losses import KickstarterLoss, kickstart_action_loss, make_losses, value_matching_loss
from trainer.ppo import compute_advantages

LN2, LN3 = math.log(2.0), math.log(3.0)


def _env(num_envs: int = 2, **game):
    return make_environment(EnvConfig(preset="navigation", num_envs=num_envs, game=game), seed=0)


def _agent(env, policy: str = "lstm", seed: int = 0):
    torch.manual_seed(seed)
    return make_agent(env.single_observation_space, env.single_action_space, [], "cpu",
                      AgentModelConfig(policy=policy, encoder="tokens", hidden_dim=16, embed_dim=16),
                      feature_spec=env.feature_spec(), obs_window=(env.config.obs_height, env.config.obs_width),
                      action_names=env.action_names())


@pytest.fixture(scope="module")
def teacher_dir(tmp_path_factory) -> Path:
    """A directory holding one (untrained, seeded) lstm teacher checkpoint for navigation."""
    directory = tmp_path_factory.mktemp("teacher") / "checkpoints"
    save_checkpoint(_agent(_env(), "lstm", seed=7), directory, 3, run="teacher")
    return directory


# ------------------------------------------------------------------ the terms by hand


def test_action_terms_by_hand() -> None:
    # step 0: teacher softmax([0, ln 3]) = [1/4, 3/4], student softmax([0, 0]) = [1/2, 1/2]
    # step 1: teacher [1/2, 1/2], student softmax([ln 3, 0]) = [3/4, 1/4]
    teacher = torch.tensor([[[0.0, LN3], [0.0, 0.0]]])  # (M=1, T=2, A=2)
    kl0 = 0.25 * math.log(0.25 / 0.5) + 0.75 * math.log(0.75 / 0.5)
    kl1 = 0.5 * math.log(0.5 / 0.75) + 0.5 * math.log(0.5 / 0.25)
    ce0 = LN2  # -(1/4 ln 1/2 + 3/4 ln 1/2)
    ce1 = -(0.5 * math.log(0.75) + 0.5 * math.log(0.25))
    for kind, expected in (("kl", (kl0 + kl1) / 2), ("ce", (ce0 + ce1) / 2)):
        student = torch.tensor([[[0.0, 0.0], [LN3, 0.0]]], requires_grad=True)
        loss = kickstart_action_loss(student, teacher, kind)
        assert float(loss.detach()) == pytest.approx(expected)
        loss.backward()
        # d/d student logits = (p_student - p_teacher) / steps, the same for kl and ce
        assert student.grad[0, 0].tolist() == pytest.approx([0.125, -0.125])
        assert student.grad[0, 1].tolist() == pytest.approx([0.125, -0.125])
    with pytest.raises(ValueError, match="action_loss = 'mse'"):
        kickstart_action_loss(teacher, teacher, "mse")


def test_value_term_by_hand() -> None:
    student = torch.tensor([1.0, 2.0], requires_grad=True)
    loss = value_matching_loss(student, torch.tensor([0.0, 4.0]))
    assert float(loss.detach()) == pytest.approx((1.0 + 4.0) / 2)
    loss.backward()
    assert student.grad.tolist() == pytest.approx([1.0, -2.0])  # 2 (v_s - v_t) / N


def test_loss_with_two_teachers_by_hand(teacher_dir) -> None:
    loss_fn = make_losses({"kickstarter": {"teachers": [{"uri": str(teacher_dir), "weight": 2.0},
                                                        {"uri": f"file://{teacher_dir}", "weight": 0.5}],
                                           "value_coef": 0.1, "action_loss": "kl", "weight": 3.0}})["kickstarter"]
    assert isinstance(loss_fn, KickstarterLoss) and KickstarterLoss.needs == {"teacher_logits", "teacher_values"}
    assert loss_fn.teacher_weights == [2.0, 0.5] and loss_fn.teacher_fields == ["teachers[0].uri", "teachers[1].uri"]
    logits = torch.tensor([[[0.0, 0.0], [LN3, 0.0]]], requires_grad=True)
    values = torch.tensor([[1.0, 2.0]], requires_grad=True)
    # teacher 0 as in test_action_terms_by_hand, values [0, 4]; teacher 1 equal to the student (terms 0)
    t_logits = torch.stack([torch.tensor([[[0.0, LN3], [0.0, 0.0]]]), logits.detach()], dim=2)  # (1, 2, K=2, 2)
    t_values = torch.stack([torch.tensor([[0.0, 4.0]]), values.detach()], dim=2)
    loss, stats = loss_fn.compute(torch.nn.Identity(), {"teacher_logits": t_logits, "teacher_values": t_values},
                                  {"logits": logits, "values": values})
    kl = (0.25 * math.log(0.5) + 0.75 * math.log(1.5) + 0.5 * math.log(2 / 3) + 0.5 * LN2) / 2
    assert float(stats["kickstarter/action_loss"]) == pytest.approx(2.0 * kl)
    assert float(stats["kickstarter/value_loss"]) == pytest.approx(2.0 * 2.5)
    assert float(loss.detach()) == pytest.approx(2.0 * kl + 0.1 * 2.0 * 2.5)  # unweighted: train_ppo multiplies by 3
    assert float(stats["kickstarter/agreement"]) == 0.5  # argmax: student [0, 0], teacher 0 [1, 0]
    loss.backward()
    assert logits.grad[0].tolist() == [pytest.approx([0.25, -0.25]), pytest.approx([0.25, -0.25])]
    assert values.grad[0].tolist() == pytest.approx([0.1 * 2.0 * 1.0, 0.1 * 2.0 * -2.0])


# ------------------------------------------------------------------ the schedule


def test_annealing_schedule_is_exact(teacher_dir) -> None:
    loss_fn = make_losses({"kickstarter": {"teacher_uri": str(teacher_dir), "weight": 0.5,
                                           "anneal_steps": 1000}})["kickstarter"]
    weights = []
    for step in (0, 250, 600, 999, 1000, 5000):
        loss_fn.agent_step = step
        loss_fn.step(0.0)  # progress is ignored: the schedule is in agent steps
        weights.append(loss_fn.weight)
    assert weights == [0.5, 0.375, 0.2, 0.5 * (1 - 999 / 1000), 0.0, 0.0]
    constant = make_losses({"kickstarter": {"teacher_uri": str(teacher_dir), "weight": 0.3,
                                            "anneal_steps": None}})["kickstarter"]
    constant.agent_step = 10**9
    constant.step(1.0)
    assert constant.weight == 0.3
    # make_losses sets the restored step (resume), so the first weight follows from it
    resumed = make_losses({"kickstarter": {"teacher_uri": str(teacher_dir), "anneal_steps": 400}},
                          agent_step=300)["kickstarter"]
    resumed.step(0.0)
    assert resumed.weight == 0.25


def test_teachers_run_in_the_rollout_then_are_dropped(teacher_dir) -> None:
    # 4 games x 1 agent, segments of 16 steps: 64 agent steps per rollout; anneal over 128 steps:
    # update 1 at step 0 (weight 1), update 2 at step 64 (weight 0.5), then rollout 3 (step 128) runs no teacher
    env = _env(4, max_steps=10)  # short episodes: dones inside the segments
    student = _agent(env, "fast", seed=1)
    losses = make_losses({"ppo": {}, "kickstarter": {"teacher_uri": f"file://{teacher_dir}", "anneal_steps": 128}})
    kick = losses["kickstarter"]
    exp = make_experience_manager(env, student, ExperienceConfig(bptt_horizon=16, minibatch_size=32),
                                  observers=losses.values(), seed=3)
    assert exp.observers == [kick] and exp.observed["teacher_logits"].shape == (4, 16, 1, env.single_action_space.n)
    assert exp.observed["teacher_values"].shape == (4, 16, 1)
    teacher = kick.teachers[0]
    assert teacher.is_recurrent and not any(p.requires_grad for p in teacher.parameters())
    calls = []
    teacher.register_forward_pre_hook(lambda module, args: calls.append(args[0].shape[0]))
    optimizer = make_optimizer(student)

    rollout(exp, student)
    assert calls == [4] * 16  # one teacher forward per step, on the 4 agents' observations
    # the stored outputs are the teacher's on the stored observations, its state reset at every episode start
    assert bool(exp.dones[:, 1:].any())
    with torch.no_grad():
        replay = teacher(exp.obs, teacher.initial_state(4, "cpu"), exp.dones)
    calls.clear()  # (that forward was the test's)
    assert torch.allclose(exp.observed["teacher_logits"][:, :, 0], replay.logits, atol=1e-5)
    assert torch.allclose(exp.observed["teacher_values"][:, :, 0], replay.values, atol=1e-5)
    mb = exp.minibatch(torch.tensor([2, 0]))
    assert torch.equal(mb["teacher_logits"], exp.observed["teacher_logits"][[2, 0]])

    compute_advantages(exp)
    stats = train_ppo(student, optimizer, exp, losses=losses, agent_step=0)
    assert stats["loss/kickstarter/weight"] == 1.0 and stats["loss/kickstarter"] > 0
    assert kick.teachers  # the next rollout (step 64) still has weight 0.5
    rollout(exp, student)
    assert calls == [4] * 16
    alive = weakref.ref(teacher)
    del teacher
    compute_advantages(exp)
    stats = train_ppo(student, optimizer, exp, losses=losses, agent_step=64)
    assert stats["loss/kickstarter/weight"] == 0.5
    gc.collect()
    assert kick.teachers == [] and kick.teacher_states == [] and kick.dropped and alive() is None
    stored = exp.observed["teacher_logits"].clone()
    rollout(exp, student)
    assert len(calls) == 16  # no teacher forward any more
    assert torch.equal(exp.observed["teacher_logits"], stored)
    compute_advantages(exp)
    stats = train_ppo(student, optimizer, exp, losses=losses, agent_step=128)
    assert stats["loss/kickstarter/weight"] == 0.0 and stats["loss/kickstarter"] == 0.0


def test_ppo_alone_has_no_rollout_hooks() -> None:
    env = _env(2)
    agent = _agent(env, "fast")
    exp = make_experience_manager(env, agent, ExperienceConfig(bptt_horizon=8), observers=make_losses(None).values())
    assert exp.observers == [] and exp.observed == {}
    assert "teacher_logits" not in exp.minibatch(torch.tensor([0]))


def test_train_ppo_names_the_missing_observers(teacher_dir) -> None:
    env = _env(2)
    agent = _agent(env, "fast")
    losses = make_losses({"ppo": {}, "kickstarter": {"teacher_uri": str(teacher_dir)}})
    exp = make_experience_manager(env, agent, ExperienceConfig(bptt_horizon=8))  # observers forgotten
    rollout(exp, agent)
    with pytest.raises(ValueError, match=r"observers=losses.values\(\) \(for \['teacher_logits', 'teacher_values'\]"):
        train_ppo(agent, make_optimizer(agent), exp, losses=losses)


@pytest.mark.parametrize("student_policy", ["fast", "transformer"])
def test_other_architectures_as_students(teacher_dir, student_policy) -> None:
    env = _env(2)
    student = _agent(env, student_policy)
    losses = make_losses({"ppo": {}, "kickstarter": {"teacher_uri": str(teacher_dir)}})
    exp = make_experience_manager(env, student, ExperienceConfig(bptt_horizon=8), observers=losses.values())
    rollout(exp, student)
    compute_advantages(exp)
    stats = train_ppo(student, make_optimizer(student), exp, losses=losses, agent_step=0)
    assert math.isfinite(stats["loss/kickstarter"]) and stats["loss/kickstarter"] > 0


# ------------------------------------------------------------------ configs and loading errors


def test_config_validation_names_the_field() -> None:
    with pytest.raises(ValueError, match=r"losses.kickstarter: .*no teacher: set teacher_uri .* or teachers"):
        loss_config("kickstarter", {"weight": 1.0})
    with pytest.raises(ValueError, match=r"losses.kickstarter: action_loss: .*'kl' or 'ce'.*got 'mse'"):
        loss_config("kickstarter", {"teacher_uri": "x", "action_loss": "mse"})
    with pytest.raises(ValueError, match=r"anneal_steps: .*greater than or equal to 1.*got 0"):
        loss_config("kickstarter", {"teacher_uri": "x", "anneal_steps": 0})
    with pytest.raises(ValueError, match=r"value_coef: .*got -1"):
        loss_config("kickstarter", {"teacher_uri": "x", "value_coef": -1})
    with pytest.raises(ValueError, match=r"teacher_uri: .*'ftp://host/p': unsupported scheme 'ftp'"):
        loss_config("kickstarter", {"teacher_uri": "ftp://host/p"})
    with pytest.raises(ValueError, match=r"teachers.0.uri: .*names no path"):
        loss_config("kickstarter", {"teachers": [{"uri": "file://"}]})
    with pytest.raises(ValueError, match=r"teachers.0.uri: .*empty policy URI"):
        loss_config("kickstarter", {"teachers": [{"uri": " "}]})
    with pytest.raises(ValueError, match=r"teachers: every weight is 0"):
        loss_config("kickstarter", {"teachers": [{"uri": "a", "weight": 0}]})
    with pytest.raises(ValueError, match=r"unknown key 'teachers.0.wieght'"):
        loss_config("kickstarter", {"teachers": [{"uri": "a", "wieght": 1}]})
    cfg = loss_config("kickstarter", {"teacher_uri": "a", "teachers": [{"uri": "b", "weight": 0.5}]})
    assert isinstance(cfg, KickstarterConfig) and [(t.uri, t.weight) for t in cfg.teacher_list()] == [("a", 1.0),
                                                                                                     ("b", 0.5)]


def test_command_line_override_adds_the_kickstarter_next_to_ppo() -> None:
    cfg = apply_overrides(TrainerConfig(), ["losses.kickstarter.teacher_uri=file://train_dir/demo/checkpoints",
                                            "losses.kickstarter.anneal_steps=1e5"])
    assert list(cfg.losses) == ["ppo", "kickstarter"]
    assert cfg.losses["kickstarter"].teacher_uri == "file://train_dir/demo/checkpoints"
    assert cfg.losses["kickstarter"].anneal_steps == 100_000
    cfg = apply_overrides(cfg, ["losses.kickstarter.teachers=[{uri: a, weight: 0.5}]"])
    assert cfg.losses["kickstarter"].teachers[0].weight == 0.5
    with pytest.raises(ConfigError, match=r"losses.kickstarter: .*no teacher"):
        apply_overrides(TrainerConfig(), ["losses.kickstarter.weight=2"])
    assert TrainerConfig.model_validate(json.loads(cfg.model_dump_json())) == cfg  # the written config.yaml reloads


def test_teacher_loading_errors(tmp_path, teacher_dir) -> None:
    with pytest.raises(CheckpointError, match=r"losses.kickstarter.teacher_uri: .*missing.safetensors: no such "
                                              r"checkpoint file"):
        make_losses({"kickstarter": {"teacher_uri": f"file://{tmp_path}/missing.safetensors"}})
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match=r"losses.kickstarter.teachers\[1\].uri: .*holds no"):
        make_losses({"kickstarter": {"teachers": [{"uri": str(teacher_dir)}, {"uri": str(tmp_path / "empty")}]}})
    (tmp_path / "junk:v1.safetensors").write_text("not a checkpoint")
    with pytest.raises(CheckpointError, match=r"losses.kickstarter.teacher_uri: .*not a readable safetensors"):
        make_losses({"kickstarter": {"teacher_uri": str(tmp_path / "junk:v1.safetensors")}})


def test_teacher_from_a_remote_uri() -> None:
    fsspec = pytest.importorskip("fsspec")  # the `remote` extra
    folder = f"memory://kickstarter-{id(object()):x}"
    env = _env(2)
    teacher = _agent(env, "lstm", seed=5)
    try:
        save_checkpoint(teacher, folder, 2, run="remote_teacher")
        losses = make_losses({"ppo": {}, "kickstarter": {"teacher_uri": folder}})
        make_experience_manager(env, _agent(env, "fast"), ExperienceConfig(bptt_horizon=8), observers=losses.values())
        loaded = losses["kickstarter"].teachers[0]
        assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), teacher.state_dict().values()))
    finally:
        fs = fsspec.filesystem("memory")
        if fs.exists(folder[len("memory://"):]):
            fs.rm(folder[len("memory://"):], recursive=True)


def test_teacher_of_other_observations_or_actions_is_refused(tmp_path) -> None:
    arena = make_environment(EnvConfig(preset="arena", num_envs=1), seed=0)
    save_checkpoint(_agent(arena, "fast"), tmp_path, 1, run="arena_teacher")
    losses = make_losses({"ppo": {}, "kickstarter": {"teacher_uri": str(tmp_path)}})
    env = _env(2)
    with pytest.raises(CheckpointError) as err:
        make_experience_manager(env, _agent(env, "fast"), ExperienceConfig(bptt_horizon=8), observers=losses.values())
    message = str(err.value)
    assert message.startswith("losses.kickstarter.teacher_uri: the teacher ")
    assert "does not fit the student (" in message and "actions [" in message
    assert "teacher's spec: tokens=" in message and "student's spec: tokens=" in message
    assert str(arena.action_names()) in message and str(env.action_names()) in message
    assert len(losses["kickstarter"].teachers) == 0  # nothing loaded


# ------------------------------------------------------------------ training with a kickstarter


@pytest.fixture(scope="module")
def trained_teacher(tmp_path_factory) -> Path:
    """A tiny lstm navigation policy trained for 2 epochs (its run directory)."""
    cfg = tiny_config(tmp_path_factory.mktemp("runs"), run="teacher", policy="lstm", epochs=2)
    tt.train(cfg)
    return cfg.run_dir


def _records(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_kickstart_via_train_fades_out_and_resumes(tmp_path, trained_teacher, monkeypatch) -> None:
    loads = []
    real_load = losses_module.load_policy
    monkeypatch.setattr(losses_module, "load_policy", lambda *a, **k: loads.append(a[0]) or real_load(*a, **k))
    # a transformer student of an lstm teacher, 128 agent steps an epoch, annealed over 512 steps
    cfg = tiny_config(tmp_path, run="student", policy="transformer", epochs=2)
    cfg.losses = {"ppo": {}, "kickstarter": {"teacher_uri": f"file://{trained_teacher}/checkpoints",
                                             "anneal_steps": 512, "action_loss": "ce"}}
    summary = tt.train(cfg)
    assert summary["agent_step"] == 256 and len(loads) == 1
    records = _records(cfg.run_dir)
    assert [r["loss/kickstarter/weight"] for r in records] == [1.0, 0.75]
    assert all(r["loss/kickstarter"] > 0 and 0 <= r["kickstarter/agreement"] <= 1 for r in records)
    # resume: the schedule follows from the restored agent_step (256 -> 0.5, 384 -> 0.25), then the teacher goes
    cfg.total_timesteps = 128 * 5
    tt.train(cfg)
    assert len(loads) == 2
    records = _records(cfg.run_dir)
    assert [r["loss/kickstarter/weight"] for r in records] == [1.0, 0.75, 0.5, 0.25, 0.0]
    assert records[-1]["loss/kickstarter"] == 0.0
    # resumed past anneal_steps: the teacher is not even loaded
    cfg.total_timesteps = 128 * 6
    tt.train(cfg)
    assert len(loads) == 2 and _records(cfg.run_dir)[-1]["loss/kickstarter/weight"] == 0.0


def _cli_args(train_dir: Path, run: str) -> list[str]:
    return ["navigation", f"run={run}", f"train_dir={train_dir}", "progress=false", "total_timesteps=384",
            "env.num_envs=4", "agent.hidden_dim=32", "experience.batch_size=128", "experience.minibatch_size=64",
            "experience.bptt_horizon=16", "agent.policy=fast"]


def test_kickstart_from_the_command_line(tmp_path, trained_teacher, capsys) -> None:
    args = _cli_args(tmp_path, "ks") + [f"losses.kickstarter.teacher_uri=file://{trained_teacher}/checkpoints",
                                        "losses.kickstarter.anneal_steps=256"]
    assert tt.main(args) == 0
    records = _records(tmp_path / "ks")
    assert [r["loss/kickstarter/weight"] for r in records] == [1.0, 0.5, 0.0]
    assert all("loss/ppo" in r for r in records)  # added next to ppo, not instead
    config = TrainerConfig.from_yaml(tmp_path / "ks" / "config.yaml")
    assert list(config.losses) == ["ppo", "kickstarter"] and config.losses["kickstarter"].anneal_steps == 256
    capsys.readouterr()
    bad = _cli_args(tmp_path, "ks_bad") + [f"losses.kickstarter.teacher_uri=file://{tmp_path}/nothing"]
    assert tt.main(bad) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: losses.kickstarter.teacher_uri: ") and "nothing" in err[0]
    assert tt.main(_cli_args(tmp_path, "ks_bad") + ["losses.kickstarter.teacher_uri=ftp://host/p"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: invalid override: ") and err.count("\n") == 1
    assert "losses.kickstarter: teacher_uri: " in err and "unsupported scheme 'ftp'" in err


# ------------------------------------------------------------------ evidence (slow): kickstarting pays

EVAL_SEED, EVAL_EPISODES = 2024, 128
# Both the scratch and the kickstarted runs: the navigation recipe with 4 update epochs of 2048-step minibatches
# (32 gradient steps per 16,384-step rollout); they differ only in the kickstarter.
STUDENT = ["ppo.update_epochs=4", "experience.minibatch_size=2048"]


def _evaluate(uri) -> float:
    from trainer.checkpoint import load_policy
    from trainer.evaluate import eval_policy

    return eval_policy(load_policy(uri), EnvConfig(preset="navigation"), num_episodes=EVAL_EPISODES, seed=EVAL_SEED,
                       num_envs=EVAL_EPISODES)["mean_return"]


def _steps_to(run_dir: Path, threshold: float) -> tuple[int | None, list[tuple[int, float]]]:
    """The agent step of the first checkpoint whose evaluation reaches `threshold` (None: none does), and the
    evaluations up to it."""
    from trainer.checkpoint import parse_checkpoint_name, read_checkpoint_metadata

    paths = sorted((run_dir / "checkpoints").glob("*.safetensors"), key=lambda p: parse_checkpoint_name(p.name)[1])
    curve = []
    for path in paths:
        reward = _evaluate(path)
        curve.append((read_checkpoint_metadata(path)["agent_step"], reward))
        if reward >= threshold:
            return curve[-1][0], curve
    return None, curve


def _run(train_dir: Path, run: str, seed: int, steps: int, extra: list[str]) -> Path:
    cfg = tt.build_config("navigation", [f"run={run}", f"train_dir={train_dir}", f"seed={seed}", "progress=false",
                                         f"total_timesteps={steps}", "checkpoint.checkpoint_interval=1", *extra])
    tt.train(cfg)
    return cfg.run_dir


@pytest.mark.slow
def test_kickstarting_pays_on_navigation(tmp_path) -> None:
    """A student kickstarted from a trained navigation policy reaches 90 % of the teacher's evaluation reward in at
    most a third of the agent steps that the same student config needs from scratch, on 3 seeds."""
    teacher = _run(tmp_path, "teacher", 100, 1_000_000, ["checkpoint.checkpoint_interval=100"])
    teacher_reward = _evaluate(teacher / "checkpoints")
    threshold = 0.9 * teacher_reward
    print(f"\nteacher: {teacher_reward:.3f} hearts (128 episodes, seed {EVAL_SEED}); threshold {threshold:.3f}")
    for seed in (1, 2, 3):
        kick_dir = _run(tmp_path, f"kick{seed}", seed, 16384 * 20,
                        STUDENT + [f"losses.kickstarter.teacher_uri=file://{teacher}/checkpoints"])
        kick_steps, kick_curve = _steps_to(kick_dir, threshold)
        scratch_dir = _run(tmp_path, f"scratch{seed}", seed, 16384 * 60, STUDENT)
        scratch_steps, scratch_curve = _steps_to(scratch_dir, threshold)
        print(f"seed {seed}: kickstarted {kick_steps} steps, scratch {scratch_steps} steps")
        print(f"  kickstarted curve {[(s, round(r, 2)) for s, r in kick_curve]}")
        print(f"  scratch curve {[(s, round(r, 2)) for s, r in scratch_curve]}")
        assert kick_steps is not None, f"seed {seed}: the kickstarted student never reached {threshold:.2f}"
        # scratch not reaching it within its budget counts as the budget (conservative)
        assert 3 * kick_steps <= (scratch_steps if scratch_steps is not None else 16384 * 60), seed
