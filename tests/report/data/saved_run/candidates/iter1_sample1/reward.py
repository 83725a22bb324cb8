import math
import numpy as np

import torch

from typing import Dict, List, Optional, Tuple

@torch.jit.script
def compute_reward(pole_angle: torch.Tensor, cart_position: torch.Tensor) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
    # eureka-genome: [{"name":"pole_angle_near_target","kind":"tolerance","var":"pole_angle","scale":0.19731,"weight":1.35196},{"name":"cart_position_near_target","kind":"tolerance","var":"cart_position","scale":2.4,"weight":0.5},{"name":"alive","kind":"alive","weight":0.87501}]
    pole_angle_near_target = 1.352 * torch.exp(-0.5 * ((pole_angle - 0.0) / 0.1973) ** 2)
    cart_position_near_target = 0.5 * torch.exp(-0.5 * ((cart_position - 0.0) / 2.4) ** 2)
    alive = 0.875 * torch.ones_like(cart_position)
    reward = pole_angle_near_target + cart_position_near_target + alive
    components: Dict[str, torch.Tensor] = {"pole_angle_near_target": pole_angle_near_target, "cart_position_near_target": cart_position_near_target, "alive": alive}
    return reward, components
