"""The PPO loss and its gradient written out, for the vectorized trainer's minibatch updates.

On these small MLPs (two layers of 64) an update costs per-operation overhead, not arithmetic, and
autograd roughly doubles the operations (it records the forward pass, then walks ~40 graph nodes
back). Here the forward pass keeps what the backward pass needs and the gradients are a few matrix
products written straight into the parameters' ``.grad`` (``FlatAdam``'s flat buffer). The loss is
exactly ``PPO.update``'s former autograd loss (CleanRL's clipped objective, optional clipped value
loss, entropy bonus); ``tests/train/test_vector.py`` checks every gradient against autograd's.
"""

from __future__ import annotations

import torch
from torch import nn

from eureka.train.vector.policy import _HALF_LOG_2PI, ActorCritic


def _forward(mlp: nn.Sequential, x: torch.Tensor) -> tuple[torch.Tensor, list[tuple[nn.Linear, torch.Tensor,
                                                                                   torch.Tensor | None]]]:
    """``mlp(x)``, and per linear layer (layer, its input, the activation's derivative after it or None)."""
    layers = list(mlp)
    saved: list[tuple[nn.Linear, torch.Tensor, torch.Tensor | None]] = []
    i = 0
    while i < len(layers):
        linear = layers[i]
        assert isinstance(linear, nn.Linear)
        z = torch.addmm(linear.bias, x, linear.weight.t())
        act = layers[i + 1] if i + 1 < len(layers) else None
        if act is None:
            saved.append((linear, x, None))
            return z, saved
        if isinstance(act, nn.Tanh):
            h = torch.tanh(z)
            slope = 1.0 - h * h
        elif isinstance(act, nn.ReLU):
            h = torch.relu(z)
            slope = (z > 0).to(z.dtype)
        elif isinstance(act, nn.ELU):
            h = torch.nn.functional.elu(z)
            slope = torch.where(z > 0, torch.ones_like(z), h + 1.0)
        else:
            raise TypeError(f"no written-out derivative for {type(act).__name__}")
        saved.append((linear, x, slope))
        x = h
        i += 2
    raise ValueError("an MLP ends with a linear layer")


def _backward(saved: list[tuple[nn.Linear, torch.Tensor, torch.Tensor | None]], g: torch.Tensor) -> None:
    """Write each layer's weight and bias gradients for the output gradient ``g`` into their ``.grad``."""
    for k in range(len(saved) - 1, -1, -1):
        linear, x, _ = saved[k]
        assert linear.weight.grad is not None and linear.bias.grad is not None
        torch.mm(g.t(), x, out=linear.weight.grad)
        torch.sum(g, 0, out=linear.bias.grad)
        if k:
            slope = saved[k - 1][2]
            assert slope is not None  # every layer but the last is followed by its activation
            g = torch.mm(g, linear.weight) * slope


def loss_actions(policy: ActorCritic, actions: torch.Tensor) -> torch.Tensor:
    """The actions as ``loss_and_grads`` takes them: one-hot float rows for a discrete policy (a product and
    a sum pick the log-probability, and the gradient needs the one-hot anyway), unchanged for a Gaussian."""
    if not policy.discrete:
        return actions
    last = policy.actor[-1]
    assert isinstance(last, nn.Linear)
    return torch.nn.functional.one_hot(actions, last.out_features).to(torch.float32)


def loss_and_grads(policy: ActorCritic, obs: torch.Tensor, actions: torch.Tensor, old_logp: torch.Tensor,
                   adv: torch.Tensor, returns: torch.Tensor, old_values: torch.Tensor, clip_coef: float,
                   clip_vloss: bool, ent_coef: float, vf_coef: float) -> torch.Tensor:
    """Set every parameter's ``.grad`` to the gradient of the PPO loss on one minibatch (``adv`` already
    normalized, ``actions`` as ``loss_actions`` gives them); returns (policy loss, value loss, mean entropy,
    approximate KL) as one tensor.

    The loss: ``mean(max(-A r, -A clip(r, 1 - c, 1 + c))) - ent_coef * mean(H) + vf_coef * L_v`` with
    ``L_v = 0.5 mean((V - R)^2)`` (or its clipped form).
    """
    B = obs.shape[0]
    with torch.no_grad():
        out, actor_saved = _forward(policy.actor, obs)
        value, critic_saved = _forward(policy.critic, obs)
        value = value.squeeze(-1)
        if policy.discrete:
            logsm = torch.log_softmax(out, -1)
            probs = logsm.exp()
            logp = (logsm * actions).sum(-1)
            entropy = -(probs * logsm).sum(-1)
        else:
            inv_std = torch.exp(-policy.log_std)
            z = (actions - out) * inv_std
            log_std = policy.log_std.sum()
            logp = -0.5 * (z * z).sum(-1) - log_std - out.shape[-1] * _HALF_LOG_2PI
            entropy = (log_std + out.shape[-1] * (0.5 + _HALF_LOG_2PI)).expand(B)
        log_ratio = logp - old_logp
        ratio = log_ratio.exp()
        clipped = ratio.clamp(1 - clip_coef, 1 + clip_coef)
        a_r, a_c = adv * ratio, adv * clipped
        pg_terms = -torch.min(a_r, a_c)  # max(-A r, -A clip(r))
        # d loss / d logp: -A r where the unclipped term is the max (inside the clip range the two are equal;
        # outside, a tie needs A = 0, where the gradient is 0 either way)
        g_logp = (a_r * (a_r <= a_c)).mul_(-1.0 / B)
        if policy.discrete:
            g_out = g_logp.unsqueeze(-1) * (actions - probs) + (ent_coef / B) * probs * (logsm + entropy.unsqueeze(-1))
        else:
            g_out = g_logp.unsqueeze(-1) * z * inv_std
            assert policy.log_std.grad is not None
            torch.sum(g_logp.unsqueeze(-1) * (z * z - 1.0), 0, out=policy.log_std.grad)
            policy.log_std.grad.sub_(ent_coef)
        diff = value - returns
        if clip_vloss:
            v_clip = old_values + (value - old_values).clamp(-clip_coef, clip_coef)
            diff_c = v_clip - returns
            sq, sq_c = diff * diff, diff_c * diff_c
            v_loss = 0.5 * torch.max(sq, sq_c).mean()
            inside = ((value - old_values).abs() <= clip_coef).to(value.dtype)
            # torch.max's gradient: all to the larger term, half to each on a tie
            w = torch.where(sq > sq_c, 1.0, torch.where(sq < sq_c, 0.0, 0.5))
            g_value = (vf_coef / B) * (w * diff + (1.0 - w) * diff_c * inside)
        else:
            v_loss = 0.5 * (diff * diff).mean()
            g_value = (vf_coef / B) * diff
        _backward(actor_saved, g_out)
        _backward(critic_saved, g_value.unsqueeze(-1))
        kl = ((ratio - 1) - log_ratio).mean()
        return torch.stack((pg_terms.mean(), v_loss, entropy.mean(), kl))
