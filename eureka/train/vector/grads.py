"""The PPO loss and its gradient written out, for the vectorized trainer's minibatch updates.

On these small MLPs (two layers of 64) an update costs per-operation overhead, not arithmetic, and
autograd roughly doubles the operations (it records the forward pass, then walks ~40 graph nodes
back). Here the forward pass keeps what the backward pass needs and the gradients are a few matrix
products written straight into the parameters' ``.grad`` (``FlatAdam``'s flat buffer). The loss is
exactly ``PPO.update``'s former autograd loss (CleanRL's clipped objective, optional clipped value
loss, entropy bonus); ``tests/train/test_vector.py`` checks every gradient against autograd's.

The layers' tensors (weights, their transposes, biases and gradient buffers) are looked up once per
policy (``_plan``), not through ``nn.Module`` attributes on every minibatch, and the loss statistics
are computed only when asked for: at a few hundred minibatch updates per rollout, the Python around
the operations costs as much as the operations.
"""

from __future__ import annotations

import torch
from torch import nn

from eureka.train.vector.policy import _HALF_LOG_2PI, ActorCritic, cached_on, linear_layers

_CONSTANTS: dict[tuple[float, torch.dtype, torch.device], torch.Tensor] = {}


def const(value: float, like: torch.Tensor) -> torch.Tensor:
    """``value`` as a cached 0-d tensor of ``like``'s dtype and device: an operation with a Python float wraps
    it in a new double tensor and converts that (two more operations), one with this tensor does not."""
    key = (value, like.dtype, like.device)
    t = _CONSTANTS.get(key)
    if t is None:
        t = _CONSTANTS[key] = torch.tensor(value, dtype=like.dtype, device=like.device)
    return t


# a layer: (weight, weight transposed, bias, weight grad, bias grad, activation or None for the output layer)
_Layer = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, type[nn.Module] | None]


def _layers(mlp: nn.Sequential) -> list[_Layer]:
    """``mlp``'s linear layers, each with the activation after it (the last with none)."""
    out: list[_Layer] = []
    for linear, act in linear_layers(mlp):
        assert linear.weight.grad is not None and linear.bias.grad is not None
        if act is not None and act not in (nn.Tanh, nn.ReLU, nn.ELU):
            raise TypeError(f"no written-out derivative for {act.__name__}")
        w = linear.weight.detach()
        out.append((w, w.t(), linear.bias.detach(), linear.weight.grad, linear.bias.grad, act))
    return out


def _plan(policy: ActorCritic) -> tuple[list[_Layer], list[_Layer]]:
    """The actor's and the critic's layers, looked up once per set of parameter (and gradient) buffers."""
    first = policy.actor[0]
    assert isinstance(first, nn.Linear)
    grad = first.weight.grad

    def build() -> tuple[list[_Layer], list[_Layer]]:
        for p in policy.parameters():
            if p.grad is None:
                p.grad = torch.zeros_like(p)
        return _layers(policy.actor), _layers(policy.critic)

    key = (first.weight.data_ptr(), None if grad is None else grad.data_ptr())
    return cached_on(policy, "_grad_plan", key, build)


def _forward(layers: list[_Layer], x: torch.Tensor) -> tuple[torch.Tensor, list[tuple[torch.Tensor,
                                                                                   torch.Tensor | None]]]:
    """The MLP's output, and per layer (its input, the activation's derivative after it or None)."""
    saved: list[tuple[torch.Tensor, torch.Tensor | None]] = []
    for _, wt, b, _, _, act in layers:
        z = torch.addmm(b, x, wt)
        if act is None:
            saved.append((x, None))
            return z, saved
        if act is nn.Tanh:
            h = torch.tanh(z)
            slope = torch.addcmul(const(1.0, h), h, h, value=-1.0)  # 1 - h^2 in one operation
        elif act is nn.ReLU:
            h = torch.relu(z)
            slope = (z > 0).to(z.dtype)
        else:
            h = torch.nn.functional.elu(z)
            slope = torch.where(z > 0, 1.0, h + 1.0)
        saved.append((x, slope))
        x = h
    raise AssertionError("unreachable: _layers ends every MLP with a linear layer")


def _backward(layers: list[_Layer], saved: list[tuple[torch.Tensor, torch.Tensor | None]], g: torch.Tensor) -> None:
    """Write each layer's weight and bias gradients for the output gradient ``g`` into their ``.grad``."""
    for k in range(len(layers) - 1, -1, -1):
        w, _, _, gw, gb, _ = layers[k]
        x = saved[k][0]
        torch.mm(g.t(), x, out=gw)
        torch.sum(g, 0, out=gb)
        if k:
            g = torch.mm(g, w).mul_(saved[k - 1][1])  # type: ignore[arg-type]


