"""The walls around candidate code, and the policy they enforce (see walls.py and policy.py)."""

from eureka.sandbox.policy import bound_text, valid_component_name
from eureka.sandbox.walls import WallSpec, apply_walls, capture_output, scrub_env, walls_up

__all__ = ["WallSpec", "apply_walls", "bound_text", "capture_output", "scrub_env", "valid_component_name",
           "walls_up"]
