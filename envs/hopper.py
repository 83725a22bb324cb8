"""Hopper-v5: a one-legged robot hops forward. Fitness: forward distance per episode (m)."""

from eureka.tasks import Hint, locomotion_task

TASK = locomotion_task(
    "hopper", "Hopper-v5", nq=6, nv=6, n_act=3, dt=0.008, planar=True, healthy_height="0.7 m and above",
    description=("A two-dimensional one-legged robot (torso, thigh, leg, foot) must hop forward (+x) as far "
                 "as possible without falling. Actions are torques on the thigh, leg and foot joints. The "
                 "episode ends when the torso falls below 0.7 m, tilts more than 0.2 rad, or after 1000 steps "
                 "(dt = 0.008 s)."),
    hints=[Hint("x_velocity", "maximize", scale=1.0), Hint("alive", "alive", weight=1.0),
           Hint("torso_angle", "target", target=0.0, scale=0.2, weight=0.5),
           Hint("actions", "minimize", scale=1.0, weight=0.001)])