def loss_actions(policy: ActorCritic, actions: torch.Tensor) -> torch.Tensor:
    """The actions as ``loss_and_grads`` takes them: one-hot float rows for a discrete policy (a product and
    a sum pick the log-probability, and the gradient needs the one-hot anyway), unchanged for a Gaussian."""
    if not policy.discrete:
        return actions
    last = policy.actor[-1]
    assert isinstance(last, nn.Linear)
    return torch.nn.functional.one_hot(actions, last.out_features).to(torch.float32)


@torch.no_grad()
def loss_and_grads(policy: ActorCritic, obs: torch.Tensor, actions: torch.Tensor, old_logp: torch.Tensor,
                   adv: torch.Tensor, returns: torch.Tensor, old_values: torch.Tensor, clip_coef: float,
                   clip_vloss: bool, ent_coef: float, vf_coef: float, stats: bool = True) -> torch.Tensor | None:
    """Set every parameter's ``.grad`` to the gradient of the PPO loss on one minibatch (``adv`` already
    normalized, ``actions`` as ``loss_actions`` gives them); returns (policy loss, value loss, mean entropy,
    approximate KL) as one tensor, or None without ``stats`` (the gradient alone: fewer operations).

    The loss: ``mean(max(-A r, -A clip(r, 1 - c, 1 + c))) - ent_coef * mean(H) + vf_coef * L_v`` with
    ``L_v = 0.5 mean((V - R)^2)`` (or its clipped form).
    """
    actor, critic = _plan(policy)
    B = obs.shape[0]
    out, actor_saved = _forward(actor, obs)
    value, critic_saved = _forward(critic, obs)
    value = value.squeeze(-1)
    entropy: torch.Tensor | None = None
    if policy.discrete:
        logsm = torch.log_softmax(out, -1)
        probs = logsm.exp()
        logp = (logsm * actions).sum(-1)
        if ent_coef or stats:
            entropy = -(probs * logsm).sum(-1)
    else:
        log_std = policy.log_std.detach()
        inv_std = torch.exp(-log_std)
        z = (actions - out) * inv_std
        zz = z * z
        log_std_sum = log_std.sum()
        logp = torch.mv(zz, const(-0.5, zz).expand(zz.shape[1])).sub_(
            log_std_sum.add(const(out.shape[-1] * _HALF_LOG_2PI, zz)))
        if stats:
            entropy = (log_std_sum + out.shape[-1] * (0.5 + _HALF_LOG_2PI)).expand(B)
    log_ratio = logp - old_logp
    ratio = log_ratio.exp()
    a_r, a_c = adv * ratio, adv * ratio.clamp(1 - clip_coef, 1 + clip_coef)
    # d loss / d logp: -A r where the unclipped term is the max (inside the clip range the two are equal;
    # outside, a tie needs A = 0, where the gradient is 0 either way)
    g_logp = a_r.masked_fill(a_r > a_c, 0.0).mul_(const(-1.0 / B, a_r))
    if policy.discrete:
        g_out = g_logp.unsqueeze(-1) * (actions - probs)
        if ent_coef:
            assert entropy is not None
            g_out.add_(probs * (logsm + entropy.unsqueeze(-1)), alpha=ent_coef / B)
    else:
        g_out = g_logp.unsqueeze(-1) * z * inv_std
        grad = policy.log_std.grad
        assert grad is not None
        torch.mv(zz.sub_(const(1.0, zz)).t(), g_logp, out=grad)  # sum over rows of g_logp * (z^2 - 1)
        if ent_coef:
            grad.sub_(ent_coef)
    diff = value - returns
    if clip_vloss:
        v_clip = old_values + (value - old_values).clamp(-clip_coef, clip_coef)
        diff_c = v_clip - returns
        sq, sq_c = diff * diff, diff_c * diff_c
        inside = ((value - old_values).abs() <= clip_coef).to(value.dtype)
        # torch.max's gradient: all to the larger term, half to each on a tie
        w = torch.where(sq > sq_c, 1.0, torch.where(sq < sq_c, 0.0, 0.5))
        g_value = (vf_coef / B) * (w * diff + (1.0 - w) * diff_c * inside)
        v_loss = 0.5 * torch.max(sq, sq_c).mean() if stats else None
    else:
        g_value = diff * const(vf_coef / B, diff)
        v_loss = 0.5 * (diff * diff).mean() if stats else None
    _backward(actor, actor_saved, g_out)
    _backward(critic, critic_saved, g_value.unsqueeze(-1))
    if not stats:
        return None
    assert entropy is not None and v_loss is not None
    kl = ((ratio - 1) - log_ratio).mean()
    return torch.stack((-torch.minimum(a_r, a_c).mean(), v_loss, entropy.mean(), kl))

