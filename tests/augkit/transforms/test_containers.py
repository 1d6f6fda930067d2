"""Compose / RandomApply / OneOf: replay, seeds, JSON round trip, container semantics."""

import json

import numpy as np
import pytest
import torch

import augkit as A
from tests._references import train_pipeline

# Ordered so that each run of geometric transforms shares interpolation and fill.
ALL_BUILT_INS = [
    A.HorizontalFlip(p=0.3), A.VerticalFlip(p=0.7), A.RandomScaleCrop((20, 24), (24, 30), p=0.9, fill="reflect"),
    A.Rotate((-5, 20), fill="reflect"), A.PCALighting.imagenet(sigma=0.2),
    A.Translate(0.1, (0, 3), unit="pixels"), A.LensDistortion(0.1, (0, 0.05)),
    A.GaussianNoise((0.01, 0.05)), A.Stretch((0.9, 1.2), 0.1, interpolation="nearest"),
    A.RandomApply([A.Rotate(10), A.GaussianNoise(0.02)], p=0.4), A.Shear(10, 5, fill="border"),
    A.OneOf([A.Shear(5), A.Compose([A.Stretch(0.1), A.HorizontalFlip()])], weights=(1, 3)),
    A.Normalize((0.5, 0.4, 0.3), (0.2, 0.2, 0.2)),
]


def test_same_seed_same_output_different_seed_different_output():
    x = torch.randint(0, 256, (8, 3, 32, 32), dtype=torch.uint8)
    pipe = train_pipeline()
    assert torch.equal(pipe(x, generator=3), pipe(x, generator=torch.Generator().manual_seed(3)))
    assert not torch.equal(pipe(x, generator=3), pipe(x, generator=4))


def test_replay_is_exact_and_applies_to_a_second_batch():
    x = torch.rand(6, 3, 36, 36)
    pipe = train_pipeline()
    out, params = pipe(x, generator=0, return_params=True)
    assert torch.equal(pipe.replay(x, params), out)
    # The geometric part replayed on a "mask" (here: the image itself, nearest) moves it identically.
    geo = A.Compose([A.RandomScaleCrop(32, (32, 40)), A.HorizontalFlip(), A.Rotate(15)])
    warped, geo_params = geo(x, generator=1, return_params=True)
    again = geo.replay(x.clone(), geo_params)
    assert torch.equal(warped, again)
    with pytest.raises(ValueError, match="drawn for 6 samples but the batch has 5"):
        pipe.replay(x[:5], params)


def test_params_are_json_inspectable_per_transform():
    _, params = train_pipeline()(torch.rand(4, 3, 32, 32), generator=0, return_params=True)
    assert [sorted(p) for p in params["transforms"]] == [
        ["apply", "left", "length", "top"], ["apply"], ["alpha", "apply"], ["angle", "apply"],
        ["apply", "seed", "sigma"]]


@pytest.mark.parametrize("transform", ALL_BUILT_INS, ids=lambda t: type(t).__name__)
def test_json_round_trip_of_every_built_in(transform):
    pipe = A.Compose([transform])
    text = pipe.to_json()
    json.loads(text)  # plain JSON
    back = A.Compose.from_json(text)
    assert back == pipe and back.to_json() == text
    x = torch.randint(0, 256, (5, 3, 32, 32), dtype=torch.uint8)
    assert torch.equal(back(x, generator=11), pipe(x, generator=11))


def test_whole_pipeline_round_trips_and_from_json_checks_the_class():
    pipe = A.Compose(ALL_BUILT_INS)
    assert A.Compose.from_json(pipe.to_json()) == pipe
    assert isinstance(A.Transform.from_json(A.Rotate(3).to_json()), A.Rotate)
    with pytest.raises(ValueError, match="not a Compose"):
        A.Compose.from_json(A.Rotate(3).to_json())
    with pytest.raises(ValueError, match="unknown transform name 'Blur'"):
        A.Compose.from_json('{"name": "Blur"}')


def test_everything_in_one_pipeline_runs_on_uint8_and_float():
    pipe = A.Compose(ALL_BUILT_INS)
    for x in (torch.randint(0, 256, (7, 3, 32, 40), dtype=torch.uint8), torch.rand(7, 3, 32, 40)):
        out = pipe(x, generator=0)
        assert out.shape == (7, 3, 20, 24) and out.dtype == torch.float32


def test_random_apply_probability_and_subset():
    x = torch.rand(200, 1, 8, 8)
    ra = A.RandomApply([A.GaussianNoise(0.1)], p=0.3)
    out, params = ra(x, generator=0, return_params=True)
    changed = (out != x).flatten(1).any(1)
    assert torch.equal(changed, params["apply"])
    assert 0.2 < params["apply"].float().mean() < 0.4
    assert torch.equal(A.RandomApply([A.Rotate(30)], p=0.0)(x), x)
    with pytest.raises(ValueError, match="keep the image shape"):
        A.RandomApply([A.RandomScaleCrop(4, (8, 8))])(x)


def test_one_of_chooses_by_weight_and_applies_one_child():
    x = torch.rand(300, 1, 6, 6)
    one = A.OneOf([A.HorizontalFlip(p=1), A.VerticalFlip(p=1)], weights=[1, 2])
    out, params = one(x, generator=0, return_params=True)
    choice = params["choice"]
    assert abs((choice == 1).float().mean().item() - 2 / 3) < 0.07
    assert torch.equal(out[choice == 0], x[choice == 0].flip(-1))
    assert torch.equal(out[choice == 1], x[choice == 1].flip(-2))
    assert torch.equal(one.replay(x, params), out)
    with pytest.raises(ValueError, match="same output shape"):
        A.OneOf([A.RandomScaleCrop(4, (6, 6)), A.Rotate(3)])(x)
    with pytest.raises(ValueError, match="not all 0"):
        A.OneOf([A.Rotate(3)], weights=[0])


def test_normalize_must_be_last_and_type_checks():
    with pytest.raises(ValueError, match="must be the last"):
        A.Compose([A.Normalize(0.5, 0.2), A.Rotate(3)])
    with pytest.raises(TypeError, match="augkit transforms"):
        A.Compose([lambda x: x])


def test_member_generators_from_a_seed_sequence_give_independent_streams():
    x = torch.rand(4, 3, 32, 32)
    children = np.random.SeedSequence(0).spawn(2)
    gens = [torch.Generator().manual_seed(int(c.generate_state(1)[0])) for c in children]
    a, b = (train_pipeline()(x, generator=g) for g in gens)
    assert not torch.equal(a, b)
