"""HalfCheetah-v5: a planar cheetah runs forward. Fitness: forward distance per episode (m)."""

from eureka.tasks import Hint, locomotion_task

TASK = locomotion_task(
    "half_cheetah", "HalfCheetah-v5", nq=9, nv=9, n_act=6, dt=0.05, planar=True,
    description=("A two-dimensional cheetah-like robot must run forward (+x) as fast as possible. Actions are "
                 "torques on six joints (back and front thigh, shin, foot). It cannot fall over in a way that "
                 "ends the episode; episodes last 1000 steps (dt = 0.05 s)."),
    hints=[Hint("x_velocity", "maximize", scale=1.0), Hint("actions", "minimize", scale=1.0, weight=0.05)])
