"""Ant-v5: a four-legged robot walks forward. Fitness: forward distance per episode (m)."""

from eureka.tasks import Hint, locomotion_task

TASK = locomotion_task(
    "ant", "Ant-v5", nq=15, nv=14, n_act=8, dt=0.05, planar=False, contact_slice=(29, 107),
    healthy_height="0.2-1.0 m",
    description=("A three-dimensional four-legged robot must walk forward along +x as fast as possible. "
                 "Actions are torques on the eight hip and ankle joints. The episode ends when the torso "
                 "height leaves 0.2-1.0 m or after 1000 steps (dt = 0.05 s)."),
    hints=[Hint("x_velocity", "maximize", scale=1.0), Hint("alive", "alive", weight=1.0),
           Hint("torso_up", "target", target=1.0, scale=0.5, weight=0.5),
           Hint("actions", "minimize", scale=1.0, weight=0.01)])
