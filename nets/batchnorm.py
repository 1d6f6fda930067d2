"""Batch normalisation (Ioffe & Szegedy 2015), written to run under ``torch.func.vmap``.

Training:  x_hat = (x - mu_B) / sqrt(sigma_B^2 + eps),  y = gamma * x_hat + beta,
with mu_B and the BIASED variance sigma_B^2 of the mini-batch.
Inference: y = gamma * (x - E[x]) / sqrt(Var[x] + eps) + beta with the population statistics
E[x] = E_B[mu_B] and Var[x] = m/(m-1) E_B[sigma_B^2] over training mini-batches B of m values
per channel (the paper's Algorithm 2, steps 8-11).

How the population statistics are estimated, and why this default:

- While training, every mini-batch updates running estimates. The default ``stats="ema"``
  keeps exponential moving averages, running <- (1 - momentum) running + momentum stat
  (the paper's section 3.1 "moving averages"; torch's ``momentum=0.1``). They weigh recent
  batches most, whose weights are close to the current ones, so a model trained by ANY
  ordinary loop (``model.train()``, steps, ``model.eval()``) infers with sensible statistics.
  ``stats="exact"`` averages every batch since :func:`restart_population_statistics` equally
  (torch's ``momentum=None``): exact for fixed weights, stale when the weights move, which is
  why a plain loop that never restarts it infers badly.
- After training, :func:`nets.fit` and the ensemble engines run Algorithm 2 proper:
  :func:`recompute_population_statistics` sets E[x] and Var[x] to exact averages over
  training batches passed through the FINAL network, whichever ``stats`` mode a layer tracks
  with (and for torch's own BatchNorm layers too).

Each training forward is one fused kernel, which also returns mu_B and 1 / sqrt(sigma_B^2 +
eps); the running estimates come from those, so the statistics cost no extra pass over the
activations. They are updated with in-place tensor ops and never read back into Python, so
stacked per-member buffers can be updated inside ``vmap(functional_call(...))``.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Sequence

import torch
from torch import nn
from torch.nn import functional as F

from conventions import check_choice, check_int


def batch_norm(x: torch.Tensor, mean: torch.Tensor, var: torch.Tensor, gamma: torch.Tensor,
               beta: torch.Tensor, eps: float) -> torch.Tensor:
    """Normalise ``x`` with per-channel statistics, then scale and shift.

    ``y = gamma * (x - mean) / sqrt(var + eps) + beta``.

    Parameters
    ----------
    x : torch.Tensor
        Float N x C x ....
    mean, var : torch.Tensor
        Float C: the statistics.
    gamma, beta : torch.Tensor
        Float C: the scale and shift.
    eps : float
        Added to the variance before the square root.

    Returns
    -------
    torch.Tensor
        ``y``, shaped like ``x``.
    """
    shape = (1, -1) + (1,) * (x.dim() - 2)  # broadcast C over N and the spatial dims
    x_hat = (x - mean.reshape(shape)) / torch.sqrt(var.reshape(shape) + eps)
    return gamma.reshape(shape) * x_hat + beta.reshape(shape)


class BatchNorm(nn.Module):
    """Batch normalisation over dim 1, the shared body of :class:`BatchNorm1d` and :class:`BatchNorm2d`.

    Subclasses fix the expected input rank. ``isinstance(module, BatchNorm)`` finds both, e.g.
    to pack or recompute them.

    Parameters
    ----------
    num_features : int
        C, the channels (features) normalised.
    eps : float
        Added to the variance before the square root (> 0).
    stats : {"ema", "exact"}
        How training tracks the population statistics (see the module docstring).
    momentum : float
        In (0, 1]: the moving average's weight of each batch (``stats="ema"``).
    """

    _input_dims: tuple[int, ...] = ()

    def __init__(self, num_features: int, eps: float = 1e-5, stats: str = "ema",
                 momentum: float = 0.1) -> None:
        super().__init__()
        check_int(num_features, "num_features", minimum=1)
        check_choice(stats, "stats", ("exact", "ema"))
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
        """Normalise ``x`` with the batch's statistics (training) or the population's (eval).

        Parameters
        ----------
        x : torch.Tensor
            Float N x C or N x C x L (:class:`BatchNorm1d`), N x C x H x W (:class:`BatchNorm2d`).

        Returns
        -------
        torch.Tensor
            Shaped like ``x``.
        """
        self._check_input(x)
        # y = gamma * (x - mean) / sqrt(var + eps) + beta (the formula of ``batch_norm`` above),
        # computed by torch's fused kernel: one pass instead of five, and it has a vmap rule.
        if not self.training:
            return F.batch_norm(x, self.running_mean, self.running_var, self.gamma, self.beta,
                                training=False, eps=self.eps)
        y, mean, var = batch_norm_training(x, self.gamma, self.beta, self.eps, type(self).__name__)
        track_batch_statistics(mean, var, x.numel() // x.shape[1], self.running_mean, self.running_var,
                               self.num_batches_tracked, self.stats, self.momentum)
        return y


def batch_norm_training(x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor, eps: float,
                        name: str = "BatchNorm") -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Normalise ``x`` (N x C x ...) with its own batch statistics, then scale and shift.

    Returns ``y`` (like ``x``; differentiable in ``x``, ``gamma``, ``beta``) and the detached
    per-channel mu_B and biased sigma_B^2 (float32, C), all from one fused kernel. ``name``
    labels the error for batches with a single value per channel.
    """
    if x.numel() // x.shape[1] < 2:
        raise ValueError(f"{name} needs more than 1 value per channel in training, got input shape {tuple(x.shape)}")
    y, mean, inv_std = torch.native_batch_norm(x, gamma, beta, None, None, True, 0.0, eps)
    var = (inv_std.detach().float() ** -2 - eps).clamp_min(0)  # inv_std = 1 / sqrt(sigma_B^2 + eps)
    return y, mean.detach().float(), var


