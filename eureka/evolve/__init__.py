"""The loop: design, criticise, train, analyze, select; then the final re-evaluation."""

from eureka.evolve.loop import Candidate, EurekaLoop, human_normalized_score

__all__ = ["Candidate", "EurekaLoop", "human_normalized_score"]
