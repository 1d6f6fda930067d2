"""The transform base: one apply method, p and gating in one place, declared draws, input kinds, errors."""

import numpy as np
import pytest
import torch
from PIL import Image

import augkit as A
from augkit.sampling import Uniform


class Darken(A.Transform):
    """A user transform written the short way: a p, one declared draw, forward without inplace."""

    draws = (Uniform("factor", "factor_range", 1.0),)

    def __init__(self, factor_range=(0.2, 0.8), p=0.5):
        self.factor_range, self.p = tuple(factor_range), p
        self.seen = []

    def forward(self, x, params):
        self.seen.append(len(x))
        return x * params["factor"].to(x.dtype).view(-1, 1, 1, 1)

    def get_config(self):
        return {"factor_range": self.factor_range, "p": self.p}


def test_a_user_transform_needs_only_draws_and_forward():
    t = Darken()
    x = torch.rand(400, 1, 2, 2)
    out, params = t(x, generator=0, return_params=True)
    apply, factor = params["apply"], params["factor"]
    assert 0.4 < apply.float().mean() < 0.6
    assert (factor[~apply] == 1).all() and (factor[apply] >= 0.2).all() and (factor[apply] < 0.8).all()
    # The gate hands forward only the samples it applies to; the others pass through untouched.
    assert t.seen == [int(apply.sum())]
    assert torch.equal(out[~apply], x[~apply])
    torch.testing.assert_close(out[apply], x[apply] * factor[apply].float().view(-1, 1, 1, 1))
    assert torch.equal(t.replay(x, params), out)
    assert A.Transform.from_json(t.to_json()) == t


def test_one_apply_method_works_alone_in_compose_and_in_one_of():
    x = torch.rand(64, 3, 4, 4)
    for pipe in (Darken(p=1.0), A.Compose([Darken(p=1.0)]), A.OneOf([Darken(p=1.0), A.HorizontalFlip(p=1)]),
                 A.RandomApply([Darken(p=1.0)], p=0.5)):
        out, params = pipe(x, generator=1, return_params=True)
        assert out.shape == x.shape and torch.equal(pipe.replay(x, params), out)


def test_the_old_two_method_form_is_refused_at_class_definition():
    with pytest.raises(TypeError, match="one apply method, forward"):
        class Twice(A.Transform):
            def _forward(self, x, params, inplace):
                return x


def test_containers_and_transforms_without_p_draw_no_apply():
    x = torch.rand(3, 3, 8, 8)
    assert "apply" not in A.RandomResizedCrop(4)(x, generator=0, return_params=True)[1]
    assert A.Normalize(0.5, 0.2)(x, generator=0, return_params=True)[1] == {}
    assert sorted(A.TrivialAugmentWide()(x, generator=0, return_params=True)[1]) == ["magnitude", "op"]


def test_probability_selects_about_p_of_the_samples():
    _, params = A.HorizontalFlip(p=0.3)(torch.rand(2000, 1, 2, 2), generator=0, return_params=True)
    assert abs(params["apply"].float().mean().item() - 0.3) < 0.04
    _, params = A.Rotate(10, p=0.5)(torch.rand(200, 1, 2, 2), generator=0, return_params=True)
    assert torch.all((params["angle"] != 0) == params["apply"])


def test_empty_batch_returns_an_empty_batch():
    x = torch.zeros(0, 3, 20, 20, dtype=torch.uint8)
    out = A.Compose([A.RandomScaleCrop(16, (16, 20)), A.Rotate(5)])(x, generator=0)
    assert out.shape == (0, 3, 16, 16) and out.dtype == torch.uint8


@pytest.mark.parametrize("bad, error, message", [
    (torch.zeros(3, 8, 8), ValueError, "rank 4"),
    (torch.zeros(1, 2, 8, 8), ValueError, "C=2"),
    (torch.full((1, 3, 8, 8), 1.5), ValueError, r"\[0, 1\]"),
    (torch.full((1, 3, 8, 8), float("nan")), ValueError, r"\[0, 1\]"),
    (torch.zeros(1, 3, 8, 8, dtype=torch.int16), TypeError, "int16"),
    (np.zeros((1, 8, 8, 3), dtype=np.uint8), ValueError, "rank 3"),
    ([1, 2, 3], TypeError, "list"),
])
def test_bad_batches_are_refused_with_a_named_problem(bad, error, message):
    with pytest.raises(error, match=message):
        A.Rotate(10)(bad)


def test_pil_and_numpy_images_come_back_as_the_same_kind():
    rgb = np.random.default_rng(0).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    out = A.Rotate(0)(Image.fromarray(rgb))
    assert isinstance(out, Image.Image) and out.mode == "RGB" and np.array_equal(np.asarray(out), rgb)
    gray = Image.fromarray(rgb[:, :, 0])
    assert A.HorizontalFlip(p=1)(gray).mode == "L"
    out = A.HorizontalFlip(p=1)(rgb)
    assert isinstance(out, np.ndarray) and np.array_equal(out, rgb[:, ::-1])
    palette = Image.fromarray(rgb).convert("P")
    assert A.Rotate(5)(palette, generator=0).mode == "RGB"
    with pytest.raises(ValueError, match="RGBA"):
        A.Rotate(5)(Image.fromarray(rgb).convert("RGBA"))
    with pytest.raises(ValueError, match="I;16"):
        A.Rotate(5)(Image.fromarray(rgb[:, :, 0].astype(np.uint16)).convert("I;16"))
