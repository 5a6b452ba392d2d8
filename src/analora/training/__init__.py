"""Training: the loop shared by every method, and its checkpoints."""

from analora.training.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from analora.training.trainer import TrainConfig, Trainer, TrainError, TrainResult, linear_schedule

__all__ = [
    "CheckpointError",
    "TrainConfig",
    "TrainError",
    "TrainResult",
    "Trainer",
    "linear_schedule",
    "load_checkpoint",
    "save_checkpoint",
]
