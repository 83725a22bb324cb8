"""Builder for Gymnasium v5 MuJoCo locomotion tasks.

The env is made with ``exclude_current_positions_from_observation=False`` so
that the reward can see the x (and y) position; the wrapper hides those
leading columns from the policy, which therefore sees exactly the default v5
observation. Videos use each model's ``track`` camera, which follows the body's
centre of mass for the whole clip. Fitness: forward distance per episode, the sum of
``x_velocity * dt`` over the episode's steps (qvel[0] is the root's forward
velocity), in metres.
"""

from __future__ import annotations

import logging

import torch

from eureka.tasks.spec import Fitness, Hint, StateVar, Task


def _up_z(quat: torch.Tensor) -> torch.Tensor:
    """z component of the torso's up axis from a (w, x, y, z) quaternion: 1 = upright."""
    x, y = quat[:, 1], quat[:, 2]
    return 1.0 - 2.0 * (x * x + y * y)


def quiet_mujoco_warnings() -> None:
    """Send MuJoCo's warnings (e.g. half_cheetah's deprecated 'settotalmass', once per env made) to the
    ``eureka.mujoco`` logger at debug level instead of the terminal (``hydra.verbose=eureka.mujoco`` writes them
    to the run's ``eureka.log``)."""
    try:
        import mujoco
    except ImportError:
        return
    log = logging.getLogger("eureka.mujoco")
    mujoco.set_mju_user_warning(lambda msg: log.debug(msg.strip()))


def locomotion_task(name: str, env_id: str, nq: int, nv: int, n_act: int, dt: float, description: str,
                    planar: bool, contact_slice: tuple[int, int] | None = None,
                    hints: list[Hint] | None = None, healthy_height: str = "") -> Task:
    """A forward-locomotion task over a v5 MuJoCo env (planar: hopper/walker/cheetah; else ant/humanoid)."""
    hidden = 1 if planar else 2
    quiet_mujoco_warnings()

    def extract_state(obs: torch.Tensor, actions: torch.Tensor, infos: list) -> dict:
        qpos, qvel = obs[:, :nq], obs[:, nq:nq + nv]
        states = {"x_position": qpos[:, 0], "x_velocity": qvel[:, 0], "qpos": qpos, "qvel": qvel,
                  "actions": actions.reshape(obs.shape[0], -1).float()}
        if planar:
            states.update(torso_height=qpos[:, 1], torso_angle=qpos[:, 2], z_velocity=qvel[:, 1],
                          angular_velocity=qvel[:, 2])
        else:
            states.update(y_position=qpos[:, 1], y_velocity=qvel[:, 1], torso_height=qpos[:, 2],
                          torso_orientation=qpos[:, 3:7], torso_up=_up_z(qpos[:, 3:7]), z_velocity=qvel[:, 2])
        if contact_slice is not None:
            states["contact_forces"] = obs[:, contact_slice[0]:contact_slice[1]]
        return states

    height_note = f"; the episode ends when it leaves {healthy_height}" if healthy_height else ""
    state_vars = [
        StateVar("x_position", "[N]", "m", "torso x position (forward axis)"),
        StateVar("x_velocity", "[N]", "m/s", "forward velocity of the torso"),
        StateVar("torso_height", "[N]", "m", f"torso height above the ground{height_note}"),
    ]
    if planar:
        state_vars += [StateVar("torso_angle", "[N]", "rad", "torso pitch angle, 0 = upright"),
                       StateVar("z_velocity", "[N]", "m/s", "vertical velocity of the torso"),
                       StateVar("angular_velocity", "[N]", "rad/s", "torso pitch angular velocity")]
    else:
        state_vars += [StateVar("y_position", "[N]", "m", "torso y position (sideways)"),
                       StateVar("y_velocity", "[N]", "m/s", "sideways velocity"),
                       StateVar("torso_orientation", "[N, 4]", "-", "torso orientation quaternion (w, x, y, z)"),
                       StateVar("torso_up", "[N]", "-", "z component of the torso's up axis, 1 = upright"),
                       StateVar("z_velocity", "[N]", "m/s", "vertical velocity of the torso")]
    state_vars += [StateVar("qpos", f"[N, {nq}]", "m / rad", "all generalized positions (root first)"),
                   StateVar("qvel", f"[N, {nv}]", "m/s / rad/s", "all generalized velocities (root first)")]
    if contact_slice is not None:
        width = contact_slice[1] - contact_slice[0]
        state_vars.append(StateVar("contact_forces", f"[N, {width}]", "N",
                                   "external contact forces and torques on each body (cfrc_ext)"))
    state_vars.append(StateVar("actions", f"[N, {n_act}]", "-", "joint torques applied, each in [-1, 1]"))
    return Task(
        name=name, env_id=env_id, description=description, state_vars=state_vars, extract_state=extract_state,
        fitness=Fitness("forward distance travelled per episode (m): sum of x_velocity * dt",
                        step=lambda s: s["x_velocity"] * dt, reduce="sum"),
        hints=hints or [Hint("x_velocity", "maximize", scale=1.0), Hint("alive", "alive", weight=1.0),
                        Hint("actions", "minimize", scale=1.0, weight=0.001)],
        env_kwargs={"exclude_current_positions_from_observation": False}, hidden_obs=hidden,
        # the XML's "track" camera (mode trackcom) follows the body: Gymnasium's default free camera stays
        # put for HalfCheetah and Ant, and the robot leaves the clip after about a second
        render_kwargs={"width": 320, "height": 320, "camera_name": "track"})
