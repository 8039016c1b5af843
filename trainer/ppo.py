"""PPO: the loss pieces, advantage computation over the buffer, and the minibatch update."""

from __future__ import annotations

import time
from typing import Any, Callable

import torch
import torch.distributed as dist
from torch import nn

from trainer.advantage import compute_advantage
from trainer.config import PPOConfig
from trainer.distributed import unwrap
from trainer.experience import Experience

__all__ = [
    "CustomLoss",
    "compute_advantages",
    "explained_variance",
    "normalize_advantages",
    "policy_loss",
    "train_ppo",
    "value_loss",
]

CustomLoss = Callable[[nn.Module, dict[str, Any], dict[str, torch.Tensor]], torch.Tensor]


def policy_loss(ratio: torch.Tensor, advantages: torch.Tensor, clip_coef: float) -> torch.Tensor:
    """The clipped surrogate: mean of max(-A * r, -A * clip(r, 1 - c, 1 + c))."""
    unclipped = -advantages * ratio
    clipped = -advantages * torch.clamp(ratio, 1.0 - clip_coef, 1.0 + clip_coef)
    return torch.max(unclipped, clipped).mean()


def value_loss(new_values: torch.Tensor, old_values: torch.Tensor, returns: torch.Tensor, vf_clip_coef: float,
               clip: bool = True) -> torch.Tensor:
    """0.5 * mean squared error to the returns; clipped: the max of the errors of V and of V clipped near old V."""
    unclipped = (new_values - returns) ** 2
    if not clip:
        return 0.5 * unclipped.mean()
    v_clipped = old_values + torch.clamp(new_values - old_values, -vf_clip_coef, vf_clip_coef)
    return 0.5 * torch.max(unclipped, (v_clipped - returns) ** 2).mean()


def normalize_advantages(advantages: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """(A - mean) / (std + eps) over the whole tensor."""
    return (advantages - advantages.mean()) / (advantages.std() + eps)


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


def train_ppo(
    agent: nn.Module,
    optimizer: torch.optim.Optimizer | Any,
    experience: Experience,
    ppo_config: PPOConfig | None = None,
    custom_losses: list[CustomLoss] | None = None,
    progress: float = 0.0,
    **overrides: Any,
) -> dict[str, float]:
    """PPO update over the buffer; kwargs override PPOConfig fields (e.g. update_epochs=4). Returns mean stats.

    Advantages: with `advantages_per_minibatch` (the default, as PufferLib 3) they are recomputed over the
    whole buffer before every minibatch, using the importance ratios and values the policy gave the segments
    it has already trained on (V-trace corrects for the policy having moved); otherwise they are computed
    once per update (plain GAE since the ratios are then 1). `progress` (0..1) anneals the prioritised
    sampling exponent beta from prio_beta0 to 1. Each custom loss `fn(policy, minibatch, outputs)` is added.
    """
    cfg = ppo_config or PPOConfig()
    if overrides:
        cfg = PPOConfig.model_validate({**cfg.model_dump(), **overrides})
    exp = experience
    alpha = exp.config.prio_alpha
    beta = exp.config.prio_beta0 + (1.0 - exp.config.prio_beta0) * min(max(progress, 0.0), 1.0)
    distributed = dist.is_available() and dist.is_initialized()
    started = time.perf_counter()

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

            out = agent(mb["obs"], mb["state"], mb["dones"])
            logp = torch.log_softmax(out.logits, dim=-1)
            new_logprobs = logp.gather(-1, mb["actions"].unsqueeze(-1)).squeeze(-1)
            entropy = -(logp.exp() * logp).sum(-1).mean()
            logratio = new_logprobs - mb["logprobs"]
            ratio = logratio.exp()

            adv = mb["advantages"]
            if cfg.norm_adv:
                adv = normalize_advantages(adv)
            if prio is not None:
                adv = prio * adv
            pg_loss = policy_loss(ratio, adv, cfg.clip_coef)
            v_loss = value_loss(out.values, mb["values"], mb["returns"], cfg.vf_clip_coef, cfg.clip_vloss)
            loss = pg_loss - cfg.ent_coef * entropy + cfg.vf_coef * v_loss
            outputs = {"logits": out.logits, "values": out.values, "logprobs": new_logprobs, "entropy": entropy,
                       "ratio": ratio}
            for fn in custom_losses or []:
                extra = fn(unwrap(agent), mb, outputs)
                loss = loss + extra
                key = f"custom/{getattr(fn, '__name__', 'loss')}"
                totals[key] = totals.get(key, 0.0) + float(extra.detach())

            optimizer.zero_grad()
            loss.backward()
            grad_norm = nn.utils.clip_grad_norm_(agent.parameters(), cfg.max_grad_norm)
            optimizer.step()

            with torch.no_grad():
                approx_kl = ((ratio - 1.0) - logratio).mean()
                clipfrac = ((ratio - 1.0).abs() > cfg.clip_coef).float().mean()
                if cfg.advantages_per_minibatch:
                    exp.ratio[idx] = ratio.detach()
                    exp.values[idx] = out.values.detach()
            for key, value in (("policy_loss", pg_loss), ("value_loss", v_loss), ("entropy", entropy),
                               ("approx_kl", approx_kl), ("clipfrac", clipfrac), ("grad_norm", grad_norm),
                               ("importance", ratio.mean())):
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
    stats.update({"minibatches": float(minibatches), "stopped_early": float(stopped_early),
                  "train_time": time.perf_counter() - started})
    return stats
