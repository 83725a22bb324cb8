import math
import numpy as np

import torch

from typing import Dict, List, Optional, Tuple

@torch.jit.script
def compute_reward(pole_angle: torch.Tensor, cart_position: torch.Tensor) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
    # eureka-genome: [{"name":"pole_angle_near_target","kind":"tolerance","var":"pole_angle","scale":0.2,"weight":1.06285},{"name":"cart_position_near_target","kind":"tolerance","var":"cart_position","scale":1.63179,"weight":0.56508},{"name":"alive","kind":"alive","weight":0.94089},{"name":"pole_angle_and_cart_position","kind":"product","var":"pole_angle","scale":0.2,"weight":1.06285,"var2":"cart_position","scale2":1.63179}]
    pole_angle_near_target = 1.063 * torch.exp(-0.5 * ((pole_angle - 0.0) / 0.2) ** 2)
    cart_position_near_target = 0.5651 * torch.exp(-0.5 * ((cart_position - 0.0) / 1.632) ** 2)
    alive = 0.9409 * torch.ones_like(cart_position)
    pole_angle_and_cart_position = 1.063 * torch.exp(-0.5 * ((pole_angle - 0.0) / 0.2) ** 2) * torch.exp(-0.5 * ((cart_position - 0.0) / 1.632) ** 2)
    reward = pole_angle_near_target + cart_position_near_target + alive + pole_angle_and_cart_position
    components: Dict[str, torch.Tensor] = {"pole_angle_near_target": pole_angle_near_target, "cart_position_near_target": cart_position_near_target, "alive": alive, "pole_angle_and_cart_position": pole_angle_and_cart_position}
    return reward, components
