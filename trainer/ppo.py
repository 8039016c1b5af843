"""PPO: the loss pieces, advantage computation over the buffer, and the minibatch update."""

from __future__ import annotations

import time
from typing import Any, Callable, Mapping

import torch
import torch.distributed as dist
from torch import nn

from trainer.advantage import compute_advantage
from trainer.config import LossConfig, PPOConfig
from trainer.distributed import unwrap
from trainer.experience import Experience
from trainer.losses import Loss, make_losses, needed_keys, normalize_advantages, policy_loss, value_loss
from trainer.optim import loss_parameters
from trainer.precision import autocast

__all__ = [
    "CustomLoss",
    "compute_advantages",
    "explained_variance",
    "make_losses",
    "normalize_advantages",
    "policy_loss",
    "train_ppo",
    "value_loss",
]

CustomLoss = Callable[[nn.Module, dict[str, Any], dict[str, torch.Tensor]], torch.Tensor]


def explained_variance(values: torch.Tensor, returns: torch.Tensor) -> float:
    """1 - Var(returns - values) / Var(returns) (nan when the returns are constant)."""
    var = returns.var()
    return float("nan") if float(var) == 0.0 else float(1.0 - (returns - values).var() / var)


def compute_advantages(experience: Experience, gamma: float | None = None, gae_lambda: float | None = None,
                       ppo_config: PPOConfig | None = None) -> torch.Tensor:
    """V-trace-clipped GAE over the whole buffer with its current values and importance ratios; stored and returned."""
    cfg = ppo_config or PPOConfig()
    exp = experience
    compute_advantage(exp.values, exp.rewards, exp.dones, exp.ratio,
                      cfg.gamma if gamma is None else gamma, cfg.gae_lambda if gae_lambda is None else gae_lambda,
                      cfg.vtrace_rho_clip, cfg.vtrace_c_clip, advantages=exp.advantages)
    exp.advantages_stale = False
    return exp.advantages


