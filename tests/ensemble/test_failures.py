"""ensemble.failures: typed member failures and the divergence policy."""
import pickle

import pytest
import torch

import nets
from ensemble import MemberFailedError
from ensemble.engine.storage import finished_members
from tests.ensemble.small_ensembles import member_plans, small_ensemble


class _PoisonedMLP(nets.MLP):
    """An MLP whose weights are Inf when built under one chosen seed: its loss is NaN at once."""

    poisoned_seed = None

    def __init__(self, **kw):
        super().__init__(widths=(16,), **kw)
        if torch.initial_seed() == _PoisonedMLP.poisoned_seed:
            with torch.no_grad():
                next(m for m in self.modules() if isinstance(m, torch.nn.Linear)).weight.fill_(float("inf"))


@pytest.mark.parametrize("engine", ["joblib", "vmap"])
def test_a_diverging_member_is_named_and_the_others_are_unaffected(digits_tabular, tmp_path, engine):
    X, y = digits_tabular
    X, y = X[:300], y[:300]
    kw = dict(member=_PoisonedMLP, n_members=3, epochs=2, engine=engine)
    _PoisonedMLP.poisoned_seed = member_plans(300, 3)[1].seed
    with pytest.raises(MemberFailedError, match=r"member 1: training diverged at epoch 0") as info:
        small_ensemble(**kw).fit(X, y, checkpoint_dir=tmp_path)
    assert info.value.members == [1]
    assert sorted(finished_members(tmp_path)) == [0, 2]  # the others finished and are kept
    with pytest.warns(RuntimeWarning, match="dropping diverged members"):
        dropped = small_ensemble(on_diverge="drop", **kw).fit(X, y)
    assert dropped.member_indices_ == [0, 2]
    _PoisonedMLP.poisoned_seed = -1
    healthy = small_ensemble(**kw).fit(X, y)
    for a, b in zip(dropped.estimators_, [healthy.estimators_[0], healthy.estimators_[2]]):
        assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))


def test_member_failure_is_typed_and_pickles_with_its_members():
    error = MemberFailedError("member 3 failed: ValueError: boom", [3, 5])
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is MemberFailedError and again.members == [3, 5] and str(again) == str(error)
