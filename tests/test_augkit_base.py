"""The transform base: one apply method, p and gating in one place, declared draws, the registry."""

import pytest
import torch

import augkit as A
from augkit.registry import registered
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


def test_a_name_clash_with_a_registered_transform_is_refused():
    with pytest.raises(TypeError, match=r"'Rotate' is already registered by augkit\.transforms\.geometry\.Rotate"):
        class Rotate(A.Transform):
            pass
    assert registered()["Rotate"] is A.Rotate
    with pytest.raises(TypeError, match="'Darken' is already registered"):
        class Darken(A.Transform):  # another class of the same name, elsewhere
            pass


def test_redefining_the_same_class_replaces_it():
    def define():
        class Brighten(A.Transform):
            def get_config(self):
                return {}
        return Brighten

    first, second = define(), define()  # e.g. a module re-imported: same module and qualified name
    assert registered()["Brighten"] is second is not first


def test_containers_and_transforms_without_p_draw_no_apply():
    x = torch.rand(3, 3, 8, 8)
    assert "apply" not in A.RandomResizedCrop(4)(x, generator=0, return_params=True)[1]
    assert A.Normalize(0.5, 0.2)(x, generator=0, return_params=True)[1] == {}
    assert sorted(A.TrivialAugmentWide()(x, generator=0, return_params=True)[1]) == ["magnitude", "op"]
