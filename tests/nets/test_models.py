"""nets.models: MLP, SmallCNN, ResNet20, FastCNN: shapes, configuration, vmap over stacked members."""
import copy

import pytest
import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

import nets
from nets import MLP, BatchNorm1d, BatchNorm2d, Dropout, FastCNN, ResNet20, SmallCNN, set_dropout_seed


def _count(model, cls):
    return sum(isinstance(m, cls) for m in model.modules())


def test_mlp_flattens_and_configures():
    model = MLP((1, 8, 8), 10, widths=(32, 16), activation="tanh", batch_norm=True, p_keep=0.5)
    assert model(torch.randn(4, 1, 8, 8)).shape == (4, 10)
    assert _count(model, BatchNorm1d) == 2 and _count(model, Dropout) == 2 and _count(model, nn.Tanh) == 2
    plain = MLP((64,), 3, widths=())
    assert plain(torch.randn(2, 64)).shape == (2, 3) and _count(plain, nn.Linear) == 1


def test_small_cnn_blocks():
    model = SmallCNN((3, 16, 16), 7, widths=(8, 16, 32), p_keep=0.5)
    assert model(torch.randn(2, 3, 16, 16)).shape == (2, 7)
    assert _count(model, nn.Conv2d) == 3 and _count(model, BatchNorm2d) == 3
    assert _count(model, nn.MaxPool2d) == 2 and _count(model, Dropout) == 1
    no_bn = SmallCNN((1, 8, 8), 2, widths=(4,), batch_norm=False)
    assert _count(no_bn, BatchNorm2d) == 0 and no_bn.layers[0].bias is not None


@pytest.mark.parametrize("shortcut,extra_convs", [("A", 0), ("B", 2)])
def test_resnet20_structure(shortcut, extra_convs):
    model = ResNet20((3, 32, 32), 10, shortcut=shortcut)
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    # 1 stem conv + 3 stages x 3 blocks x 2 convs + 1 linear = 20 weighted layers
    assert _count(model, nn.Conv2d) == 19 + extra_convs and _count(model, nn.Linear) == 1
    if shortcut == "A":  # He et al.'s CIFAR ResNet-20 has ~0.27M parameters
        assert 0.26e6 < sum(p.numel() for p in model.parameters()) < 0.28e6
    small = ResNet20((1, 8, 8), 2, width=4, batch_norm=False, p_keep=0.5)
    assert small(torch.randn(2, 1, 8, 8)).shape == (2, 2) and _count(small, BatchNorm2d) == 0


def test_he_init_is_the_default_and_configurable():
    torch.manual_seed(0)
    model = MLP((400,), 2, widths=(300,))
    assert model.layers[1].weight.var().item() == pytest.approx(2 / 400, rel=0.05)
    assert torch.all(model.layers[1].bias == 0)
    xavier = MLP((400,), 2, widths=(300,), init=("xavier", {"mode": "glorot"}))
    assert xavier.layers[1].weight.var().item() == pytest.approx(2 / 700, rel=0.05)


@pytest.mark.parametrize("make", [
    lambda: MLP((3, 8, 8), 4, widths=(16,), batch_norm=True, p_keep=0.7),
    lambda: SmallCNN((3, 8, 8), 4, widths=(4, 8), p_keep=0.7),
    lambda: ResNet20((3, 8, 8), 4, width=4, p_keep=0.7),
    lambda: ResNet20((3, 8, 8), 4, width=4, shortcut="B"),
    lambda: FastCNN((3, 8, 8), 4, widths=(4, 8), stem=3, p_keep=0.7),
])
def test_vmapped_training_forward_matches_each_member(make):
    members = []
    for k in range(3):
        torch.manual_seed(k)
        members.append(set_dropout_seed(make(), k))
    reference = copy.deepcopy(members)
    params, buffers = stack_module_state(members)
    base = copy.deepcopy(members[0])
    x = torch.randn(3, 5, 3, 8, 8)
    out = vmap(lambda p, b, xx: functional_call(base, (p, b), (xx,)))(params, buffers, x)
    for k, member in enumerate(reference):
        torch.testing.assert_close(out[k], member(x[k]), rtol=1e-4, atol=1e-5)
        for name, buf in member.named_buffers():
            torch.testing.assert_close(buffers[name][k], buf)


