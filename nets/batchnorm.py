"""Batch normalisation (Ioffe & Szegedy 2015), written to run under ``torch.func.vmap``.

Training:  x_hat = (x - mu_B) / sqrt(sigma_B^2 + eps),  y = gamma * x_hat + beta,
with mu_B and the BIASED variance sigma_B^2 of the mini-batch.
Inference: the population statistics E[x] = mean over training batches of mu_B and
Var[x] = mean over batches of the unbiased m/(m-1) * sigma_B^2 (``stats="exact"``, what
``torch.nn.BatchNorm*d(momentum=None)`` computes), or exponential moving averages
(``stats="ema"``, torch's default ``momentum=0.1``). The exact average runs over the batches
since :func:`restart_population_statistics`, which :func:`nets.fit` calls at every epoch; after
training, :func:`recompute_population_statistics` redoes it with the final weights held fixed
(the paper's Algorithm 2), which :func:`nets.fit` and the ensemble engines do for exact mode.

Running statistics are updated with in-place tensor ops and never read back into Python,
so stacked per-member buffers can be updated inside ``vmap(functional_call(...))``.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def batch_norm(x: torch.Tensor, mean: torch.Tensor, var: torch.Tensor, gamma: torch.Tensor,
               beta: torch.Tensor, eps: float) -> torch.Tensor:
    """Normalise ``x`` (N x C x ...) with per-channel ``mean``/``var`` (C,), then scale and shift.

    y = gamma * (x - mean) / sqrt(var + eps) + beta; returns a tensor shaped like ``x``.
    """
    shape = (1, -1) + (1,) * (x.dim() - 2)  # broadcast C over N and the spatial dims
    x_hat = (x - mean.reshape(shape)) / torch.sqrt(var.reshape(shape) + eps)
    return gamma.reshape(shape) * x_hat + beta.reshape(shape)


class _BatchNorm(nn.Module):
    """Shared body of BatchNorm1d/2d; subclasses fix the expected input rank."""

    _input_dims: tuple[int, ...] = ()

    def __init__(self, num_features: int, eps: float = 1e-5, stats: str = "exact",
                 momentum: float = 0.1) -> None:
        super().__init__()
        if not isinstance(num_features, int) or num_features < 1:
            raise ValueError(f"num_features must be a positive int, got {num_features!r}")
        if stats not in ("exact", "ema"):
            raise ValueError(f"stats must be 'exact' or 'ema', got {stats!r}")
        if not 0.0 < momentum <= 1.0:
            raise ValueError(f"momentum must be in (0, 1], got {momentum!r}")
        if not eps > 0:
            raise ValueError(f"eps must be > 0, got {eps!r}")
        self.num_features = num_features
        self.eps = eps
        self.stats = stats
        self.momentum = momentum
        self.gamma = nn.Parameter(torch.ones(num_features))
        self.beta = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))
        self.register_buffer("num_batches_tracked", torch.zeros((), dtype=torch.long))

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}, stats={self.stats!r}, momentum={self.momentum}"

    def _check_input(self, x: torch.Tensor) -> None:
        if x.dim() not in self._input_dims or x.shape[1] != self.num_features:
            raise ValueError(f"{type(self).__name__}({self.num_features}) expects input of rank "
                             f"{self._input_dims} with {self.num_features} channels, got shape {tuple(x.shape)}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise ``x``: N x C (1d), N x C x L (1d) or N x C x H x W (2d), float."""
        self._check_input(x)
        # y = gamma * (x - mean) / sqrt(var + eps) + beta (the formula of ``batch_norm`` above),
        # computed by torch's fused kernel: one pass instead of five, and it has a vmap rule.
        if not self.training:
            return F.batch_norm(x, self.running_mean, self.running_var, self.gamma, self.beta,
                                training=False, eps=self.eps)
        track_batch_statistics(x, self.running_mean, self.running_var, self.num_batches_tracked, self.stats,
                               self.momentum, type(self).__name__)
        return F.batch_norm(x, None, None, self.gamma, self.beta, training=True, eps=self.eps)  # mu_B, sigma_B^2


