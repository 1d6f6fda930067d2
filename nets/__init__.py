"""nets: ensemble members and their training.

Initialisation schemes, BatchNorm and Dropout written for ``torch.func.vmap``, L1/L2 weight
decay, early stopping, the MLP/SmallCNN/ResNet20/FastCNN models, and training: one
:class:`TrainConfig` of options, one step (:mod:`nets.step`) and one loop (:mod:`nets.loop`)
behind :func:`fit`, :func:`fit_snapshots` (several networks from one run, :mod:`nets.snapshots`)
and the ensemble engines.
"""
from nets.batches import to_float_batch
from nets.batchnorm import (
                            BatchNorm,
                            BatchNorm1d,
                            BatchNorm2d,
                            batch_norm,
                            recompute_population_statistics,
                            restart_population_statistics,
)
from nets.config import TrainConfig
from nets.dropout import Dropout, convert_dropout, hash_uniform, mc_dropout_predict, set_dropout_seed
from nets.early_stopping import EarlyStopping
from nets.init import activation_stats, fan_in_and_out, init_weights
from nets.loop import DivergenceError, History
from nets.models import MLP, FastCNN, ResNet20, SmallCNN
from nets.pacing import Deadline
from nets.penalties import decay_parameters, l1_penalty, l2_penalty
from nets.precision import bfloat16_supported
from nets.train import evaluate, fit, fit_snapshots, predict_logits

__all__ = [
    "BatchNorm", "BatchNorm1d", "BatchNorm2d", "batch_norm", "recompute_population_statistics", "restart_population_statistics",
    "Dropout", "convert_dropout", "hash_uniform", "mc_dropout_predict", "set_dropout_seed",
    "EarlyStopping",
    "activation_stats", "fan_in_and_out", "init_weights",
    "MLP", "FastCNN", "ResNet20", "SmallCNN",
    "decay_parameters", "l1_penalty", "l2_penalty",
    "TrainConfig", "Deadline", "bfloat16_supported",
    "DivergenceError", "History", "evaluate", "fit", "fit_snapshots", "predict_logits", "to_float_batch",
]