def test_fast_cnn_follows_airbench_shapes():
    model = FastCNN()
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size) for c in convs] == [
        (3, 24, (2, 2)), (24, 64, (3, 3)), (64, 64, (3, 3)), (64, 256, (3, 3)), (256, 256, (3, 3)),
        (256, 256, (3, 3)), (256, 256, (3, 3))]
    head = model.layers[-1]
    assert head.bias is None and head.weight.shape == (10, 256)
    x = torch.randn(4, 3, 32, 32)
    features = model.layers[:-1](x)
    torch.testing.assert_close(model(x), head(features) / 9)  # logits scaled by 1/9
    assert FastCNN((1, 17, 17), 3, widths=(4, 4, 4, 4))(torch.randn(2, 1, 17, 17)).shape == (2, 3)
    with pytest.raises(ValueError, match=r"too small for 4 blocks.*side >= 17"):
        FastCNN((1, 16, 16), 3, widths=(4, 4, 4, 4))


def test_bad_model_arguments():
    with pytest.raises(ValueError, match="input_shape"):
        SmallCNN((32, 32), 10)
    with pytest.raises(ValueError, match="n_classes"):
        MLP((4,), 1)
    with pytest.raises(ValueError, match="activation"):
        MLP((4,), 2, activation="gelu")
    with pytest.raises(ValueError, match="shortcut"):
        ResNet20(shortcut="C")


@pytest.mark.parametrize("make", [lambda **kw: MLP((4,), 2, **kw), lambda **kw: SmallCNN(**kw),
                                  lambda **kw: ResNet20(**kw), lambda **kw: FastCNN(**kw)],
                         ids=["MLP", "SmallCNN", "ResNet20", "FastCNN"])
def test_p_keep_is_the_keep_probability_and_dropout_is_refused(make):
    model = make(p_keep=0.8)
    assert [m.p_keep for m in model.modules() if isinstance(m, Dropout)] and \
        all(m.p_keep == 0.8 for m in model.modules() if isinstance(m, Dropout))
    with pytest.raises(TypeError, match=r"\(dropout=\.\.\.\) was renamed: write p_keep=0.8 \(the probability of keeping"):
        make(dropout=0.8)
    with pytest.raises(TypeError, match="unexpected keyword argument 'widht'"):
        make(widht=3)


def test_fastcnn_airbench_options_and_data_init_in_fit(digits_images):
    images, labels = digits_images
    one = torch.as_tensor(images[:256]).permute(0, 3, 1, 2)
    X = torch.cat([one, one.flip(-1), one.transpose(-1, -2)], 1).contiguous()  # 3 distinct channels
    y = torch.as_tensor(labels[:256])
    model = nets.FastCNN((3, 8, 8), 10, widths=(8, 16), whiten=True, dirac=True, bn_scale=False)
    assert not model.layers[0].weight.requires_grad and model.layers[0].bias.requires_grad
    conv = model.layers[2]
    torch.testing.assert_close(conv.weight[:24, :, 1, 1], torch.eye(24)[:8] if conv.out_channels < 24
                               else torch.eye(24))  # dirac: identity on the first input channels
    gammas = [m.gamma for m in model.modules() if isinstance(m, nets.BatchNorm2d)]
    assert gammas and not any(g.requires_grad for g in gammas)
    before = model.layers[0].weight.clone()
    nets.fit(model, (X, y), epochs=1, batch_size=64, normalize=((0.3,), (0.4,)), norm_lr_scale=64.0,
             lr_schedule="triangular", lookahead=True, verbose=0, generator=0)
    stem = model.layers[0].weight
    assert not torch.equal(stem, before)  # set from the data, then frozen
    x = (X.float() / 255 - 0.3) / 0.4  # all 256 rows: fewer than DATA_INIT_IMAGES
    torch.testing.assert_close(stem, nets.whitening.whitening_filters(x).to(stem), atol=1e-5, rtol=1e-4)
    assert all(torch.equal(g, torch.ones_like(g)) for g in gammas)  # frozen scales
    with pytest.raises(ValueError, match="whitened 2x2 stem has 2 C 4 = 24 channels"):
        nets.FastCNN(whiten=True, stem=16)


def test_fastcnn_bn_eps_reaches_every_batchnorm():
    norms = [m for m in nets.FastCNN(bn_eps=1e-12).modules() if isinstance(m, nets.BatchNorm2d)]
    assert len(norms) == 6 and all(m.eps == 1e-12 for m in norms)
    assert all(m.eps == 1e-5 for m in nets.FastCNN().modules() if isinstance(m, nets.BatchNorm2d))