@torch.no_grad()  # running statistics take no gradient
def track_batch_statistics(mean: torch.Tensor, var: torch.Tensor, m: int, running_mean: torch.Tensor,
                           running_var: torch.Tensor, num_batches_tracked: torch.Tensor, stats: str,
                           momentum: float) -> None:
    """Fold one training batch's per-channel mu_B and biased sigma_B^2 (m values per channel)
    into the running estimates of E[x] and Var[x], in place.

    ``running_mean``/``running_var`` are shaped ``num_batches_tracked.shape + (channels per
    counter,)``: (C,) with a scalar counter, or (k, C/k) for k members packed along the channels
    with a counter each. ``"exact"``: after n batches, running = (1/n) sum_i stat_i;
    ``"ema"``: running <- (1 - momentum) running + momentum stat. The variance statistic is the
    unbiased m/(m-1) sigma_B^2.
    """
    num_batches_tracked.add_(1)
    factor = (1.0 / num_batches_tracked.to(mean.dtype)).unsqueeze(-1) if stats == "exact" else momentum
    running_mean.add_(factor * (mean.view(running_mean.shape) - running_mean))
    running_var.add_(factor * (var.view(running_var.shape) * (m / (m - 1)) - running_var))


def _cumulative(module: nn.Module) -> bool:
    """A BatchNorm whose running estimates are the exact average since its last restart."""
    if isinstance(module, BatchNorm):
        return module.stats == "exact"
    return isinstance(module, nn.modules.batchnorm._BatchNorm) and module.track_running_stats \
        and module.momentum is None


def cumulative_counters(model: nn.Module) -> list[str]:
    """Buffer names of the batch counters of ``model``'s exact-average BatchNorms (ours with
    ``stats="exact"``, torch's with ``momentum=None``): zeroing one restarts its average."""
    return [f"{name}.num_batches_tracked" if name else "num_batches_tracked"
            for name, module in model.named_modules() if _cumulative(module)]


def restart_population_statistics(model: nn.Module) -> nn.Module:
    """Make every exact-average BatchNorm of ``model`` average anew from its next training batch.

    The exact average weighs every batch since the last restart equally, so batches from early
    training, when the weights were far from their final values, would distort the running
    estimates. :func:`nets.fit` restarts at each epoch: validation during training then uses
    the statistics of the last epoch's batches. (EMA mode forgets on its own.)

    Parameters
    ----------
    model : torch.nn.Module
        The network.

    Returns
    -------
    torch.nn.Module
        ``model`` itself.
    """
    buffers = dict(model.named_buffers())
    for name in cumulative_counters(model):
        buffers[name].zero_()  # next batch: running = its statistics (factor 1/1)
    return model


