"""nets.batchnorm: equality with torch, population statistics, scale-and-shift identity, vmap."""
import copy

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.func import functional_call, grad, stack_module_state, vmap
from torch.nn import functional as F

import nets
from nets import BatchNorm1d, BatchNorm2d, batch_norm


def _batches(shape_tail, sizes, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [3 * torch.randn(n, *shape_tail, generator=g) + 1.5 for n in sizes]


def _set_affine(ours, theirs, seed=1):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        ours.gamma.copy_(torch.rand(ours.num_features, generator=g) + 0.5)
        ours.beta.copy_(torch.randn(ours.num_features, generator=g))
        theirs.weight.copy_(ours.gamma)
        theirs.bias.copy_(ours.beta)


@pytest.mark.parametrize("ours_cls,theirs_cls,tail", [
    (BatchNorm2d, nn.BatchNorm2d, (4, 5, 6)),
    (BatchNorm1d, nn.BatchNorm1d, (4,)),
    (BatchNorm1d, nn.BatchNorm1d, (4, 7)),
])
@pytest.mark.parametrize("stats,momentum", [("exact", None), ("ema", 0.1)])
def test_matches_torch_train_and_eval(ours_cls, theirs_cls, tail, stats, momentum):
    ours = ours_cls(4, stats=stats)
    theirs = theirs_cls(4, momentum=momentum)
    _set_affine(ours, theirs)
    for x in _batches(tail, sizes=(8, 3, 13, 5)):  # different batch sizes: exact mode must weight per batch
        torch.testing.assert_close(ours(x), theirs(x), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(ours.running_mean, theirs.running_mean)
    torch.testing.assert_close(ours.running_var, theirs.running_var)
    ours.eval(), theirs.eval()
    x = _batches(tail, sizes=(6,), seed=9)[0]
    torch.testing.assert_close(ours(x), theirs(x), rtol=1e-5, atol=1e-5)


@settings(max_examples=25, deadline=None)
@given(sizes=st.lists(st.integers(2, 9), min_size=1, max_size=5), stats=st.sampled_from(["exact", "ema"]),
       momentum=st.floats(0.01, 1.0), seed=st.integers(0, 2**16))
def test_running_statistics_match_torch_for_any_batch_sizes(sizes, stats, momentum, seed):
    ours = BatchNorm2d(3, stats=stats, momentum=momentum)
    theirs = nn.BatchNorm2d(3, momentum=None if stats == "exact" else momentum)
    for x in _batches((3, 2, 2), sizes, seed=seed):
        torch.testing.assert_close(ours(x), theirs(x), rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(ours.running_mean, theirs.running_mean)
    torch.testing.assert_close(ours.running_var, theirs.running_var)


def test_exact_population_statistics_formula():
    bn = BatchNorm2d(2, stats="exact")
    batches = _batches((2, 3, 3), sizes=(4, 4, 4))
    for x in batches:
        bn(x)
    m = 4 * 3 * 3
    means = torch.stack([x.mean(dim=(0, 2, 3)) for x in batches])
    variances = torch.stack([x.var(dim=(0, 2, 3), correction=0) for x in batches])
    torch.testing.assert_close(bn.running_mean, means.mean(0))  # E[x] = mean of batch means
    torch.testing.assert_close(bn.running_var, m / (m - 1) * variances.mean(0))  # Var[x] = m/(m-1) E[sigma_B^2]
    assert bn.num_batches_tracked.item() == 3


def test_training_output_is_normalised_with_biased_variance():
    bn = BatchNorm1d(3, eps=0.0 + 1e-12)
    y = bn(_batches((3,), sizes=(10,))[0])
    torch.testing.assert_close(y.mean(0), torch.zeros(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(y.var(0, correction=0), torch.ones(3), atol=1e-4, rtol=0)


def test_scale_and_shift_identity_recovers_input():
    x = _batches((3, 4, 4), sizes=(5,))[0]
    mean, var = x.mean(dim=(0, 2, 3)), x.var(dim=(0, 2, 3), correction=0)
    bn = BatchNorm2d(3, eps=1e-5)
    with torch.no_grad():
        bn.gamma.copy_(torch.sqrt(var + bn.eps))  # gamma = sqrt(Var)
        bn.beta.copy_(mean)                       # beta = E
    torch.testing.assert_close(bn(x), x, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(batch_norm(x, mean, var, torch.sqrt(var + 1e-5), mean, 1e-5), x,
                               rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("stats", ["exact", "ema"])
def test_vmap_over_stacked_members_matches_each_member(stats):
    net = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), BatchNorm2d(3, stats=stats), nn.ReLU(),
                        nn.Flatten(), nn.Linear(3 * 5 * 5, 4), BatchNorm1d(4, stats=stats))
    members = []
    for k in range(3):
        torch.manual_seed(k)
        members.append(copy.deepcopy(net).apply(lambda m: m.reset_parameters() if hasattr(m, "reset_parameters") else None))
    reference = copy.deepcopy(members)
    params, buffers = stack_module_state(members)
    xs = [torch.randn(3, n, 2, 5, 5, generator=torch.Generator().manual_seed(n)) for n in (6, 4)]
    net.train()
    for x in xs:  # two training steps with different batch sizes
        out = vmap(lambda p, b, xx: functional_call(net, (p, b), (xx,)))(params, buffers, x)
        for k, member in enumerate(reference):
            torch.testing.assert_close(out[k], member(x[k]), rtol=1e-5, atol=1e-5)
    for k, member in enumerate(reference):
        for name, buf in member.named_buffers():
            torch.testing.assert_close(buffers[name][k], buf)
    assert buffers["1.num_batches_tracked"].tolist() == [2, 2, 2]


def test_vmapped_gradients_match_each_member():
    torch.manual_seed(0)
    members = [nn.Sequential(nn.Linear(5, 6), BatchNorm1d(6), nn.ReLU(), nn.Linear(6, 3)) for _ in range(2)]
    reference = copy.deepcopy(members)
    params, buffers = stack_module_state(members)
    base = copy.deepcopy(members[0])
    x, y = torch.randn(2, 8, 5), torch.randint(0, 3, (2, 8))

    def loss(p, b, xx, yy):
        return F.cross_entropy(functional_call(base, (p, b), (xx,)), yy)

    grads = vmap(grad(loss))(params, buffers, x, y)
    for k, member in enumerate(reference):
        F.cross_entropy(member(x[k]), y[k]).backward()
        for name, p in member.named_parameters():
            torch.testing.assert_close(grads[name][k], p.grad)
        torch.testing.assert_close(buffers["1.running_var"][k], member[1].running_var)


def test_bad_arguments():
    with pytest.raises(ValueError, match="stats"):
        BatchNorm2d(3, stats="median")
    with pytest.raises(ValueError, match="momentum"):
        BatchNorm2d(3, stats="ema", momentum=0.0)
    with pytest.raises(ValueError, match="num_features"):
        BatchNorm1d(0)
    with pytest.raises(ValueError, match="shape"):
        BatchNorm2d(3)(torch.randn(2, 3, 4))
    with pytest.raises(ValueError, match="more than 1 value"):
        BatchNorm1d(3)(torch.randn(1, 3))


def test_fit_recomputes_population_statistics_with_the_final_weights():
    """Algorithm 2 of the BatchNorm paper: E[x] from the trained network, not from the moving weights."""
    from nets import BatchNorm1d, fit
    from nets.batches import population_batches

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), BatchNorm1d(3), torch.nn.Linear(3, 2))
    bn = model[1]
    seen = []  # batch means of BatchNorm's input while training
    bn.register_forward_hook(lambda m, inputs, out: seen.append(inputs[0].detach().mean(0)) if m.training else None)
    X, y = torch.randn(64, 4), torch.randint(0, 2, (64,))
    fit(model, (X, y), epochs=3, batch_size=16, lr=0.1, generator=0, verbose=0)
    batches = list(population_batches(X, 16))
    assert len(batches) == 4 and sorted(torch.cat(batches).sum(1).tolist()) == sorted(X.sum(1).tolist())
    with torch.no_grad():
        expected = torch.stack([model[0](b).mean(0) for b in batches]).mean(0)
        variances = torch.stack([model[0](b).var(0) for b in batches]).mean(0)  # unbiased per batch
    torch.testing.assert_close(bn.running_mean, expected)
    torch.testing.assert_close(bn.running_var, variances)
    last_epoch = torch.stack(seen[-4 - 4:-4]).mean(0)  # the training epoch's average (before recomputing)
    assert not torch.allclose(bn.running_mean, last_epoch)
    assert not bn.training and not model.training


def test_recompute_sets_every_batchnorm_to_exact_averages_and_leaves_dropout_alone():
    from nets import BatchNorm1d, Dropout, recompute_population_statistics, set_dropout_seed

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 6), BatchNorm1d(6, stats="exact"), Dropout(0.5), torch.nn.Linear(6, 6),
                                BatchNorm1d(6), torch.nn.Linear(6, 5), torch.nn.BatchNorm1d(5), torch.nn.Linear(5, 2))
    set_dropout_seed(model, 3)
    model.train()
    batches = [torch.randn(8, 4) for _ in range(3)]
    ref = copy.deepcopy(model)  # its BatchNorms in training mode (batch statistics), its Dropout off
    ref[2].eval()
    with torch.no_grad():
        inputs = {1: [ref[0](b) for b in batches]}
        inputs[4] = [ref[3](ref[2](ref[1](h))) for h in inputs[1]]
        inputs[6] = [ref[5](ref[4](h)) for h in inputs[4]]
    recompute_population_statistics(model, batches)
    assert model.training and all(m.training for m in model.modules())  # flags restored
    assert model[2].counter.item() == 0  # dropout ran in eval mode: no masks drawn
    assert model[4].stats == "ema" and model[6].momentum == 0.1  # each layer keeps its own mode
    for i, seen in inputs.items():  # E[x] = mean of batch means, Var[x] = mean of unbiased batch variances
        torch.testing.assert_close(model[i].running_mean, torch.stack([h.mean(0) for h in seen]).mean(0))
        torch.testing.assert_close(model[i].running_var, torch.stack([h.var(0) for h in seen]).mean(0))
        assert model[i].num_batches_tracked.item() == 3


def test_batch_statistics_come_from_the_normalising_kernel():
    """mu_B and sigma_B^2 are read off the fused forward, not computed in a second pass."""
    from nets.batchnorm import batch_norm_training

    x = _batches((3, 4, 5), sizes=(6,))[0].requires_grad_()
    gamma, beta = torch.rand(3) + 0.5, torch.randn(3)
    y, mean, var = batch_norm_training(x, gamma, beta, 1e-5)
    torch.testing.assert_close(y, F.batch_norm(x, None, None, gamma, beta, training=True, eps=1e-5))
    torch.testing.assert_close(mean, x.detach().mean(dim=(0, 2, 3)))
    torch.testing.assert_close(var, x.detach().var(dim=(0, 2, 3), correction=0), rtol=1e-5, atol=1e-5)
    assert y.requires_grad and not mean.requires_grad and not var.requires_grad
    channels_last = x.detach().contiguous(memory_format=torch.channels_last)
    y_cl, mean_cl, _ = batch_norm_training(channels_last, gamma, beta, 1e-5)
    assert y_cl.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(y_cl, y.detach())
    torch.testing.assert_close(mean_cl, mean)


def test_a_plain_training_loop_leaves_correct_inference_statistics(digits_images):
    """No nets.fit: model.train(), SGD steps, model.eval(). With the default moving averages the
    eval-mode accuracy is within a few points of the accuracy with the statistics recomputed
    from the final weights (Algorithm 2); the exact average over all of training is far off."""
    from nets import SmallCNN, evaluate, recompute_population_statistics

    images, labels = digits_images
    X = torch.from_numpy(images.transpose(0, 3, 1, 2).copy()).float() / 255
    y = torch.from_numpy(labels).long()
    X_train, y_train, X_test, y_test = X[:1400], y[:1400], X[1400:], y[1400:]
    accuracy = {}
    for stats in ("ema", "exact"):
        torch.manual_seed(0)
        model = SmallCNN((1, 8, 8), 10, widths=(16, 32))
        for bn in (m for m in model.modules() if isinstance(m, BatchNorm2d)):
            assert bn.stats == "ema"  # the default
            bn.stats = stats
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        model.train()
        for _ in range(4):
            for idx in torch.randperm(1400).split(64):
                optimizer.zero_grad()
                F.cross_entropy(model(X_train[idx]), y_train[idx]).backward()
                optimizer.step()
        model.eval()
        as_trained = evaluate(model, X_test, y_test)[1]
        recompute_population_statistics(model, X_train.split(64))
        accuracy[stats] = as_trained, evaluate(model, X_test, y_test)[1]
    as_trained, recomputed = accuracy["ema"]
    assert recomputed > 0.85
    assert abs(as_trained - recomputed) < 0.05
    assert recomputed - accuracy["exact"][0] > 0.1  # what the old exact default left after a plain loop


def test_population_statistics_context_feeds_several_models_from_one_pass():
    from nets.batchnorm import population_statistics

    torch.manual_seed(0)
    models = [nets.SmallCNN((3, 8, 8), 3, widths=(4, 8)) for _ in range(2)]
    alone = [nets.SmallCNN((3, 8, 8), 3, widths=(4, 8)) for _ in range(2)]
    for a, m in zip(alone, models):
        a.load_state_dict(m.state_dict())
    batches = [torch.rand(5, 3, 8, 8) for _ in range(3)]
    with population_statistics(models[0]), population_statistics(models[1]):
        for x in batches:
            for m in models:
                m(x)
    for a, m in zip(alone, models):
        nets.recompute_population_statistics(a, batches)
        for (name, b1), (_, b2) in zip(a.named_buffers(), m.named_buffers()):
            torch.testing.assert_close(b1, b2, msg=name)
        assert m.training  # its train/eval flags are restored
