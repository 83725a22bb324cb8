"""Humanoid-v5: a 3D humanoid walks forward. Fitness: forward distance per episode (m)."""

from eureka.tasks import Hint, locomotion_task

TASK = locomotion_task(
    "humanoid", "Humanoid-v5", nq=24, nv=23, n_act=17, dt=0.015, planar=False, contact_slice=(272, 350),
    healthy_height="1.0-2.0 m",
    description=("A three-dimensional bipedal humanoid must walk forward along +x as fast as possible without "
                 "falling. Actions are torques on 17 joints. The episode ends when the torso height leaves "
                 "1.0-2.0 m or after 1000 steps (dt = 0.015 s)."),
    hints=[Hint("x_velocity", "maximize", scale=1.0), Hint("alive", "alive", weight=2.0),
           Hint("torso_up", "target", target=1.0, scale=0.5, weight=0.5),
           Hint("actions", "minimize", scale=1.0, weight=0.01)])
