"""A small, quick ensemble of MLPs and its member plans, shared by the ensemble tests that train one."""
import functools

import nets
from ensemble import BaggedNetClassifier
from ensemble.engine.plans import draw_entropy, draw_plans

small_mlp = functools.partial(nets.MLP, widths=(64,))


def small_ensemble(**kw):
    """An unfitted BaggedNetClassifier of 4 small MLPs, 6 epochs, ``random_state=0``; ``kw`` overrides."""
    params = dict(member=small_mlp, n_members=4, epochs=6, batch_size=32, lr=0.05, random_state=0, verbose=0)
    params.update(kw)
    return BaggedNetClassifier(**params)


def member_plans(n, n_members):
    """The plans ``small_ensemble(n_members=n_members).fit`` draws over ``n`` rows (a member's seed
    depends only on ``random_state`` and its index)."""
    return draw_plans(n, n_members, draw_entropy(0), bootstrap=True, n_bag=n, validation_fraction=0.1, hold_out=True)
