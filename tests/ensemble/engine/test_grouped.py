"""ensemble.grouped: grouped-convolution packing runs k members exactly as vmap (and as each member alone) does."""
import copy

import pytest
import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

import nets
from ensemble.engine.grouped import check_packing, pack_input, pack_model, packed_tensors, unpack_output

K = 3


def _members(make):
    torch.manual_seed(0)
    models = [make() for _ in range(K)]
    for i, model in enumerate(models):
        nets.set_dropout_seed(model, 100 + i)
    return models


def _vmap_run(models, x):
    params, buffers = stack_module_state(models)
    base = copy.deepcopy(models[0]).to("meta")
    out = vmap(lambda p, b, xb: functional_call(base, (p, b), (xb,)), randomness="different")(params, buffers, x)
    return out, params, buffers


def _grouped_run(models, x):
    params, buffers = stack_module_state(models)
    net = pack_model(models[0], K)
    out = unpack_output(functional_call(net, packed_tensors(net, {**params, **buffers}), (pack_input(x),)), K)
    return out, params, buffers


@pytest.mark.parametrize("make, shape", [
    (lambda: nets.SmallCNN((3, 8, 8), 5, widths=(4, 6), p_keep=0.6), (3, 8, 8)),
    (lambda: nets.ResNet20((3, 8, 8), 5, width=4, p_keep=0.8, shortcut="A"), (3, 8, 8)),
    (lambda: nets.ResNet20((3, 8, 8), 5, width=4, shortcut="B"), (3, 8, 8)),
    (lambda: nets.FastCNN((3, 9, 9), 5, widths=(4, 6, 8), stem=3, p_keep=0.5), (3, 9, 9)),
    (lambda: nets.MLP((12,), 4, widths=(7, 5), batch_norm=True, p_keep=0.5), (12,)),
    (lambda: nets.MLP((2, 3, 3), 4, widths=(6,), activation="tanh"), (2, 3, 3)),
], ids=["smallcnn", "resnet20-A", "resnet20-B", "fastcnn", "mlp-bn-dropout", "mlp-image-input"])
def test_grouped_training_step_equals_vmap(make, shape):
    """Logits, gradients, BatchNorm statistics and dropout counters after one training forward."""
    x = torch.randn(K, 6, *shape)
    results = []
    for run in (_vmap_run, _grouped_run):
        models = _members(make)
        out, params, buffers = run(models, x)
        (out * torch.randn(out.shape, generator=torch.Generator().manual_seed(1))).sum().backward()
        results.append((out.detach(), {n: p.grad for n, p in params.items()}, buffers))
    (out_v, grad_v, buf_v), (out_g, grad_g, buf_g) = results
    assert out_g.shape == (K, 6, out_v.shape[-1])
    torch.testing.assert_close(out_g, out_v, atol=1e-5, rtol=1e-4)
    for name in grad_v:
        torch.testing.assert_close(grad_g[name], grad_v[name], atol=1e-5, rtol=1e-4, msg=name)
    for name in buf_v:
        torch.testing.assert_close(buf_g[name], buf_v[name], atol=1e-6, rtol=1e-5, msg=name)
    counters = [n for n in buf_v if n.endswith("counter")]
    assert all(int(buf_g[n].sum()) == K for n in counters)  # every member's dropout stream advanced once


def test_packed_parameters_are_views_of_the_stacked_tensors():
    models = _members(lambda: nets.SmallCNN((3, 8, 8), 5, widths=(4,)))
    params, buffers = stack_module_state(models)
    net = pack_model(models[0], K)
    packed = packed_tensors(net, {**params, **buffers})
    conv = packed["layers.0.weight"]
    assert conv.shape == (K * 4, 3, 3, 3) and conv.data_ptr() == params["layers.0.weight"].data_ptr()
    assert net.layers[0].groups == K  # one grouped convolution for all members
    assert torch.equal(conv[4:8], models[1].layers[0].weight)  # member 1's filters are channels 4..7


def test_pack_input_puts_member_m_in_its_own_channel_block():
    x = torch.arange(K * 2 * 3 * 1 * 1, dtype=torch.float32).view(K, 2, 3, 1, 1)
    packed = pack_input(x)
    assert packed.shape == (2, K * 3, 1, 1)
    for m in range(K):
        assert torch.equal(packed[:, 3 * m:3 * (m + 1)], x[m])
    logits = torch.arange(2 * K * 4, dtype=torch.float32).view(2, K * 4)
    assert torch.equal(unpack_output(logits, K)[1], logits[:, 4:8])


class _ChannelMixer(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 4, 3)

    def forward(self, x):
        x = self.conv(x)
        return x - x.mean(dim=1, keepdim=True)  # mixes all channels: wrong once members share them


class _Scale(nn.Module):
    def __init__(self):
        super().__init__()
        self.s = nn.Parameter(torch.ones(1))

    def forward(self, x):
        return x * self.s


def test_unknown_layer_is_named():
    with pytest.raises(ValueError, match=r"_Scale at '2'.*engine='vmap'"):
        pack_model(nn.Sequential(nn.Flatten(), nn.Linear(4, 3), _Scale()), K)
    with pytest.raises(ValueError, match=r"Softmax at '1'"):  # unknown leaf: may act across channels
        pack_model(nn.Sequential(nn.Linear(4, 3), nn.Softmax(dim=1)), K)


def test_forward_that_mixes_channels_is_caught_by_the_probe():
    models = _members(lambda: nn.Sequential(_ChannelMixer(), nn.Flatten(), nn.Linear(36, 3)))
    params, buffers = stack_module_state(models)
    net = pack_model(models[0], K)
    with pytest.raises(ValueError, match=r"does not reproduce the members' outputs.*engine='vmap'"):
        check_packing(models[0], net, params, buffers, torch.randn(4, 2, 5, 5))
