"""The CUDA paths: the same results on the GPU as on the CPU. Skipped without CUDA.

These run on a GPU machine through ``benchmarks/gpu_lease.sh`` (which carries pytest there);
on the CPU-only CI they skip with the reason below.

Why one file at the top of ``tests/`` and not one per package: a GPU is lent for minutes at a
time, and the lease script runs exactly this file, so every CUDA path of augkit, nets and
ensemble is checked in one short run; split by package, a lease would have to name each piece.
"""
import functools

import numpy as np
import pytest
import torch

import augkit as A
import nets
from ensemble import BaggedNetClassifier
from ensemble.engine.members import TrainSetup
from ensemble.engine.plans import MemberPlan
from ensemble.engine.vectorized import train_vectorized
from ensemble.settings import resolve_engine, training_devices

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

cnn = functools.partial(nets.SmallCNN, widths=(8, 16), p_keep=0.7)


@pytest.fixture
def exact_float32():
    """No TF32 and deterministic cuDNN, so that GPU and CPU agree to float32 rounding."""
    precision = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("highest")
    try:
        with torch.backends.cudnn.flags(enabled=True, benchmark=False, deterministic=True, allow_tf32=False):
            yield
    finally:
        torch.set_float32_matmul_precision(precision)


@pytest.mark.parametrize("vectorize", ["vmap", "grouped"])
def test_vectorised_members_on_cuda_equal_those_on_cpu(digits_images, exact_float32, vectorize):
    images, y = digits_images
    X = np.ascontiguousarray(images[:256].transpose(0, 3, 1, 2))
    y = y[:256].astype(np.int64)
    plans = [MemberPlan(index=i, seed=10 + i, train_indices=np.arange(256), val_indices=np.arange(0))
             for i in range(3)]
    outcomes = {}
    for device in ("cpu", "cuda"):
        config = nets.TrainConfig(epochs=2, batch_size=32, lr=0.05, momentum=0.9, optimizer="sgd", weight_decay=5e-4,
                                  lr_schedule="onecycle", normalize=((0.3,), (0.4,)), device=device, verbose=0)
        setup = TrainSetup(factory=cnn, input_shape=(1, 8, 8), n_classes=10, early_stopping=False, patience=2,
                           strategy=vectorize, config=config)
        outcomes[device] = train_vectorized(plans, X, y, setup)
    for i in range(3):
        cpu, gpu = outcomes["cpu"][i].record.state, outcomes["cuda"][i].record.state
        for name in cpu:
            assert gpu[name].device.type == "cpu"  # records come back on the CPU
            torch.testing.assert_close(gpu[name].float(), cpu[name].float(), atol=1e-4, rtol=1e-3, msg=name)


def test_augmentation_pipeline_on_cuda_with_a_device_generator():
    geometry_and_color = [A.RandomScaleCrop(size=32, scale=(32, 40)), A.HorizontalFlip(),
                           A.PCALighting.imagenet(sigma=0.1), A.Rotate(degrees=15),
                           A.Translate(x=2, y=2, unit="pixels")]
    batch = torch.rand(64, 3, 32, 32, device="cuda")
    pipe = A.Compose(geometry_and_color + [A.GaussianNoise(sigma=0.03)])
    out, params = pipe(batch, generator=torch.Generator(device="cuda").manual_seed(0), return_params=True)
    assert out.device.type == "cuda" and out.shape == batch.shape and torch.isfinite(out).all()
    torch.testing.assert_close(pipe.replay(batch, params), out)
    # Parameters drawn on the GPU replay on the CPU to the same images (noise aside: torch's
    # CPU and CUDA generators draw different normals from one seed).
    pipe = A.Compose(geometry_and_color)
    out, params = pipe(batch, generator=torch.Generator(device="cuda").manual_seed(1), return_params=True)
    torch.testing.assert_close(pipe.replay(batch.cpu(), params), out.cpu(), atol=2e-4, rtol=1e-3)


def test_estimator_on_cuda_fits_predicts_with_tta_and_round_trips(digits_images, tmp_path):
    images, y = digits_images
    clf = BaggedNetClassifier(member=cnn, n_members=3, epochs=6, lr=0.1, device="cuda", random_state=0, verbose=0,
                              augment=A.Translate(x=1, y=1, unit="pixels"),
                              tta="flip_shift", precision="bfloat16", engine="grouped")
    assert resolve_engine(clf.engine, training_devices(clf.device)) == "grouped"
    clf.fit(images[:800], y[:800])
    proba = clf.predict_proba(images[800:1000])  # 10 flip + shift views, made on the GPU
    assert proba.shape == (200, 10) and np.allclose(proba.sum(1), 1, atol=1e-5)
    plain = clf.predict(images[800:1000], tta=None)  # mirrored digits are other digits: score without views
    assert (plain == y[800:1000]).mean() > 0.5  # chance: 0.1
    clf.save(tmp_path / "model")
    again = BaggedNetClassifier.load(tmp_path / "model")
    np.testing.assert_allclose(again.predict_proba(images[800:1000]), proba, atol=1e-5)
