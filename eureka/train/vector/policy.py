"""The vectorized trainer's actor-critic: two small MLPs on batched tensors, no code in what it saves.

The evaluator outside the jail builds the same module from the architecture settings alone
(``build``), loads the saved tensors into it and calls ``predict`` as it does an SB3 policy's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import gymnasium as gym
import numpy as np
import torch
from torch import nn

ACTIVATIONS: dict[str, type[nn.Module]] = {"tanh": nn.Tanh, "relu": nn.ReLU, "elu": nn.ELU}
ARCH_KEYS = ("hidden", "activation", "init_log_std")
_HALF_LOG_2PI = 0.5 * float(np.log(2 * np.pi))
T = TypeVar("T")


def _mlp(sizes: list[int], activation: type[nn.Module], out_gain: float) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        linear = nn.Linear(sizes[i], sizes[i + 1])
        last = i == len(sizes) - 2
        nn.init.orthogonal_(linear.weight, out_gain if last else float(np.sqrt(2)))
        nn.init.zeros_(linear.bias)
        layers.append(linear)
        if not last:
            layers.append(activation())
    return nn.Sequential(*layers)


_ACTIVATION_FNS: dict[type[nn.Module], Any] = {nn.Tanh: torch.tanh, nn.ReLU: torch.relu, nn.ELU: nn.functional.elu}


def run_mlp(mlp: nn.Sequential, x: torch.Tensor) -> torch.Tensor:
    """``mlp(x)`` without a module call per layer (the rollout runs the actor once per env step, on a few
    rows: there the calls' overhead is most of the cost). Without autograd the layers' transposed weights
    and biases are looked up once (``_inference_layers``)."""
    if not torch.is_grad_enabled():
        for wt, b, act in _inference_layers(mlp):
            x = torch.addmm(b, x, wt)
            if act is not None:
                x = act(x)
        return x
    for layer in mlp:
        if isinstance(layer, nn.Linear):
            x = torch.addmm(layer.bias, x, layer.weight.t())
        else:
            x = _ACTIVATION_FNS[type(layer)](x)
    return x


def linear_layers(mlp: nn.Sequential) -> list[tuple[nn.Linear, type[nn.Module] | None]]:
    """``mlp``'s linear layers, each with the type of the activation after it (None for the last layer)."""
    modules = list(mlp)
    out: list[tuple[nn.Linear, type[nn.Module] | None]] = []
    for i in range(0, len(modules), 2):
        linear = modules[i]
        assert isinstance(linear, nn.Linear)
        out.append((linear, type(modules[i + 1]) if i + 1 < len(modules) else None))
    if out[-1][1] is not None:
        raise ValueError("an MLP ends with a linear layer")
    return out


def cached_on(owner: nn.Module, name: str, key: Any, build: Callable[[], T]) -> T:
    """``build()``, kept in ``owner.__dict__[name]`` until ``key`` changes (the views of parameters a hot loop
    uses, looked up once: ``key`` says which storage they view, so moved parameters are looked up again)."""
    cached = owner.__dict__.get(name)
    if cached is None or cached[0] != key:
        cached = owner.__dict__[name] = (key, build())
    return cached[1]


def _inference_layers(mlp: nn.Sequential) -> list[tuple[torch.Tensor, torch.Tensor, Any]]:
    """Per linear layer (weight transposed, bias, the activation after it or None), detached views of the
    parameters, cached on ``mlp`` until its first weight moves to other storage (``.to``, a new buffer)."""
    first = mlp[0]
    assert isinstance(first, nn.Linear)
    return cached_on(mlp, "_inference", first.weight.data_ptr(), lambda: [
        (linear.weight.detach().t(), linear.bias.detach(), None if act is None else _ACTIVATION_FNS[act])
        for linear, act in linear_layers(mlp)])


class ActorCritic(nn.Module):
    """Gaussian (Box actions, state-independent log std) or categorical (Discrete) policy and a value MLP."""

    low: torch.Tensor
    high: torch.Tensor

    def __init__(self, obs_dim: int, action_space: gym.Space, hidden: list[int] | tuple[int, ...] = (64, 64),
                 activation: str = "tanh", init_log_std: float = 0.0):
        super().__init__()
        act = ACTIVATIONS[activation]
        self.discrete = isinstance(action_space, gym.spaces.Discrete)
        if self.discrete:
            n_out = int(action_space.n)  # type: ignore[attr-defined]
        elif isinstance(action_space, gym.spaces.Box):
            n_out = int(np.prod(action_space.shape))
            self.register_buffer("low", torch.as_tensor(action_space.low, dtype=torch.float32).reshape(-1))
            self.register_buffer("high", torch.as_tensor(action_space.high, dtype=torch.float32).reshape(-1))
        else:
            raise ValueError(f"the vector backend supports Box and Discrete actions, not {action_space}")
        self.action_shape = () if self.discrete else tuple(action_space.shape or ())
        self.actor = _mlp([obs_dim, *hidden, n_out], act, 0.01)
        self.critic = _mlp([obs_dim, *hidden, 1], act, 1.0)
        if not self.discrete:
            self.log_std = nn.Parameter(torch.full((n_out,), float(init_log_std)))

    def distribution(self, obs: torch.Tensor) -> torch.distributions.Distribution:
        """The action distribution at ``obs`` ([B, D])."""
        out = self.actor(obs)
        if self.discrete:
            return torch.distributions.Categorical(logits=out, validate_args=False)
        return torch.distributions.Normal(out, self.log_std.exp().expand_as(out), validate_args=False)

    def sample(self, obs: torch.Tensor) -> torch.Tensor:
        """Actions drawn at ``obs`` (``distribution(obs).sample()``'s draws, without building the distribution:
        the rollout calls this once per step)."""
        out = run_mlp(self.actor, obs)
        if self.discrete:
            return torch.multinomial(torch.softmax(out, -1), 1, True).squeeze(-1)
        return torch.normal(out, self.log_std.exp().expand_as(out))

    def value(self, obs: torch.Tensor) -> torch.Tensor:
        """State values ``[B]``."""
        return run_mlp(self.critic, obs).squeeze(-1)

    def evaluate(self, obs: torch.Tensor, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Log-probabilities and entropies ``[B]`` of ``actions`` at ``obs`` (a rollout's scoring; the update's
        loss in ``grads.py`` computes the same, with its gradient written out).

        Written out, no ``Distribution`` object: on these small networks the per-operation overhead is the cost.
        """
        out = run_mlp(self.actor, obs)
        if self.discrete:
            logp = torch.log_softmax(out, -1)
            return logp.gather(-1, actions.unsqueeze(-1)).squeeze(-1), -(logp.exp() * logp).sum(-1)
        z = (actions - out) * torch.exp(-self.log_std)
        log_std = self.log_std.sum()
        logp = -0.5 * (z * z).sum(-1) - log_std - out.shape[-1] * _HALF_LOG_2PI
        entropy = (log_std + out.shape[-1] * (0.5 + _HALF_LOG_2PI)).expand(out.shape[0])
        return logp, entropy

    def to_env(self, actions: torch.Tensor) -> torch.Tensor:
        """What the simulator gets: continuous actions clipped to the action space's bounds (as SB3 does)."""
        if self.discrete:
            return actions
        return torch.maximum(torch.minimum(actions, self.high), self.low)

    @torch.no_grad()
    def predict(self, obs: np.ndarray, deterministic: bool = True) -> tuple[np.ndarray, None]:
        """SB3's ``predict`` for the evaluator and the renderer: actions for a batch of (normalized) observations."""
        x = torch.as_tensor(np.asarray(obs, dtype=np.float32).reshape(len(obs), -1))
        if deterministic:  # the distribution's mode, computed as it computes it, without building one per step
            out = run_mlp(self.actor, x)
            a = torch.softmax(out - out.logsumexp(-1, keepdim=True), -1).argmax(-1) if self.discrete else out
        else:
            a = self.distribution(x).sample()
        return self.to_env(a).numpy().reshape((len(obs), *self.action_shape)), None

    def set_training_mode(self, mode: bool) -> None:
        """SB3's name for ``train``/``eval`` (the evaluator calls it)."""
        self.train(mode)


def arch(settings: dict[str, Any]) -> dict[str, Any]:
    """The architecture keys of the vector settings (what the evaluator needs to rebuild the policy)."""
    return {k: settings[k] for k in ARCH_KEYS if k in settings}


def build(observation_space: gym.Space, action_space: gym.Space, settings: dict[str, Any]) -> ActorCritic:
    """A fresh policy of the architecture ``settings`` name (``hidden``, ``activation``, ``init_log_std``)."""
    hidden = [int(h) for h in settings.get("hidden", (64, 64))]
    activation = str(settings.get("activation", "tanh"))
    if activation not in ACTIVATIONS or not 1 <= len(hidden) <= 8 or not all(1 <= h <= 4096 for h in hidden):
        raise ValueError(f"invalid policy architecture: hidden={hidden}, activation={activation!r}")
    obs_dim = int(np.prod(observation_space.shape or (1,)))
    return ActorCritic(obs_dim, action_space, hidden, activation, float(settings.get("init_log_std", 0.0)))