def _sample_prioritized(exp: Experience, alpha: float, beta: float) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Segment indices of one minibatch and their importance weights, sampled ∝ (sum |A|)^alpha (PufferLib 3)."""
    weights = exp.advantages.abs().sum(dim=1).pow(alpha)
    weights = torch.nan_to_num(weights, 0.0, 0.0, 0.0)
    probs = (weights + 1e-6) / (weights.sum() + 1e-6)
    idx = torch.multinomial(probs, exp.minibatch_segments)
    return idx, (exp.segments * probs[idx, None]) ** -beta


def _average_gradients(params: list[nn.Parameter]) -> None:
    """Averages the gradients of `params` over the ranks (one all-reduce; a missing gradient counts as zeros)."""
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= dist.get_world_size()
    offset = 0
    for p in params:
        n = p.numel()
        p.grad = flat[offset:offset + n].view_as(p).clone()
        offset += n


def train_ppo(
    agent: nn.Module,
    optimizer: torch.optim.Optimizer | Any,
    experience: Experience,
    ppo_config: PPOConfig | None = None,
    custom_losses: list[CustomLoss] | None = None,
    progress: float = 0.0,
    losses: Mapping[str, Loss | LossConfig | Mapping[str, Any]] | None = None,
    agent_step: int | None = None,
    precision: str = "float32",
    **overrides: Any,
) -> dict[str, float]:
    """PPO update over the buffer; kwargs override PPOConfig fields (e.g. update_epochs=4). Returns mean stats.

    Advantages: with `advantages_per_minibatch` (the default, as PufferLib 3) they are recomputed over the
    whole buffer before every minibatch, using the importance ratios and values the policy gave the segments
    it has already trained on (V-trace corrects for the policy having moved); otherwise they are computed
    once per update (plain GAE since the ratios are then 1). `progress` (0..1) anneals the prioritised
    sampling exponent beta from prio_beta0 to 1.

    `precision="bfloat16"` runs the policy's forward under bfloat16 autocast (trainer.precision); the losses and the
    optimizer stay float32.

    Losses: `losses` maps names to built Loss objects (make_losses; kept across updates, so their state, e.g. an
    annealed weight, carries) or to configs (built for this update); None is PPO alone. The update minimises
    sum(weight x loss); each loss's value (unweighted, mean over minibatches) and weight are reported as
    `loss/<name>` and `loss/<name>/weight`, with its own stats. Each custom loss `fn(policy, minibatch, outputs)`
    is added too (weight 1), reported as `custom/<fn name>`. `agent_step` (the agent steps trained before this
    update's rollout; train() passes it) is set on every loss before its `step`, for schedules in agent steps.
    """
    cfg = ppo_config or PPOConfig()
    if overrides:
        cfg = PPOConfig.model_validate({**cfg.model_dump(), **overrides})
    exp = experience
    alpha = exp.config.prio_alpha
    beta = exp.config.prio_beta0 + (1.0 - exp.config.prio_beta0) * min(max(progress, 0.0), 1.0)
    distributed = dist.is_available() and dist.is_initialized()
    started = time.perf_counter()

    if losses is None or not all(isinstance(v, Loss) for v in losses.values()):
        losses = make_losses(losses, cfg)
    missing = needed_keys(losses) - exp.minibatch_keys
    if missing:
        hooked = missing & set().union(*(loss.rollout_keys for loss in losses.values()))
        how = ", ".join([f"store={sorted(missing - hooked)}"] * bool(missing - hooked)
                        + [f"observers=losses.values() (for {sorted(hooked)})"] * bool(hooked))
        raise ValueError(f"the losses need {sorted(missing)} but the experience buffer does not store them; build it "
                         f"with make_experience_manager(..., {how}) before the rollout")
    for loss_fn in losses.values():
        loss_fn.ppo_config = cfg  # this update's settings (overrides included)
        if agent_step is not None:
            loss_fn.agent_step = int(agent_step)
        loss_fn.step(progress)
        loss_fn.prepare(exp)

    # losses with parameters (heads): set up, trained by this optimizer, clipped with the policy, averaged over ranks
    for loss_fn in losses.values():
        loss_fn.setup(unwrap(agent))
    head_params = loss_parameters(losses)
    if head_params:
        trained = {id(p) for group in optimizer.param_groups for p in group["params"]}
        untrained = [name for name, loss_fn in losses.items() if isinstance(loss_fn, nn.Module)
                     and any(id(p) not in trained for p in loss_fn.parameters())]
        if untrained:
            raise ValueError(f"the optimizer does not train the parameters of the losses {untrained}; build the "
                             "losses once (make_losses), then make_optimizer(policy, config, losses=losses), and "
                             "pass those same losses to every train_ppo")
    clipped = [*agent.parameters(), *head_params]

    if exp.advantages_stale:  # not yet computed for this rollout (the train loop calls compute_advantages first)
        compute_advantages(exp, ppo_config=cfg)
    stats: dict[str, float] = {"explained_variance": explained_variance(exp.values, exp.advantages + exp.values)}
    totals: dict[str, float] = {}
    minibatches = 0
    stopped_early = False
    num_minibatches = exp.segments // exp.minibatch_segments

    for _ in range(cfg.update_epochs):
        order = torch.randperm(exp.segments, device=exp.device).split(exp.minibatch_segments) if alpha == 0 else None
        for i in range(num_minibatches):
            if cfg.advantages_per_minibatch and minibatches > 0:
                compute_advantages(exp, ppo_config=cfg)
            if order is not None:
                idx, prio = order[i], None
            else:
                idx, prio = _sample_prioritized(exp, alpha, beta)
            mb = exp.minibatch(idx)
            mb["prio_weights"] = prio

            with autocast(exp.device, precision):  # bfloat16: the forward in bf16, what follows in float32
                out = agent(mb["obs"], mb["state"], mb["dones"])
            logits, values = out.logits.float(), out.values.float()
            logp = torch.log_softmax(logits, dim=-1)
            new_logprobs = logp.gather(-1, mb["actions"].unsqueeze(-1)).squeeze(-1)
            entropy = -(logp.exp() * logp).sum(-1).mean()
            logratio = new_logprobs - mb["logprobs"]
            ratio = logratio.exp()
            outputs = {"logits": logits, "values": values, "logprobs": new_logprobs, "entropy": entropy,
                       "ratio": ratio, "hidden": out.hidden}

            loss: torch.Tensor | None = None
            for name, loss_fn in losses.items():
                value, loss_stats = loss_fn.compute(unwrap(agent), mb, outputs)
                weighted = loss_fn.weight * value
                loss = weighted if loss is None else loss + weighted
                for key, stat in ((f"loss/{name}", value), *loss_stats.items()):
                    totals[key] = totals.get(key, 0.0) + float(stat.detach() if torch.is_tensor(stat) else stat)
            assert loss is not None  # make_losses and TrainerConfig refuse an empty mapping of losses
            for fn in custom_losses or []:
                extra = fn(unwrap(agent), mb, outputs)
                loss = loss + extra
                key = f"custom/{getattr(fn, '__name__', 'loss')}"
                totals[key] = totals.get(key, 0.0) + float(extra.detach())

            optimizer.zero_grad()
            loss.backward()
            if distributed and head_params:  # DDP averages the policy's gradients, not those of the loss heads
                _average_gradients(head_params)
            grad_norm = nn.utils.clip_grad_norm_(clipped, cfg.max_grad_norm)
            optimizer.step()

            with torch.no_grad():
                approx_kl = ((ratio - 1.0) - logratio).mean()
                clipfrac = ((ratio - 1.0).abs() > cfg.clip_coef).float().mean()
                if cfg.advantages_per_minibatch:
                    exp.ratio[idx] = ratio.detach()
                    exp.values[idx] = values.detach()
            for key, value in (("entropy", entropy), ("approx_kl", approx_kl), ("clipfrac", clipfrac),
                               ("grad_norm", grad_norm), ("importance", ratio.mean())):
                totals[key] = totals.get(key, 0.0) + float(value.detach())
            minibatches += 1

            if cfg.target_kl is not None:
                kl = approx_kl.detach().clone()
                if distributed:  # every rank must take the same decision, or the next all-reduce hangs
                    dist.all_reduce(kl)
                    kl /= dist.get_world_size()
                if float(kl) > cfg.target_kl:
                    stopped_early = True
                    break
        if stopped_early:
            break

    exp.advantages_stale = True
    stats.update({k: v / max(minibatches, 1) for k, v in totals.items()})
    stats.update({f"loss/{name}/weight": float(loss_fn.weight) for name, loss_fn in losses.items()})
    stats.update({"minibatches": float(minibatches), "stopped_early": float(stopped_early),
                  "train_time": time.perf_counter() - started})
    return stats
