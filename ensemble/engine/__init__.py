"""The training engine behind :class:`~ensemble.BaggedNetClassifier`.

The estimator is a scikit-learn shell: it checks its parameters, turns ``X`` into a *batch
source* and hands it to :func:`ensemble.engine.orchestration.train` with the members' plans,
one :class:`~ensemble.engine.members.TrainSetup` and one :class:`~ensemble.engine.orchestration.Run`.
Everything else happens here, one idea per module:

- :mod:`~ensemble.engine.sources`: the batch sources. An :class:`~ensemble.engine.sources.ArraySource`
  holds in-memory rows (batches are index slices of one uint8 or float array: airbench's path);
  a :class:`~ensemble.engine.sources.StreamSource` decodes photos (a folder, a list of files, a
  map-style Dataset) on DataLoader workers, one decode per image per epoch for all members.
- :mod:`~ensemble.engine.plans` and :mod:`~ensemble.engine.poisson`: each member's seed and bag
  (a multinomial bootstrap of the rows, or the Poisson bootstrap of online bagging for streams).
- :mod:`~ensemble.engine.orchestration`: the members trained in this process or in joblib/dask
  workers, and every way a run can fail turned into one typed error.
- :mod:`~ensemble.engine.members`, :mod:`~ensemble.engine.vectorized`, :mod:`~ensemble.engine.grouped`:
  in-memory members trained one at a time (:func:`nets.fit`) or stacked into one model.
- :mod:`~ensemble.engine.streamed`: a stream's members, every decoded batch training each of them.
- :mod:`~ensemble.engine.budget`: a wall-time budget: the first plan, and the deadline the members
  re-plan their steps towards.
- :mod:`~ensemble.engine.storage` and :mod:`~ensemble.engine.checkpoints`: finished members, and a
  stream's epoch-boundary checkpoints, on disk (safetensors + JSON, atomic, no pickle).
- :mod:`~ensemble.engine.prediction` and :mod:`~ensemble.engine.heldout`: the members' probabilities
  over test-time views, and what the ensemble learns from its held-out rows.

Worker processes unpickle :func:`ensemble.engine.orchestration.train_unit`, so nothing in
this package imports scikit-learn at import time.
"""
