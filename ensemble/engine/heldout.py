"""What an ensemble learns after training from rows its members did not train on.

Every member has its own held-out rows: its out-of-bag rows when bootstrapping, else the
``validation_fraction`` it held out. The *held-out decision* of a row is the soft vote of the
members that held it out (each member's probabilities averaged over its test views), the
estimator's ``oob_decision_function_`` when bootstrapping. From it:

* ``tta="auto"`` chooses the test-time views: the candidate with the best held-out accuracy,
  the lowest NLL where accuracies tie, and the earlier candidate (no TTA first) where both tie,
  so a TTA that hurts on held-out rows is never chosen;
* ``calibration="temperature"`` fits the temperature to the held-out decision's logits
  (:mod:`ensemble.calibration`). A row's decision averages only the members that held it out
  (about 37% of them when bootstrapping), which is more over-confident than the whole
  ensemble, so the fit models the temperature against that number of members
  (:meth:`HeldOut.members_averaged`) and applies it at all of them
  (:func:`ensemble.calibration.fit_temperature_law`).
"""
from __future__ import annotations

import numpy as np

from .. import metrics
from ..calibration import MIN_ROWS
from .prediction import Inference, member_probas, stream_member_probas
from .sources import ArraySource, StreamSource

__all__ = ["AUTO_TTA", "HeldOut", "choose_tta", "check_heldout_rows"]

# The candidates of tta="auto", simplest first: modes of augkit.tta.TTA_MODES (its views() refuses others).
AUTO_TTA = (None, "flip", "flip_shift", "ten_crop")


class HeldOut:
    """Held-out decisions of fitted members on their training rows, per TTA mode, computed once each.

    Parameters
    ----------
    models : sequence of nn.Module
        The members, in eval mode.
    heldout_rows : sequence of np.ndarray
        Per member, the rows it held out (its ``oob_indices_``).
    source : ArraySource or StreamSource
        The training rows.
    inference : Inference
        How the members read rows.
    n_classes : int
        K.
    modes : sequence
        The TTA modes the decisions will be asked for: a stream computes them all in one pass
        (one decode of each held-out photo for every mode and member).
    """

    def __init__(self, models, heldout_rows, source: ArraySource | StreamSource, inference: Inference,
                 n_classes: int, modes=(None,)) -> None:
        self.models, self.rows, self.source, self.inference = list(models), list(heldout_rows), source, inference
        self.n_classes, self.modes = n_classes, list(modes)
        self._cache: dict = {}

    def decision(self, tta) -> tuple[np.ndarray, np.ndarray]:
        """``(decision N x K, seen bool N)``: rows no member held out are NaN and not seen."""
        decision, members = self._averaged(tta)
        return decision, members > 0

    def members_averaged(self, tta) -> np.ndarray:
        """int64 N: how many members the decision of each row averages (0: not seen)."""
        return self._averaged(tta)[1]

    def _averaged(self, tta) -> tuple[np.ndarray, np.ndarray]:
        if tta not in self._cache:
            if isinstance(self.source, StreamSource):
                self._cache.update(self._stream_decisions([tta] + [m for m in self.modes if m != tta]))
            else:
                self._cache[tta] = self._array_decision(tta)
        return self._cache[tta]

    def _array_decision(self, tta) -> tuple[np.ndarray, np.ndarray]:
        n = len(self.source)
        total, counts = np.zeros((n, self.n_classes)), np.zeros(n, dtype=np.int64)
        for model, rows in zip(self.models, self.rows):
            if len(rows):
                total[rows] += member_probas([model], self.source.X[rows], tta, self.inference)[0].numpy()
                counts[rows] += 1
        return _mean_decision(total, counts)

    def _stream_decisions(self, modes: list) -> dict:
        n = len(self.source)
        masks = np.zeros((len(self.models), n), dtype=bool)
        for m, rows in enumerate(self.rows):
            masks[m, rows] = True
        totals = [np.zeros((n, self.n_classes)) for _ in modes]
        counts = np.zeros(n, dtype=np.int64)
        for chunk_rows, probas in stream_member_probas(self.models, self.source, np.flatnonzero(masks.any(0)), modes,
                                                       self.inference, masks=masks, desc="held-out rows"):
            mine = masks[:, chunk_rows]  # M x n
            counts[chunk_rows] += mine.sum(0)
            for total, proba in zip(totals, probas):
                total[chunk_rows] += np.where(mine[..., None], proba.double().numpy(), 0.0).sum(0)
        return {mode: _mean_decision(total, counts) for mode, total in zip(modes, totals)}


def _mean_decision(total: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(total / counts`` per row, NaN where no member held the row out; ``counts)``."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return total / counts[:, None], counts


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