def normalisation_parameters(model: nn.Module) -> list[nn.Parameter]:
    """The trainable parameters of ``model``'s BatchNorms (ours: gamma, beta; torch's: weight,
    bias), which the trainer may step at their own learning rate (``norm_lr_scale``)."""
    layers = [m for m in model.modules() if isinstance(m, (BatchNorm, nn.modules.batchnorm._BatchNorm))]
    return [p for layer in layers for p in layer.parameters(recurse=False)]


def _population_layers(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.modules() if isinstance(m, BatchNorm)
            or (isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats)]


@torch.no_grad()
@contextlib.contextmanager
def population_statistics(model: nn.Module) -> Iterator[nn.Module]:
    """Inside the block, every forward of ``model`` adds to its BatchNorms' population
    statistics, which start empty: Algorithm 2 of :func:`recompute_population_statistics`,
    for callers that feed several models from one pass over the data.

    The BatchNorms run in training mode (normalising with batch statistics, as in training);
    everything else, Dropout included, in eval mode. Train/eval flags and each BatchNorm's own
    mode are restored on exit. Yields ``model``.
    """
    layers = _population_layers(model)
    flags = {m: m.training for m in model.modules()}
    modes = [(m.stats if isinstance(m, BatchNorm) else m.momentum) for m in layers]
    model.eval()
    try:
        for module in layers:
            module.train()
            if isinstance(module, BatchNorm):
                module.stats = "exact"
            else:
                module.momentum = None  # torch's exact average: factor 1 / num_batches_tracked
            module.num_batches_tracked.zero_()
        yield model
    finally:
        for module, mode in zip(layers, modes):
            if isinstance(module, BatchNorm):
                module.stats = mode
            else:
                module.momentum = mode
        for module, flag in flags.items():
            module.train(flag)


def recompute_population_statistics(model: nn.Module | Sequence[nn.Module],
                                    batches: Iterable[torch.Tensor]) -> nn.Module | Sequence[nn.Module]:
    """Ioffe & Szegedy's Algorithm 2: with the trained weights fixed, set every BatchNorm's
    E[x] and Var[x] to the exact averages of its batch statistics over ``batches``.

    Running estimates taken while training mix statistics of weights that kept changing (badly
    so with a large constant learning rate); these come from the network that will run
    inference. Applies to our BatchNorms in both ``stats`` modes and to torch's BatchNorm layers
    that track running statistics; afterwards each keeps its own mode for further training.
    The batches run inside ``nets.batchnorm.population_statistics``.

    Parameters
    ----------
    model : torch.nn.Module or list of torch.nn.Module
        The trained network, or networks that take the same input: all are fed from one pass
        over ``batches``.
    batches : iterable of torch.Tensor
        Float inputs the models accept (un-augmented training batches).

    Returns
    -------
    torch.nn.Module or list of torch.nn.Module
        ``model`` itself.
    """
    models = [model] if isinstance(model, nn.Module) else list(model)
    models = [m for m in models if _population_layers(m)]
    if not models:
        return model
    with contextlib.ExitStack() as stack, torch.no_grad():
        for network in models:
            stack.enter_context(population_statistics(network))
        for x in batches:
            for network in models:
                network(x)
    return model


class BatchNorm1d(BatchNorm):
    """Batch normalisation over N x C or N x C x L float inputs (statistics per channel C).

    Learned: ``gamma`` (C,), ``beta`` (C,); buffers ``running_mean``, ``running_var`` (C,)
    and ``num_batches_tracked`` (int64 scalar). ``stats="ema"`` (default) tracks E[x], Var[x]
    as moving averages with ``momentum``; ``stats="exact"`` averages every training batch since
    the last :func:`restart_population_statistics` (see the module docstring).

    Parameters
    ----------
    num_features : int
        C, the channels (features) normalised.
    eps : float
        Added to the variance before the square root (> 0).
    stats : {"ema", "exact"}
        How training tracks the population statistics (see the module docstring).
    momentum : float
        In (0, 1]: the moving average's weight of each batch (``stats="ema"``).
    """

    _input_dims = (2, 3)


class BatchNorm2d(BatchNorm):
    """Batch normalisation over N x C x H x W float inputs (statistics per channel C).

    The same buffers and options as :class:`BatchNorm1d`.

    Parameters
    ----------
    num_features : int
        C, the channels (features) normalised.
    eps : float
        Added to the variance before the square root (> 0).
    stats : {"ema", "exact"}
        How training tracks the population statistics (see the module docstring).
    momentum : float
        In (0, 1]: the moving average's weight of each batch (``stats="ema"``).
    """

    _input_dims = (4,)
