"""Grouped-convolution packing: ``k`` members run as one network on channel-stacked activations.

The vectorised engine's second strategy beside ``vmap``. Member ``m``'s activations occupy
channels ``[m*C, (m+1)*C)`` of one N x (k*C) x H x W tensor, so

- a ``Conv2d`` becomes one grouped convolution (``groups = k * groups``), weight k*O x I/g x kh x kw;
- our BatchNorm normalises k*C channels (per-channel statistics are per-member statistics);
- a ``Linear`` becomes one batched matmul over the k members' feature blocks;
- Dropout draws each member's mask from that member's counter-based RNG (the same masks as
  under vmap or alone);
- ReLU, pooling, ``Flatten`` and residual additions are channel-wise, so they run unchanged.

``vmap`` reaches grouped convolutions too (its batching rule for a conv with batched weights
folds the members into groups), but it moves the member dimension in and out of the channel
dimension around every layer; here the activations stay packed from input to logits.

Packed parameters and buffers are *views* of the stacked k x ... tensors that
``torch.func.stack_module_state`` returns (:func:`packed_tensors`), so the optimiser, the
BatchNorm statistics and the early-stopping snapshots of the vectorised engine are the same
tensors whichever strategy runs the forward pass.

Known layers are packed; a leaf module with parameters or buffers that is not known raises
``ValueError`` naming it. Modules whose ``forward`` mixes channels by hand (a channel mean, a
reshape across channels) cannot be detected from their type: :func:`check_packing` compares
the packed network with ``vmap`` on a probe batch, and the engine runs it before training.
"""
from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn import functional as F

import nets
from conventions import check_int
from nets.batchnorm import BatchNorm, batch_norm_training, track_batch_statistics
from nets.models import ShortcutA

__all__ = ["pack_model", "packed_tensors", "pack_input", "unpack_output", "check_packing"]

# Leaf modules that act on each channel (or each element) on its own: unchanged when packed.
_CHANNELWISE = (nn.ReLU, nn.Tanh, nn.GELU, nn.SiLU, nn.LeakyReLU, nn.ELU, nn.Sigmoid, nn.Identity,
                nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d,
                nn.MaxPool1d, nn.AvgPool1d, nn.AdaptiveAvgPool1d)


class PackedConv2d(nn.Module):
    """``k`` copies of a Conv2d as one grouped convolution; weight (k*O) x (I/g) x kh x kw."""

    def __init__(self, conv: nn.Conv2d, k: int) -> None:
        super().__init__()
        if conv.padding_mode != "zeros":
            raise ValueError(f"grouped packing supports zero padding only, got {conv!r}")
        self.stride, self.padding, self.dilation = conv.stride, conv.padding, conv.dilation
        self.groups = conv.groups * k
        self.weight = nn.Parameter(torch.empty((k * conv.out_channels, *conv.weight.shape[1:]), device="meta"))
        self.bias = (nn.Parameter(torch.empty(k * conv.out_channels, device="meta"))
                     if conv.bias is not None else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)


