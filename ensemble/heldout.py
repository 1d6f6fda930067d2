"""What an ensemble learns after training from rows its members did not train on.

Every member has its own held-out rows: its out-of-bag rows when bootstrapping, else the
``validation_fraction`` it held out. The *held-out decision* of a row is the soft vote of the
members that held it out (each member's probabilities averaged over its test views), the
estimator's ``oob_decision_function_`` when bootstrapping. From it:

* ``tta="auto"`` chooses the test-time views: the candidate with the best held-out accuracy,
  the lowest NLL where accuracies tie, and the earlier candidate (no TTA first) where both tie,
  so a TTA that hurts on held-out rows is never chosen;
* ``calibration="temperature"`` fits one temperature to the held-out decision's logits
  (:mod:`ensemble.calibration`). A row's decision averages only the members that held it out
  (about 37% of them when bootstrapping), which is more over-confident than the whole ensemble,
  so the fitted temperature tends to overshoot the ensemble's best one.
"""
from __future__ import annotations

import numpy as np

from . import metrics
from .calibration import MIN_ROWS

__all__ = ["AUTO_TTA", "HeldOut", "choose_tta", "check_heldout_rows"]

# The candidates of tta="auto", simplest first: modes of augkit.tta.TTA_MODES (its views() refuses others).
AUTO_TTA = (None, "flip", "flip_shift", "ten_crop")


class HeldOut:
    """Held-out decisions of a fitted estimator on its prepared training rows ``X``, per TTA
    mode, computed once each."""

    def __init__(self, estimator, X: np.ndarray) -> None:
        self.estimator, self.X = estimator, X
        self._cache: dict = {}

    def decision(self, tta) -> tuple[np.ndarray, np.ndarray]:
        """``(decision N x K, seen bool N)``: rows no member held out are NaN and not seen."""
        if tta not in self._cache:
            est = self.estimator
            n, k = len(self.X), len(est.classes_)
            total, counts = np.zeros((n, k)), np.zeros(n)
            for model, rows in zip(est.estimators_, est.oob_indices_):
                if len(rows):
                    total[rows] += est._member_probas_prepared([model], self.X[rows], tta)[0].numpy()
                    counts[rows] += 1
            with np.errstate(invalid="ignore", divide="ignore"):
                self._cache[tta] = (total / counts[:, None], counts > 0)
        return self._cache[tta]


def choose_tta(heldout: HeldOut, y: np.ndarray, candidates=AUTO_TTA) -> tuple[object, dict]:
    """The best of ``candidates`` on the held-out rows (see the module docstring) and, per
    candidate name, its ``{"accuracy": ..., "nll": ...}`` there."""
    scores = {}
    for tta in candidates:
        decision, seen = heldout.decision(tta)
        proba = decision[seen] / decision[seen].sum(1, keepdims=True)  # exact sums for the checks
        scores[str(tta)] = {"accuracy": float((proba.argmax(1) == y[seen]).mean()),
                            "nll": metrics.nll(proba, y[seen])}
    best = max(candidates, key=lambda t: (scores[str(t)]["accuracy"], -scores[str(t)]["nll"],
                                          -candidates.index(t)))
    return best, scores


def check_heldout_rows(plans, needs: list[str]) -> None:
    """Raise ValueError when what ``needs`` names (e.g. ``["tta='auto'"]``) has too few held-out
    rows to learn from: no member holds rows out, or fewer than
    :data:`ensemble.calibration.MIN_ROWS` distinct rows in all."""
    if not needs:
        return
    rows = np.unique(np.concatenate([p.val_indices for p in plans]))
    if len(rows) < MIN_ROWS:
        raise ValueError(f"{' and '.join(needs)} learn from the rows the members hold out, but there are "
                         f"{len(rows)} (at least {MIN_ROWS} needed): with bootstrap=False set "
                         "validation_fraction > 0 (e.g. 0.05); with bagging use more training rows")