@torch.no_grad()  # running statistics take no gradient
def track_batch_statistics(x: torch.Tensor, running_mean: torch.Tensor, running_var: torch.Tensor,
                           num_batches_tracked: torch.Tensor, stats: str, momentum: float, name: str) -> None:
    """Fold training batch ``x``'s statistics into the population statistics, in place.

    mu_B and the unbiased m/(m-1) sigma_B^2 of each channel of ``x`` (N x C x ...; computed in
    float32, also for bf16 activations) update ``running_mean``/``running_var``, shaped
    ``num_batches_tracked.shape + (channels per counter,)``: (C,) with a scalar counter, or
    (k, C/k) for k members packed along the channels with a counter each. ``"exact"``: after n batches,
    running = (1/n) sum_i stat_i; ``"ema"``: running <- (1 - momentum) running + momentum stat.
    ``name`` labels the error for batches with a single value per channel.
    """
    m = x.numel() // x.shape[1]  # values per channel in this batch
    if m < 2:
        raise ValueError(f"{name} needs more than 1 value per channel in training, got input shape {tuple(x.shape)}")
    var, mean = torch.var_mean(x.float(), dim=(0,) + tuple(range(2, x.dim())), correction=0)
    num_batches_tracked.add_(1)
    factor = (1.0 / num_batches_tracked.to(mean.dtype)).unsqueeze(-1) if stats == "exact" else momentum
    running_mean.add_(factor * (mean.view(running_mean.shape) - running_mean))
    running_var.add_(factor * (var.view(running_var.shape) * (m / (m - 1)) - running_var))


def restart_population_statistics(model: nn.Module) -> nn.Module:
    """Make every exact-mode BatchNorm of ``model`` average anew from its next training batch.

    The exact average weighs every batch since the last restart equally, so batches from early
    training, when the weights were far from their final values, would distort the inference
    statistics. :func:`nets.fit` restarts at each epoch: inference then uses the population
    statistics E[x], Var[x] of the last epoch's batches. (EMA mode forgets on its own.)
    Returns ``model``.
    """
    for module in model.modules():
        if isinstance(module, _BatchNorm) and module.stats == "exact":
            module.num_batches_tracked.zero_()  # next batch: running = its statistics (factor 1/1)
    return model


@torch.no_grad()
def recompute_population_statistics(model: nn.Module, batches) -> nn.Module:
    """Ioffe & Szegedy's Algorithm 2: with the trained weights fixed, set every exact-mode
    BatchNorm's E[x] and Var[x] to the averages of its batch statistics over ``batches``.

    Averages taken while training mix statistics of weights that kept changing (badly so with a
    large constant learning rate); these come from the network that will run inference.
    ``batches`` is an iterable of float inputs the model accepts (un-augmented training batches).
    Exact-mode BatchNorms run in training mode (normalising with batch statistics, as in
    training); everything else, Dropout and EMA-mode BatchNorm included, in eval mode. Train/eval
    flags are restored. Returns ``model``.
    """
    exact = [m for m in model.modules() if isinstance(m, _BatchNorm) and m.stats == "exact"]
    if not exact:
        return model
    flags = {m: m.training for m in model.modules()}
    model.eval()
    try:
        for module in exact:
            module.train()
            module.num_batches_tracked.zero_()
        for x in batches:
            model(x)
    finally:
        for module, flag in flags.items():
            module.train(flag)
    return model


def has_exact_batch_norm(model: nn.Module) -> bool:
    """Whether ``model`` holds a BatchNorm with exact population statistics."""
    return any(isinstance(m, _BatchNorm) and m.stats == "exact" for m in model.modules())


class BatchNorm1d(_BatchNorm):
    """Batch normalisation over N x C or N x C x L float inputs (statistics per channel C).

    Parameters: ``gamma`` (C,), ``beta`` (C,); buffers ``running_mean``, ``running_var`` (C,)
    and ``num_batches_tracked`` (int64 scalar). ``stats="exact"`` averages batch statistics
    over all training batches; ``stats="ema"`` uses ``momentum``.
    """

    _input_dims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch normalisation over N x C x H x W float inputs (statistics per channel C).

    Same parameters, buffers and options as :class:`BatchNorm1d`.
    """

    _input_dims = (4,)
