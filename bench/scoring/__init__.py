"""The scoring stage: stored generations -> metric values, detector scores and features (never runs a model)."""
from .scorers import BatchScores, Scorers
from .stage import ScoringStage

__all__ = ["BatchScores", "Scorers", "ScoringStage"]
