"""Policies over token observations: fast (CNN + MLP), lstm (CNN + LSTM) and transformer (attention over tokens)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from torch import nn

from mettagrid.env import GLOBAL_LOCATION, PADDING_LOCATION
from trainer.config import AgentModelConfig

__all__ = [
    "FastPolicy",
    "LSTMPolicy",
    "Policy",
    "PolicyOutput",
    "PolicySpec",
    "TransformerPolicy",
    "build_policy",
    "make_agent",
]

State = tuple[torch.Tensor, ...] | None


@dataclass
class PolicySpec:
    """Everything needed to rebuild a policy: architecture config, observation/action spec and feature spec."""

    config: AgentModelConfig
    obs_shape: tuple[int, int]
    obs_window: tuple[int, int]
    num_actions: int
    feature_spec: dict[str, dict[str, float | int]]
    action_names: list[str] | None = None
    global_features: list[str] | None = None


@dataclass
class PolicyOutput:
    """logits (B, T, A), values (B, T), the recurrent state after the last step (None if not recurrent) and the
    core's output `hidden` (B, T, hidden) that the actor and critic heads read (auxiliary losses read it too)."""

    logits: torch.Tensor
    values: torch.Tensor
    state: State
    hidden: torch.Tensor | None = None


def _init(layer: nn.Module, std: float = math.sqrt(2), bias: float = 0.0) -> nn.Module:
    nn.init.orthogonal_(layer.weight, std)  # type: ignore[arg-type]
    nn.init.constant_(layer.bias, bias)  # type: ignore[arg-type]
    return layer


