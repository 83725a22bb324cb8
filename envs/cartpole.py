"""CartPole-v1: balance a pole on a cart. Fitness: mean episode length (max 500)."""

import torch

from eureka.tasks import Fitness, Hint, StateVar, Task


def extract_state(obs: torch.Tensor, actions: torch.Tensor, infos: list) -> dict:
    return {
        "cart_position": obs[:, 0],
        "cart_velocity": obs[:, 1],
        "pole_angle": obs[:, 2],
        "pole_angular_velocity": obs[:, 3],
        "actions": actions.reshape(obs.shape[0]).float(),
    }


TASK = Task(
    name="cartpole",
    env_id="CartPole-v1",
    description=(
        "A pole is attached by an un-actuated joint to a cart moving along a frictionless track. "
        "The agent pushes the cart left (action 0) or right (action 1). Keep the pole upright and the "
        "cart on the track for as long as possible: the episode ends when |pole_angle| > 0.2095 rad, "
        "|cart_position| > 2.4 m, or after 500 steps."
    ),
    state_vars=[
        StateVar("cart_position", "[N]", "m", "cart position on the track, 0 = centre, fails beyond +-2.4"),
        StateVar("cart_velocity", "[N]", "m/s", "cart velocity"),
        StateVar("pole_angle", "[N]", "rad", "pole angle from vertical, 0 = upright, fails beyond +-0.2095"),
        StateVar("pole_angular_velocity", "[N]", "rad/s", "pole angular velocity"),
        StateVar("actions", "[N]", "-", "the action taken: 0 = push left, 1 = push right"),
    ],
    extract_state=extract_state,
    fitness=Fitness("mean episode length (steps survived, max 500)",
                    step=lambda s: torch.ones_like(s["pole_angle"]), reduce="sum", maximum=500.0),
    hints=[
        Hint("pole_angle", "target", target=0.0, scale=0.2),
        Hint("cart_position", "target", target=0.0, scale=2.4, weight=0.5),
        Hint("alive", "alive", weight=1.0),
    ],
)
