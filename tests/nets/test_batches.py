"""nets.batches: uint8 or float batches to normalised float32 in the model's memory format."""
import numpy as np
import torch

from nets import MLP, SmallCNN, fit, predict_logits, set_dropout_seed, to_float_batch


def test_to_float_batch():
    x = torch.tensor([[[[0, 255], [51, 102]]]], dtype=torch.uint8)
    torch.testing.assert_close(to_float_batch(x), torch.tensor([[[[0.0, 1.0], [0.2, 0.4]]]]))
    f = torch.rand(2, 3, 4, 4, dtype=torch.float64)
    assert to_float_batch(f).dtype == torch.float32
    out = to_float_batch(f, normalize=((0.1, 0.2, 0.3), (0.5, 0.5, 2.0)))
    torch.testing.assert_close(out[:, 2], ((f[:, 2] - 0.3) / 2.0).float())
    calls = []

    def augment(batch, generator=None):
        calls.append((batch.dtype, float(batch.max()), generator))
        return batch.flip(-1)

    images = torch.randint(0, 256, (4, 3, 5, 5), dtype=torch.uint8)
    stats = ((0.1, 0.2, 0.3), (0.5, 0.25, 2.0))
    fused = to_float_batch(images, normalize=stats, memory_format=torch.channels_last)  # one pass from uint8
    mean, std = (torch.tensor(v).view(1, 3, 1, 1) for v in stats)
    torch.testing.assert_close(fused, (images.float() / 255 - mean) / std)
    assert fused.is_contiguous(memory_format=torch.channels_last) and not fused.is_contiguous()
    g = torch.Generator()
    out = to_float_batch(x, augment=augment, generator=g, normalize=(0.5, 0.5))
    assert calls == [(torch.float32, 1.0, g)]  # augment sees floats in [0, 1], before normalising
    torch.testing.assert_close(out, torch.tensor([[[[1.0, -1.0], [-0.2, -0.6]]]]))


# ---------------------------------------------------------------- memory format
def _color_digits(digits):
    """The digits as 3-channel images (each channel scaled differently), N x 3 x 8 x 8 uint8."""
    (X, y), _ = digits
    X3 = np.concatenate([X, (X * 0.7).astype(np.uint8), 255 - X], axis=1)
    return X3[:512], y[:512]


def test_channels_last_and_contiguous_training_give_the_same_member(digits):
    X, y = _color_digits(digits)
    models, layouts = {}, {}
    for channels_last in (True, False):
        torch.manual_seed(0)
        model = SmallCNN((3, 8, 8), 10, widths=(8, 16), p_keep=0.8)
        set_dropout_seed(model, 1)
        seen = layouts[channels_last] = []
        model.layers[0].register_forward_hook(lambda m, inputs, out, seen=seen: seen.append(
            (m.training, inputs[0].is_contiguous(memory_format=torch.channels_last) and not inputs[0].is_contiguous())))
        fit(model, (X, y), (X[:100], y[:100]), epochs=2, batch_size=64, lr=0.05, weight_decay=5e-4,
            normalize=((0.3, 0.2, 0.7), (0.4, 0.3, 0.4)), channels_last=channels_last, generator=3, verbose=0)
        models[channels_last] = model
    assert {flag for _, flag in layouts[True]} == {True}  # training, validation and recomputation batches
    assert {training for training, _ in layouts[True]} == {True, False}
    assert {flag for _, flag in layouts[False]} == {False}
    conv = models[True].layers[4].weight
    assert conv.is_contiguous(memory_format=torch.channels_last) and not conv.is_contiguous()
    for name, value in models[False].state_dict().items():
        torch.testing.assert_close(models[True].state_dict()[name], value, atol=1e-4, rtol=1e-4, msg=name)
    logits = predict_logits(models[True], X[:50])  # prediction feeds the model's layout
    torch.testing.assert_close(logits, predict_logits(models[False], X[:50]), atol=1e-4, rtol=1e-4)


def test_channels_last_leaves_models_without_convolutions_alone(digits):
    train, _ = digits
    model = MLP((1, 8, 8), 10, widths=(16,))
    seen = []
    model.layers[1].register_forward_hook(lambda m, inputs, out: seen.append(inputs[0].is_contiguous()))
    fit(model, train, epochs=1, channels_last=True, generator=0, verbose=0)
    assert seen and all(seen)


# ---------------------------------------------------------------- uint8 batches to augkit
def test_an_augkit_pipeline_gets_the_uint8_batch_and_exact_ones_match_the_float_path():
    import augkit as A

    images = torch.randint(0, 256, (6, 3, 9, 9), dtype=torch.uint8)
    stats = ((0.4, 0.5, 0.6), (0.2, 0.25, 0.3))
    exact = A.Compose([A.HorizontalFlip(), A.RandomCrop(9, padding=2, padding_mode="reflect")])
    seen = []

    class Spy(A.Compose):  # records the dtype the pipeline is called on
        def __call__(self, x, generator=None):
            seen.append(x.dtype)
            return super().__call__(x, generator=generator)

    spy = Spy(exact.transforms)
    on_uint8 = to_float_batch(images, spy, torch.Generator().manual_seed(0), stats, torch.channels_last)
    assert seen == [torch.uint8]
    floats = images.float() / 255  # the former path: float first, then the same draws
    reference = exact(floats, generator=torch.Generator().manual_seed(0))
    mean, std = (torch.tensor(v).view(1, 3, 1, 1) for v in stats)
    torch.testing.assert_close(on_uint8, (reference - mean) / std, rtol=0, atol=1e-5)
    assert on_uint8.is_contiguous(memory_format=torch.channels_last)
    # A resampling pipeline rounds to uint8 levels: within half a level of the float result.
    resampling = A.Rotate(degrees=20)
    on_uint8 = to_float_batch(images, resampling, torch.Generator().manual_seed(1))
    on_float = resampling(images.float() / 255, generator=torch.Generator().manual_seed(1))
    assert float((on_uint8 - on_float).abs().max()) <= 0.5 / 255 + 1e-6


def test_a_plain_callable_still_gets_floats_in_0_1():
    calls = []

    def augment(batch, generator=None):
        calls.append(batch.dtype)
        return batch

    to_float_batch(torch.zeros(2, 3, 4, 4, dtype=torch.uint8), augment)
    assert calls == [torch.float32]