class Policy(nn.Module):
    """Base policy: uint8 tokens (B, T, tokens, 3) -> action logits and values; subclasses define encode/core."""

    is_recurrent = False

    def __init__(self, spec: PolicySpec) -> None:
        super().__init__()
        self.spec = spec
        self.config = spec.config
        ids = [int(f["id"]) for f in spec.feature_spec.values()]
        self.num_features = max(ids) + 1
        inv_norm = torch.zeros(self.num_features)
        for f in spec.feature_spec.values():
            inv_norm[int(f["id"])] = 1.0 / float(f["normalization"])
        self.register_buffer("inv_norm", inv_norm, persistent=False)
        gmask = torch.ones(self.num_features)
        if spec.global_features:
            unknown = [n for n in spec.global_features if n not in spec.feature_spec]
            if unknown:
                raise ValueError(f"global_features {unknown} are not in the feature spec {sorted(spec.feature_spec)}")
            gmask.zero_()
            for n in spec.global_features:
                gmask[int(spec.feature_spec[n]["id"])] = 1.0
        self.register_buffer("global_mask", gmask, persistent=False)
        self.height, self.width = spec.obs_window
        hidden = self.config.hidden_dim
        self.actor = _init(nn.Linear(hidden, spec.num_actions), std=0.01)
        self.critic = _init(nn.Linear(hidden, 1), std=1.0)

    # -- token decoding shared by the encoders

    @staticmethod
    def _trim(obs: torch.Tensor) -> torch.Tensor:
        """Drops the token columns after the last one that is not padding in some row (they carry nothing; the env
        writes each agent's tokens first, padding after), as a view; keeps at least one."""
        used = torch.nonzero((obs[..., 0] != PADDING_LOCATION).any(0))
        return obs[:, : int(used[-1]) + 1] if len(used) else obs[:, :1]

    def _decode(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(location, feature id clamped to num_features, normalised value, is-padding) of (N, tokens, 3) uint8,
        trailing all-padding columns dropped."""
        tok = self._trim(obs).long()
        loc, feat = tok[..., 0], tok[..., 1]
        known = feat < self.num_features
        feat = torch.where(known, feat, torch.zeros_like(feat))
        value = tok[..., 2].float() * self.inv_norm[feat] * known
        return loc, feat, value, (loc == PADDING_LOCATION) | ~known

    def global_vector(self, loc: torch.Tensor, feat: torch.Tensor, value: torch.Tensor, pad: torch.Tensor) -> torch.Tensor:
        """The global tokens (at GLOBAL_LOCATION) as a (N, num_features) vector of normalised values."""
        is_global = (loc == GLOBAL_LOCATION) & ~pad
        idx = torch.where(is_global, feat, torch.full_like(feat, self.num_features))
        out = value.new_zeros(value.shape[0], self.num_features + 1).scatter_(1, idx, value * is_global)
        return out[:, : self.num_features] * self.global_mask

    def feature_planes(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(N, tokens, 3) uint8 -> normalised planes (N, num_features, height, width) and global features (N, num_features)."""
        loc, feat, value, pad = self._decode(obs)
        n, f, h, w = obs.shape[0], self.num_features, self.height, self.width
        row, col = loc >> 4, loc & 15
        on_grid = ~pad & (loc != GLOBAL_LOCATION) & (row < h) & (col < w)
        idx = torch.where(on_grid, feat * (h * w) + row * w + col, torch.full_like(loc, f * h * w))
        planes = value.new_zeros(n, f * h * w + 1).scatter_(1, idx, value * on_grid)
        return planes[:, : f * h * w].view(n, f, h, w), self.global_vector(loc, feat, value, pad)

    # -- the interface

    def initial_state(self, batch: int, device: torch.device | str) -> State:
        """A zero recurrent state for `batch` rows (None for feed-forward policies)."""
        return None

    def encode(self, obs: torch.Tensor) -> torch.Tensor:
        """(N, tokens, 3) uint8 -> (N, hidden) features."""
        raise NotImplementedError

    def core(self, x: torch.Tensor, state: State, dones: torch.Tensor | None) -> tuple[torch.Tensor, State]:
        """(B, T, hidden) features -> (B, T, hidden); recurrent policies reset state rows where dones is set."""
        return x, state

    def forward(self, obs: torch.Tensor, state: State = None, dones: torch.Tensor | None = None) -> PolicyOutput:
        """obs (B, T, tokens, 3) or (B, tokens, 3) uint8; dones (B, T) marks first steps of new episodes."""
        if obs.dim() == 3:
            obs = obs.unsqueeze(1)
        if obs.dtype != torch.uint8 or obs.dim() != 4 or obs.shape[3] != 3:
            raise ValueError(f"obs must be uint8 tokens of shape (B, T, tokens, 3) or (B, tokens, 3), got "
                             f"{obs.dtype} {tuple(obs.shape)}")
        b, t = obs.shape[:2]
        x = self.encode(obs.reshape(b * t, *obs.shape[2:])).view(b, t, -1)
        x, state = self.core(x, state, dones)
        return PolicyOutput(self.actor(x), self.critic(x).squeeze(-1), state, x)


class _CNNEncoder(nn.Module):
    """Tokens scattered into (features, height, width) planes, a small CNN, global features appended, an MLP."""

    def __init__(self, policy: Policy) -> None:
        super().__init__()
        cfg = policy.config
        c, h, w = cfg.cnn_channels, policy.height, policy.width
        self.cnn = nn.Sequential(
            _init(nn.Conv2d(policy.num_features, c, 5, stride=3)), nn.ReLU(),
            _init(nn.Conv2d(c, c, 3)), nn.ReLU(), nn.Flatten(),
        )
        with torch.no_grad():
            flat = self.cnn(torch.zeros(1, policy.num_features, h, w)).shape[1]
        layers: list[nn.Module] = [_init(nn.Linear(flat + policy.num_features, cfg.hidden_dim)), nn.ReLU()]
        for _ in range(cfg.mlp_layers - 1):
            layers += [_init(nn.Linear(cfg.hidden_dim, cfg.hidden_dim)), nn.ReLU()]
        self.mlp = nn.Sequential(*layers)

    def forward(self, policy: Policy, obs: torch.Tensor) -> torch.Tensor:
        """(N, tokens, 3) uint8 -> (N, hidden)."""
        grid, global_features = policy.feature_planes(obs)
        return self.mlp(torch.cat([self.cnn(grid), global_features], dim=1))


try:
    from trainer import _kernels
except ImportError:  # the native module was not built: the token table's gradient is torch's embedding-bag backward
    _kernels = None


class _TokenTableBag(torch.autograd.Function):
    """sum_k weight[n, k] * table[index[n, k]] with the table's gradient from the native kernel (torch's generic
    embedding-bag backward sorts every index first, which made it ~15 % of a navigation update on CPU)."""

    @staticmethod
    def forward(ctx: Any, index: torch.Tensor, weight: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(index, weight)
        ctx.table_shape = table.shape
        return nn.functional.embedding_bag(index, table, mode="sum", per_sample_weights=weight)

    @staticmethod
    def backward(ctx: Any, grad_out: torch.Tensor) -> tuple[None, None, torch.Tensor]:
        index, weight = ctx.saved_tensors
        grad_table = grad_out.new_zeros(ctx.table_shape, dtype=torch.float32)
        _kernels.token_table_grad(index.contiguous(), weight.contiguous(), grad_out.float().contiguous(), grad_table)
        return None, None, grad_table


def _native_table_grad(table: torch.Tensor, weight: torch.Tensor) -> bool:
    """Whether the native kernel computes this table's gradient: float32 on CPU, per-token weights without grad."""
    return (_kernels is not None and table.device.type == "cpu" and table.dtype == torch.float32
            and weight.dtype == torch.float32 and not weight.requires_grad)


TYPE_ONE_HOT = 32
"""Object type ids below this get a learned vector of their own per position (a one-hot plane each); the
`type_id` value of larger ones is read as a number, like every other feature."""


class _TokenEncoder(nn.Module):
    """Token-native: the first layer computed straight from the tokens, without building dense planes.

    Each on-grid token (feature f, window cell p, value v) adds v * E[f, p] to a hidden vector, an `EmbeddingBag`
    over feature x cell: exactly a linear layer over the dense feature planes, at the cost of the ~30-40 tokens
    an agent sees instead of all features x cells. Object types are categorical, so a `type_id` token below
    TYPE_ONE_HOT adds the vector of its type at its cell (a one-hot plane per type) rather than its id as a
    number; global tokens (at GLOBAL_LOCATION) add v * G[f]. Then bias, ReLU and the MLP.
    """

    def __init__(self, policy: Policy) -> None:
        super().__init__()
        cfg = policy.config
        f, h, w = policy.num_features, policy.height, policy.width
        self.cells = h * w
        self.type_feature = int(policy.spec.feature_spec.get("type_id", {"id": 0})["id"])
        self.type_base = f * self.cells  # rows of the one-hot type planes
        self.global_base = self.type_base + TYPE_ONE_HOT * self.cells  # rows of the global features
        self.num_inputs = self.global_base + f
        self.table = nn.EmbeddingBag(self.num_inputs, cfg.hidden_dim, mode="sum")
        self.bias = nn.Parameter(torch.zeros(cfg.hidden_dim))
        # Like a linear layer whose fan-in is the tokens an agent sees (not the mostly empty dense input).
        nn.init.normal_(self.table.weight, 0.0, math.sqrt(2.0 / 40.0))
        self._build_lookup(policy)
        layers: list[nn.Module] = []
        for _ in range(cfg.mlp_layers - 1):
            layers += [_init(nn.Linear(cfg.hidden_dim, cfg.hidden_dim)), nn.ReLU()]
        self.mlp = nn.Sequential(*layers)

    def _build_lookup(self, policy: Policy) -> None:
        """Per (location byte, feature byte) pair, what a token adds: its table row, the scale of its value, and for
        a `type_id` token on the grid the row of its cell in the type-0 plane (-1 otherwise); padding, unknown
        features and off-window cells add nothing (row 0, scale 0)."""
        key = torch.arange(256 * 256)
        loc, feat = key >> 8, key & 255
        row, col = loc >> 4, loc & 15
        known = feat < policy.num_features
        feat = torch.where(known, feat, torch.zeros_like(feat))
        on_grid = known & (loc != PADDING_LOCATION) & (loc != GLOBAL_LOCATION) & (row < policy.height) & (
            col < policy.width)
        is_global = known & (loc == GLOBAL_LOCATION)
        cell = row * policy.width + col
        base = torch.where(on_grid, feat * self.cells + cell, torch.where(is_global, self.global_base + feat, 0))
        scale = policy.inv_norm[feat] * (on_grid + is_global * policy.global_mask[feat])
        type_row = torch.where(on_grid & (feat == self.type_feature), self.type_base + cell, -1)
        self.register_buffer("lookup_row", base, persistent=False)
        self.register_buffer("lookup_scale", scale, persistent=False)
        self.register_buffer("lookup_type_row", type_row, persistent=False)

    def inputs(self, policy: Policy, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(N, tokens, 3) uint8 -> the row of the table each token adds and its weight (0 for padding), (N, tokens):
        a numeric token adds its value x 1/normalization at row feature x cell (global ones at their own row, if
        the policy reads that global feature); a `type_id` below TYPE_ONE_HOT adds 1 at its type's plane."""
        tok = policy._trim(obs).long()
        key = (tok[..., 0] << 8) | tok[..., 1]
        raw = tok[..., 2]
        index = self.lookup_row[key]
        weight = raw.to(self.lookup_scale.dtype) * self.lookup_scale[key]
        type_row = self.lookup_type_row[key]
        is_type = (type_row >= 0) & (raw < TYPE_ONE_HOT)
        index = torch.where(is_type, type_row + raw * self.cells, index)
        weight = torch.where(is_type, torch.ones_like(weight), weight)
        return index, weight

    def dense(self, policy: Policy, obs: torch.Tensor) -> torch.Tensor:
        """The same input as a dense (N, num_inputs) vector (for tests: `dense @ table.weight` is the first layer)."""
        index, weight = self.inputs(policy, obs)
        out = weight.new_zeros(obs.shape[0], self.num_inputs)
        return out.scatter_add_(1, index, weight)

    def first_layer(self, policy: Policy, obs: torch.Tensor) -> torch.Tensor:
        """(N, tokens, 3) uint8 -> the pre-activation of the first layer, (N, hidden)."""
        index, weight = self.inputs(policy, obs)
        table = self.table.weight
        if torch.is_grad_enabled() and table.requires_grad and _native_table_grad(table, weight):
            return _TokenTableBag.apply(index, weight, table) + self.bias
        return self.table(index, per_sample_weights=weight) + self.bias

    def forward(self, policy: Policy, obs: torch.Tensor) -> torch.Tensor:
        """(N, tokens, 3) uint8 -> (N, hidden)."""
        return self.mlp(torch.relu(self.first_layer(policy, obs)))


def _make_encoder(policy: Policy) -> nn.Module:
    return _TokenEncoder(policy) if policy.config.encoder == "tokens" else _CNNEncoder(policy)


class FastPolicy(Policy):
    """Encoder (token-native or CNN over feature planes) -> MLP -> actor/critic; no memory."""

    def __init__(self, spec: PolicySpec) -> None:
        super().__init__(spec)
        self.encoder = _make_encoder(self)

    def encode(self, obs: torch.Tensor) -> torch.Tensor:
        """(N, tokens, 3) uint8 -> (N, hidden)."""
        return self.encoder(self, obs)


class LSTMPolicy(FastPolicy):
    """The fast encoder followed by an LSTM core; state (h, c) each (B, layers, hidden), reset at episode starts."""

    is_recurrent = True

    def __init__(self, spec: PolicySpec) -> None:
        super().__init__(spec)
        hidden = self.config.hidden_dim
        self.lstm = nn.LSTM(hidden, hidden, num_layers=self.config.lstm_layers, batch_first=True)
        for name, p in self.lstm.named_parameters():
            if "weight" in name:
                nn.init.orthogonal_(p, 1.0)
            else:
                nn.init.constant_(p, 0.0)

    def initial_state(self, batch: int, device: torch.device | str) -> State:
        """Zero (h, c) of shape (batch, layers, hidden)."""
        shape = (batch, self.config.lstm_layers, self.config.hidden_dim)
        return torch.zeros(shape, device=device), torch.zeros(shape, device=device)

    def core(self, x: torch.Tensor, state: State, dones: torch.Tensor | None) -> tuple[torch.Tensor, State]:
        """Runs the LSTM over T steps, zeroing a row's state before any step flagged in dones."""
        b, t, _ = x.shape
        if state is None:
            state = self.initial_state(b, x.device)
        h, c = (s.transpose(0, 1).contiguous() for s in state)  # (layers, B, hidden)
        if dones is None:
            out, (h, c) = self.lstm(x, (h, c))
            return out, (h.transpose(0, 1), c.transpose(0, 1))
        # Exact and cheap: one LSTM call per run of steps between the steps at which some row starts an episode,
        # zeroing those rows' state at each boundary (a segment with no episode start is one call).
        starts = dones.detach().bool()
        cuts = [0] + (torch.nonzero(starts[:, 1:].any(0)).flatten() + 1).tolist() + [t]
        keep_all = 1.0 - starts.to(x.dtype)
        outs = []
        # tensor_split: one backward op for all pieces (slicing would zero-fill a full-size gradient per piece)
        for a, piece in zip(cuts[:-1], x.tensor_split(cuts[1:-1], dim=1)):
            keep = keep_all[:, a].view(1, b, 1)
            o, (h, c) = self.lstm(piece, (h * keep, c * keep))
            outs.append(o)
        out = outs[0] if len(outs) == 1 else torch.cat(outs, dim=1)
        return out, (h.transpose(0, 1), c.transpose(0, 1))


class TransformerPolicy(Policy):
    """Each token embedded as feature + value + position; self-attention with padding masked; mean-pooled; MLP."""

    def __init__(self, spec: PolicySpec) -> None:
        super().__init__(spec)
        cfg = self.config
        d = cfg.embed_dim
        self.feature_embed = nn.Embedding(self.num_features, d)
        self.value_embed = nn.Embedding(self.num_features, d)
        self.position_embed = nn.Embedding(256, d)  # the location byte; GLOBAL_LOCATION is a position too
        layer = nn.TransformerEncoderLayer(d, cfg.num_heads, dim_feedforward=2 * d, dropout=0.0, batch_first=True,
                                           norm_first=True)
        self.attention = nn.TransformerEncoder(layer, cfg.transformer_layers, enable_nested_tensor=False)
        layers: list[nn.Module] = [nn.LayerNorm(d), _init(nn.Linear(d, cfg.hidden_dim)), nn.ReLU()]
        for _ in range(cfg.mlp_layers - 1):
            layers += [_init(nn.Linear(cfg.hidden_dim, cfg.hidden_dim)), nn.ReLU()]
        self.mlp = nn.Sequential(*layers)

    def encode(self, obs: torch.Tensor) -> torch.Tensor:
        """(N, tokens, 3) uint8 -> (N, hidden)."""
        loc, feat, value, pad = self._decode(obs)
        x = self.feature_embed(feat) + value.unsqueeze(-1) * self.value_embed(feat) + self.position_embed(loc)
        pad = pad.clone()
        pad[:, 0] &= ~pad.all(1)  # a row of only padding keeps one token so attention stays defined
        x = self.attention(x, src_key_padding_mask=pad)
        keep = (~pad).unsqueeze(-1).float()
        pooled = (x * keep).sum(1) / keep.sum(1).clamp(min=1.0)
        return self.mlp(pooled)


_ARCHITECTURES: dict[str, type[Policy]] = {"fast": FastPolicy, "lstm": LSTMPolicy, "transformer": TransformerPolicy}


def build_policy(spec: PolicySpec) -> Policy:
    """Instantiates the architecture named by spec.config.policy."""
    return _ARCHITECTURES[spec.config.policy](spec)


def make_agent(
    observation_space: spaces.Box,
    action_space: spaces.Discrete,
    global_features: list[str] | None = None,
    device: torch.device | str = "cpu",
    config: AgentModelConfig | None = None,
    *,
    feature_spec: dict[str, dict[str, float | int]],
    obs_window: tuple[int, int] = (11, 11),
    action_names: list[str] | None = None,
    **overrides: Any,
) -> Policy:
    """A policy for token observations (tokens, 3) and a Discrete action space; kwargs override AgentModelConfig fields.

    `global_features` names the global-token features the policy reads (empty or None: all of them);
    `feature_spec` is the env's `feature_spec()` (its feature names, ids and normalizations).
    """
    if not isinstance(action_space, spaces.Discrete):
        raise TypeError(f"action_space must be gymnasium.spaces.Discrete, got {action_space!r}")
    shape = tuple(observation_space.shape or ())
    if len(shape) != 2 or shape[1] != 3 or observation_space.dtype != np.uint8:
        raise ValueError(f"observation_space must be uint8 tokens of shape (tokens, 3), got {observation_space!r}")
    cfg = config or AgentModelConfig()
    if overrides:
        cfg = AgentModelConfig.model_validate({**cfg.model_dump(), **overrides})
    spec = PolicySpec(
        config=cfg,
        obs_shape=(int(shape[0]), 3),
        obs_window=(int(obs_window[0]), int(obs_window[1])),
        num_actions=int(action_space.n),
        feature_spec=feature_spec,
        action_names=action_names,
        global_features=list(global_features or []) or None,
    )
    return build_policy(spec).to(device)