class PackedLinear(nn.Module):
    """``k`` copies of a Linear on N x (k*I) inputs: y[:, m] = x[:, m] W_m^T + b_m; weight k x O x I."""

    def __init__(self, linear: nn.Linear, k: int) -> None:
        super().__init__()
        self.k = k
        self.weight = nn.Parameter(torch.empty((k, linear.out_features, linear.in_features), device="meta"))
        self.bias = (nn.Parameter(torch.empty(k * linear.out_features, device="meta"))
                     if linear.bias is not None else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 2:
            raise ValueError(f"grouped packing supports Linear on N x features inputs only, got shape {tuple(x.shape)}")
        n = x.shape[0]
        y = torch.bmm(x.view(n, self.k, -1).transpose(0, 1), self.weight.transpose(1, 2))  # k x N x O
        y = y.transpose(0, 1).reshape(n, -1)
        return y if self.bias is None else y + self.bias


class PackedBatchNorm(nn.Module):
    """``k`` copies of :class:`nets.BatchNorm1d`/``2d`` as one BatchNorm over k*C channels.

    Same formulas; each member's exact-average counter (``num_batches_tracked``, shape k)
    advances with its own statistics, exactly as under vmap.
    """

    def __init__(self, bn: BatchNorm, k: int) -> None:
        super().__init__()
        self.k, self.c = k, bn.num_features
        self.eps, self.stats, self.momentum = bn.eps, bn.stats, bn.momentum
        self.gamma = nn.Parameter(torch.empty(k * self.c, device="meta"))
        self.beta = nn.Parameter(torch.empty(k * self.c, device="meta"))
        self.register_buffer("running_mean", torch.empty(k * self.c, device="meta"))
        self.register_buffer("running_var", torch.empty(k * self.c, device="meta"))
        self.register_buffer("num_batches_tracked", torch.empty(k, dtype=torch.long, device="meta"))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return F.batch_norm(x, self.running_mean, self.running_var, self.gamma, self.beta,
                                training=False, eps=self.eps)
        k, c = self.k, self.c  # member m's statistics are channels m*c..(m+1)*c-1, its counter entry m
        y, mean, var = batch_norm_training(x, self.gamma, self.beta, self.eps)
        track_batch_statistics(mean, var, x.numel() // x.shape[1], self.running_mean.view(k, c),
                               self.running_var.view(k, c), self.num_batches_tracked, self.stats, self.momentum)
        return y


class PackedDropout(nn.Module):
    """``k`` copies of :class:`nets.Dropout`: member m's mask comes from its own seed and counter."""

    def __init__(self, dropout: nets.Dropout, k: int) -> None:
        super().__init__()
        self.k, self.p_keep, self.mode = k, dropout.p_keep, dropout.mode
        seeded = dropout.seed is not None
        self.register_buffer("seed", torch.empty(k, dtype=torch.long, device="meta") if seeded else None)
        self.register_buffer("counter", torch.empty(k, dtype=torch.long, device="meta") if seeded else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = self.p_keep
        if not self.training:
            return x if self.mode == "inverted" else x * p
        if self.seed is None:
            u = torch.rand(x.shape, device=x.device)
        else:
            n, k = x.shape[0], self.k
            member_shape = (n, x.shape[1] // k, *x.shape[2:])
            u = nets.hash_uniform(self.seed, self.counter, x.numel() // k)  # k x numel, member m's own stream
            u = u.view(k, *member_shape).transpose(0, 1).reshape(x.shape)
            self.counter.add_(1)
        mask = (u < p).to(x.dtype)
        return x * mask / p if self.mode == "inverted" else x * mask


class PackedShortcutA(nn.Module):
    """Option-A shortcut per member: subsample, then zero-pad each member's own channels."""

    def __init__(self, shortcut: ShortcutA, k: int) -> None:
        super().__init__()
        self.k, self.stride, self.extra = k, shortcut.stride, shortcut.extra

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, ::self.stride, ::self.stride]
        n, _, h, w = x.shape
        x = F.pad(x.reshape(n, self.k, -1, h, w), (0, 0, 0, 0, self.extra // 2, self.extra - self.extra // 2))
        return x.reshape(n, -1, h, w)


def _packed(module: nn.Module, k: int, path: str) -> nn.Module | None:
    """The packed replacement of a leaf-like module, or None to recurse / keep it."""
    if isinstance(module, nn.Conv2d):
        return PackedConv2d(module, k)
    if isinstance(module, nn.Linear):
        return PackedLinear(module, k)
    if isinstance(module, BatchNorm):
        return PackedBatchNorm(module, k)
    if isinstance(module, nets.Dropout):
        return PackedDropout(module, k)
    if isinstance(module, ShortcutA):
        return PackedShortcutA(module, k)
    if isinstance(module, nn.Flatten):
        if module.start_dim != 1 or module.end_dim != -1:
            raise ValueError(f"grouped packing supports Flatten(1, -1) only, got {module!r} at {path!r}")
        return None
    if isinstance(module, _CHANNELWISE):
        return None
    has_children = any(True for _ in module.children())
    own = list(module.parameters(recurse=False)) + list(module.buffers(recurse=False))
    if not has_children or own:
        raise ValueError(f"grouped packing does not know how to pack {type(module).__name__} at {path or 'the root'!r}; "
                         f"use engine='vmap' for this model")
    return None


def pack_model(model: nn.Module, k: int) -> nn.Module:
    """A parameterless (meta-device) network that runs ``k`` copies of ``model`` on packed input.

    Its parameter and buffer names are ``model``'s; their shapes are the packed ones. Feed it
    through ``torch.func.functional_call`` with :func:`packed_tensors` of the stacked state.
    Raises ValueError naming the first module it cannot pack.
    """
    check_int(k, "k", minimum=1)
    packed = copy.deepcopy(model).to("meta")
    replacement = _packed(packed, k, "")
    if replacement is not None:
        return replacement.train(model.training)

    def visit(parent: nn.Module, prefix: str) -> None:
        for name, child in list(parent.named_children()):
            path = f"{prefix}.{name}" if prefix else name
            new = _packed(child, k, path)
            if new is not None:
                setattr(parent, name, new)
            else:
                visit(child, path)

    visit(packed, "")
    return packed.train(model.training)


def packed_tensors(packed: nn.Module, stacked: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Views of the stacked k x ... tensors in the packed network's shapes (no copies)."""
    shapes = {name: t.shape for name, t in [*packed.named_parameters(), *packed.named_buffers()]}
    return {name: t.view(shapes[name]) for name, t in stacked.items() if name in shapes}


def pack_input(x: torch.Tensor, memory_format: torch.memory_format = torch.contiguous_format) -> torch.Tensor:
    """k x N x C x ... member batches -> N x (k*C) x ... (member m in channels m*C..(m+1)*C-1),
    for 5-d input in ``memory_format`` (one copy either way)."""
    if memory_format == torch.channels_last and x.dim() == 5:
        k, n, c, h, w = x.shape
        return x.permute(1, 3, 4, 0, 2).reshape(n, h, w, k * c).permute(0, 3, 1, 2)
    return x.transpose(0, 1).flatten(1, 2)


def unpack_output(y: torch.Tensor, k: int) -> torch.Tensor:
    """N x (k*K) packed logits -> k x N x K."""
    return y.view(y.shape[0], k, -1).transpose(0, 1)


@torch.no_grad()
def check_packing(model: nn.Module, packed: nn.Module, params: dict, buffers: dict, probe: torch.Tensor) -> None:
    """Raise ValueError unless the packed network's eval-mode logits equal vmap's on ``probe``.

    ``probe`` is one N x ... float batch that every member sees; ``params``/``buffers`` are the
    stacked state. Eval mode leaves every buffer untouched.
    """
    from torch.func import functional_call, vmap

    k = next(iter(params.values())).shape[0]
    base = copy.deepcopy(model).to("meta").eval()
    reference = vmap(lambda p, b, x: functional_call(base, (p, b), (x,)), in_dims=(0, 0, None))(params, buffers, probe)
    was_training = packed.training
    packed.eval()
    try:
        state = packed_tensors(packed, {**params, **buffers})
        x = pack_input(probe.unsqueeze(0).expand(k, *probe.shape))
        got = unpack_output(torch.func.functional_call(packed, state, (x,)), k)
    finally:
        packed.train(was_training)
    scale = reference.abs().max().clamp_min(1.0)
    if got.shape != reference.shape or not torch.allclose(got, reference, atol=1e-4 * float(scale), rtol=1e-4):
        raise ValueError(f"grouped packing of {type(model).__name__} does not reproduce the members' outputs "
                         "(its forward mixes channels outside the layers grouped packing knows); "
                         "use engine='vmap' for this model")
