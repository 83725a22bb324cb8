"""The loop: design, criticise, train, analyze, select; then the final re-evaluation."""

from eureka.evolve.candidate import Candidate, Status
from eureka.evolve.loop import EurekaLoop, Reporter
from eureka.evolve.summary import FinalEvaluation, Summary, human_normalized_score

__all__ = ["Candidate", "EurekaLoop", "FinalEvaluation", "Reporter", "Status", "Summary", "human_normalized_score"]
