"""Walker2d-v5: a two-legged planar robot walks forward. Fitness: forward distance per episode (m)."""

from eureka.tasks import Hint, locomotion_task

TASK = locomotion_task(
    "walker2d", "Walker2d-v5", nq=9, nv=9, n_act=6, dt=0.008, planar=True, healthy_height="0.8-2.0 m",
    description=("A two-dimensional two-legged robot must walk forward (+x) as fast as possible without "
                 "falling. Actions are torques on the six leg joints. The episode ends when the torso height "
                 "leaves 0.8-2.0 m, its angle leaves +-1 rad, or after 1000 steps (dt = 0.008 s)."),
    hints=[Hint("x_velocity", "maximize", scale=1.0), Hint("alive", "alive", weight=1.0),
           Hint("torso_angle", "target", target=0.0, scale=0.5, weight=0.5),
           Hint("actions", "minimize", scale=1.0, weight=0.001)])
