"""nets: ensemble members and their training.

Initialisation schemes, BatchNorm and Dropout written for ``torch.func.vmap``, L1/L2 weight
decay, early stopping, the MLP/SmallCNN/ResNet20/FastCNN models and the ``fit`` trainer.
"""
from nets.batchnorm import (
                            BatchNorm1d,
                            BatchNorm2d,
                            batch_norm,
                            has_exact_batch_norm,
                            recompute_population_statistics,
                            restart_population_statistics,
)
from nets.dropout import Dropout, convert_dropout, hash_uniform, mc_dropout_predict, set_dropout_seed
from nets.early_stopping import EarlyStopping
from nets.init import activation_stats, fan_in_and_out, init_weights
from nets.models import MLP, FastCNN, ResNet20, SmallCNN
from nets.penalties import decay_parameters, l1_penalty, l2_penalty
from nets.train import DivergenceError, History, evaluate, fit, predict_logits, to_float_batch

__all__ = [
    "BatchNorm1d", "BatchNorm2d", "batch_norm", "has_exact_batch_norm", "recompute_population_statistics",
    "restart_population_statistics",
    "Dropout", "convert_dropout", "hash_uniform", "mc_dropout_predict", "set_dropout_seed",
    "EarlyStopping",
    "activation_stats", "fan_in_and_out", "init_weights",
    "MLP", "FastCNN", "ResNet20", "SmallCNN",
    "decay_parameters", "l1_penalty", "l2_penalty",
    "DivergenceError", "History", "evaluate", "fit", "predict_logits", "to_float_batch",
]
