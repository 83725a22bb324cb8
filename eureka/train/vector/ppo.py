"""PPO on batched torch tensors (CleanRL's ``ppo_continuous_action`` made batched end to end).

The rollout buffer, the observation normalizer, the return-based reward scaling, GAE and the
minibatch updates all work on ``[T, N]`` tensors on one device; nothing loops over
environments. The verbs follow rsl_rl's ``PPO``: ``act``, ``process_env_step``,
``compute_returns``, ``update``; the trainer (``eureka.train.vector.trainer``) sequences them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from eureka.train.vector.grads import const, loss_actions, loss_and_grads
from eureka.train.vector.policy import ActorCritic


@dataclass
class PPOSettings:
    """``trainer.vector``: the vectorized PPO's hyperparameters (defaults: CleanRL's MuJoCo PPO)."""

    num_steps: int = 64  # rollout length per env (a rollout is num_steps x trainer.num_envs steps)
    num_minibatches: int = 4  # minibatches per epoch
    update_epochs: int = 5  # passes over each rollout
    learning_rate: float = 3e-4
    anneal_lr: bool = True  # linear decay of the learning rate to 0 over the training
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip_coef: float = 0.2
    clip_vloss: bool = False
    ent_coef: float = 0.0
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    target_kl: float | None = None  # stop an update's epochs early past this KL (None: never)
    normalize_obs: bool = True  # running mean/std of the policy's observations (kept with the policy)
    normalize_reward: bool = True  # scale rewards by the running std of the discounted return (VecNormalize's way)
    hidden: list[int] = field(default_factory=lambda: [64, 64])  # hidden layer sizes of both MLPs
    activation: str = "tanh"  # tanh | relu | elu
    init_log_std: float = 0.0  # initial log standard deviation of Gaussian actions

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> PPOSettings:
        """Settings from ``trainer.vector`` (unknown keys are an error that lists the valid ones)."""
        known = set(cls.__dataclass_fields__)
        bad = sorted(set(values) - known)
        if bad:
            raise ValueError(f"unknown trainer.vector key(s) {', '.join(bad)}; valid: {', '.join(sorted(known))}")
        return cls(**values)


class RunningNorm(nn.Module):
    """Running mean and variance of a batch of vectors (the parallel algorithm of Chan et al.).

    The statistics are float64 buffers (saved with the policy); the float32 shift and scale that
    ``forward`` applies are cached after each update, so normalizing a batch is three operations.
    """

    mean: torch.Tensor
    var: torch.Tensor
    count: torch.Tensor

    def __init__(self, shape: tuple[int, ...], clip: float = 10.0, epsilon: float = 1e-8):
        super().__init__()
        self.register_buffer("mean", torch.zeros(shape, dtype=torch.float64))
        self.register_buffer("var", torch.ones(shape, dtype=torch.float64))
        self.register_buffer("count", torch.tensor(1e-4, dtype=torch.float64))
        self.clip, self.epsilon = clip, epsilon
        self._cached: tuple[torch.Tensor, torch.Tensor] | None = None
        self.register_load_state_dict_post_hook(lambda module, _: setattr(module, "_cached", None))

    @torch.no_grad()
    def update(self, x: torch.Tensor) -> None:
        x = x.reshape(-1, *tuple(self.mean.shape)).to(torch.float64)
        b_var, b_mean = torch.var_mean(x, 0, correction=0)
        b, c = x.shape[0], float(self.count)
        total = c + b
        delta = b_mean - self.mean
        self.mean.lerp_(b_mean, b / total)
        self.var.lerp_(b_var, b / total).addcmul_(delta, delta, value=c * b / total ** 2)
        self.count.fill_(total)
        self.__dict__["_cached"] = None  # (not through nn.Module.__setattr__: this runs once per env step)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        cached = self._cached
        if cached is None:
            var = self.var
            cached = self.__dict__["_cached"] = (self.mean.float(), torch.rsqrt(var.add(const(self.epsilon, var))).float())
        shift, scale = cached
        return ((x - shift) * scale).clamp(-self.clip, self.clip)


class FlatAdam:
    """Adam (``torch.optim.Adam``'s update, no weight decay) with the global gradient-norm clip, over all the
    policy's parameters as one flat vector.

    The parameters and their gradients are views into two flat buffers, so zeroing, clipping and the Adam
    step are a handful of operations whatever the number of tensors (13 for two 2-layer MLPs and a log std):
    on these small networks the per-operation overhead, not the arithmetic, is what an update costs.
    """

    def __init__(self, params: list[nn.Parameter], lr: float, eps: float = 1e-5, betas: tuple[float, float] = (0.9, 0.999)):
        self.params = params
        total = sum(p.numel() for p in params)
        like = params[0]
        self.flat = torch.empty(total, dtype=like.dtype, device=like.device)
        self.grad = torch.zeros_like(self.flat)
        offset = 0
        for p in params:
            n = p.numel()
            self.flat[offset:offset + n].copy_(p.detach().reshape(-1))
            p.data = self.flat[offset:offset + n].view_as(p)
            p.grad = self.grad[offset:offset + n].view_as(p)
            offset += n
        self.m, self.v = torch.zeros_like(self.flat), torch.zeros_like(self.flat)
        self._step = torch.zeros((), dtype=torch.float32, device=like.device)
        self.lr, self.eps, self.betas = lr, eps, betas

    def zero_grad(self) -> None:
        """Zero every gradient (one operation)."""
        self.grad.zero_()

    def step(self, max_grad_norm: float) -> None:
        """Clip the gradient to ``max_grad_norm`` (global L2 norm) and take one Adam step.

        The step is torch's fused Adam kernel (``torch.optim.Adam(fused=True)``'s) on the one flat
        buffer; the clip is its ``grad_scale`` (the gradient divided by ``max(|g| / max_norm, 1)``).
        """
        norm = torch.linalg.vector_norm(self.grad)
        scale = torch.addcmul(const(1e-6 / max_grad_norm, norm), norm, const(1.0 / max_grad_norm, norm)).clamp_(min=1.0)
        self._step.add_(const(1.0, self._step))
        b1, b2 = self.betas
        torch._fused_adam_([self.flat], [self.grad], [self.m], [self.v], [], [self._step], amsgrad=False,
                           lr=self.lr, beta1=b1, beta2=b2, weight_decay=0.0, eps=self.eps, maximize=False,
                           grad_scale=scale, found_inf=None)


class PPO:
    """The algorithm: owns the policy, the optimizer, the normalizers and the rollout storage."""

    def __init__(self, policy: ActorCritic, obs_dim: int, num_envs: int, settings: PPOSettings,
                 device: torch.device):
        self.policy, self.s, self.device = policy.to(device), settings, device
        self.optimizer = FlatAdam([p for p in policy.parameters() if p.requires_grad], settings.learning_rate)
        self.obs_norm = RunningNorm((obs_dim,)).to(device)
        self.ret_norm = RunningNorm(()).to(device)
        T, N = settings.num_steps, num_envs
        act_shape = policy.action_shape
        self.obs = torch.zeros((T, N, obs_dim), device=device)
        self.actions = torch.zeros((T, N, *act_shape), device=device,
                                   dtype=torch.long if policy.discrete else torch.float32)
        self.logprobs = torch.zeros((T, N), device=device)
        self.values = torch.zeros((T, N), device=device)
        self.valid = torch.ones((T, N), device=device)
        self.bootstrap = torch.zeros((T, N), device=device)  # gamma * V(last obs) where a time limit cut an episode
        self.returns_acc = torch.zeros(N, dtype=torch.float64, device=device)
        self.step = 0

    def normalize(self, obs: torch.Tensor, update: bool = False) -> torch.Tensor:
        """The policy's view of raw observations (``update``: fold them into the running statistics first)."""
        if not self.s.normalize_obs:
            return obs
        if update:
            self.obs_norm.update(obs)
        return self.obs_norm(obs)

    @torch.no_grad()
    def act(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Sample actions for the normalized ``obs`` of step ``self.step``; returns (stored action, env action).

        Only the actor runs here; the log-probabilities and values of the whole rollout are computed in one
        batched pass when it is complete (``compute_returns``): the parameters do not change meanwhile.
        """
        action = self.policy.sample(obs)
        t = self.step
        self.obs[t] = obs
        self.actions[t] = action
        return action, self.policy.to_env(action)

    @torch.no_grad()
    def _score_rollout(self) -> None:
        """Log-probabilities and values of every stored step, in one pass over ``T x N`` rows."""
        T, N = self.values.shape
        flat = self.obs.reshape(T * N, -1)
        logp, _ = self.policy.evaluate(flat, self.actions.reshape(T * N, *self.actions.shape[2:]))
        self.logprobs.copy_(logp.reshape(T, N))
        self.values.copy_(self.policy.value(flat).reshape(T, N))

    @torch.no_grad()
    def process_env_step(self, valid: torch.Tensor | None, truncated_obs: torch.Tensor | None,
                         truncated: torch.Tensor | None, every_row: bool = False) -> None:
        """Record what the step told: which envs made a transition, and the value bootstrap of time-limit cuts
        (``truncated_obs``: the rows of the truncated envs; ``every_row``: all ``N`` rows, ``truncated`` masks
        them, so nothing waits for the device to say which envs were cut)."""
        t = self.step
        self.valid[t] = 1.0 if valid is None else valid.float()
        self.bootstrap[t] = 0.0
        if truncated is not None and truncated_obs is not None:
            if every_row:
                self.bootstrap[t] = self.s.gamma * self.policy.value(truncated_obs) * truncated.float()
            else:
                self.bootstrap[t, truncated] = self.s.gamma * self.policy.value(truncated_obs)
        self.step += 1

    @torch.no_grad()
    def scale_rewards(self, rewards: torch.Tensor, dones: torch.Tensor) -> torch.Tensor:
        """``[T, N]`` rewards divided by the running std of the discounted return, step by step (VecNormalize)."""
        if not self.s.normalize_reward:
            return rewards
        out = torch.empty_like(rewards)
        for t in range(rewards.shape[0]):
            self.returns_acc = self.returns_acc * self.s.gamma + rewards[t].to(torch.float64) * self.valid[t]
            self.ret_norm.update(self.returns_acc)
            out[t] = (rewards[t] * torch.rsqrt(self.ret_norm.var + 1e-8).float()).clamp(-10.0, 10.0)
            self.returns_acc = self.returns_acc * (~dones[t])
        return out

    @torch.no_grad()
    def compute_returns(self, rewards: torch.Tensor, dones: torch.Tensor,
                        last_obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """GAE advantages and returns of the rollout (``rewards`` and ``dones``: ``[T, N]``).

        A step that is not a transition (``valid`` 0: EnvPool resetting an env that finished on the step
        before) gets no reward and no advantage; the step before it ended its episode, so nothing
        bootstraps through it.
        """
        s = self.s
        self._score_rollout()
        rewards = self.scale_rewards(rewards, dones) * self.valid + self.bootstrap
        next_value = self.policy.value(last_obs)
        adv = torch.zeros_like(rewards)
        last = torch.zeros_like(next_value)
        not_done = 1.0 - dones.float()
        T = rewards.shape[0]
        for t in reversed(range(T)):
            nv = next_value if t == T - 1 else self.values[t + 1]
            delta = rewards[t] + s.gamma * nv * not_done[t] - self.values[t]
            last = (delta + s.gamma * s.gae_lambda * not_done[t] * last) * self.valid[t]
            adv[t] = last
        self.step = 0
        return adv, adv + self.values

    def update(self, advantages: torch.Tensor, returns: torch.Tensor, progress: float) -> dict[str, float]:
        """Epochs of clipped-objective minibatch updates on the rollout; ``progress`` in [0, 1] anneals the rate.
        Returns the loss statistics (means over the last epoch's minibatches; over every epoch done when
        ``target_kl`` is set)."""
        s = self.s
        if s.anneal_lr:
            self.optimizer.lr = s.learning_rate * max(1.0 - progress, 0.0)
        keep = self.valid.reshape(-1) > 0
        b_obs = self.obs.reshape(-1, self.obs.shape[-1])[keep]
        b_act = loss_actions(self.policy, self.actions.reshape(-1, *self.actions.shape[2:])[keep])
        b_logp, b_adv = self.logprobs.reshape(-1)[keep], advantages.reshape(-1)[keep]
        b_ret, b_val = returns.reshape(-1)[keep], self.values.reshape(-1)[keep]
        n = b_obs.shape[0]
        mb = max(n // s.num_minibatches, 1)
        totals = torch.zeros(4, device=self.device)  # policy loss, value loss, entropy, approx KL: one sync at the end
        counted = 0
        k = max(n // mb, 1)  # minibatches per epoch (rows past k * mb wait for the next epoch's order)
        for epoch in range(s.update_epochs):
            # the loss statistics cost operations: they are taken in the last epoch (what is logged), or in every
            # epoch where the epoch's approximate KL may stop the update
            stats = s.target_kl is not None or epoch == s.update_epochs - 1
            order = torch.randperm(n, device=self.device)[:k * mb]
            # one gather per epoch, then each minibatch is a slice (a view, all made by one split)
            e_adv = b_adv[order].view(k, -1)  # each minibatch's advantages normalized on their own, all at once
            e_adv = ((e_adv - e_adv.mean(1, keepdim=True)) / (e_adv.std(1, keepdim=True) + 1e-8)).view(-1)
            parts = [x.split(mb) for x in (b_obs[order], b_act[order], b_logp[order], e_adv, b_ret[order],
                                           b_val[order])]
            epoch_kl = torch.zeros((), device=self.device)
            for obs, act, logp, adv, ret, val in zip(*parts, strict=True):
                out = loss_and_grads(self.policy, obs, act, logp, adv, ret, val, s.clip_coef, s.clip_vloss,
                                     s.ent_coef, s.vf_coef, stats)
                self.optimizer.step(s.max_grad_norm)
                if out is not None:
                    epoch_kl += out[3]
                    totals += out
                    counted += 1
            if s.target_kl is not None and epoch_kl.item() / k > s.target_kl:
                break
        names = ("policy_loss", "value_loss", "entropy", "approx_kl")
        return {name: v / max(counted, 1) for name, v in zip(names, totals.tolist(), strict=True)}

    def state(self) -> dict[str, torch.Tensor]:
        """Everything continued training needs (tensors only)."""
        out = {f"policy.{k}": v.clone() for k, v in self.policy.state_dict().items()}  # not views of one buffer
        out.update({f"obs_norm.{k}": v for k, v in self.obs_norm.state_dict().items()})
        out.update({f"ret_norm.{k}": v for k, v in self.ret_norm.state_dict().items()})
        out["returns_acc"] = self.returns_acc
        return out

    def load_state(self, state: dict[str, torch.Tensor]) -> None:
        """Continue from ``state`` (as ``state`` wrote it)."""
        def part(prefix: str) -> dict[str, torch.Tensor]:
            return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}

        self.policy.load_state_dict(part("policy."))
        self.obs_norm.load_state_dict(part("obs_norm."))
        self.ret_norm.load_state_dict(part("ret_norm."))
        if "returns_acc" in state and state["returns_acc"].shape == self.returns_acc.shape:
            self.returns_acc = state["returns_acc"].to(self.device)
