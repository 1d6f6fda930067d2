"""BaggedNetClassifier: bootstrap-bagged torch networks trained in parallel, voting with TTA."""
from __future__ import annotations

import dataclasses
import hashlib
import numbers
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

import joblib
import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_consistent_length, check_is_fitted, column_or_1d, validate_data
from tqdm.auto import tqdm

import augkit
import nets

from .inputs import InputSpec, as_image_array, is_image_input
from .members import MemberOutcome, MemberPlan, TrainSetup, build_member, threads_per_worker, train_unit
from .storage import MemberRecord, finished_members, read_json, write_json_atomic
from .voting import vote

__all__ = ["BaggedNetClassifier", "MemberFailedError", "FitInterrupted"]

_TTA = (None, "flip", "shift", "flip_shift", "ten_crop", "multi_scale")
# How joblib's loky backend, concurrent.futures and dask report a worker process that died.
_WORKER_DIED = ("TerminatedWorkerError", "BrokenProcessPool", "KilledWorker", "WorkerLostError")


class MemberFailedError(RuntimeError):
    """A member could not be trained (its worker died, or its loss diverged).

    Attributes: ``members`` — indices of the members concerned.
    """

    def __init__(self, message: str, members: list[int]):
        super().__init__(message)
        self.members = members


class FitInterrupted(KeyboardInterrupt):
    """Ctrl-C during ``fit``: workers are shut down; the message says how to resume."""


def _default_member(input_shape, n_classes):
    if len(input_shape) == 3:
        return nets.SmallCNN(input_shape=input_shape, n_classes=n_classes)
    return nets.MLP(input_shape=input_shape, n_classes=n_classes, widths=(128,))


class BaggedNetClassifier(ClassifierMixin, BaseEstimator):
    """A bagged ensemble of torch networks, following the scikit-learn estimator contract.

    Each of ``n_members`` members draws its own bootstrap sample of the training rows (or, with
    ``bootstrap=False``, trains on all rows from its own random initialisation: the "deep
    ensembles" recipe), trains with its own seeded random stream (initial weights, minibatch
    order, augmentation, dropout masks), early-stops on its own out-of-bag rows, and the members
    vote at prediction time. Members train in parallel worker processes through joblib (loky by
    default; ``joblib.parallel_config(backend="dask")`` sends them to a dask.distributed
    cluster unchanged) or, with ``engine="vectorized"``, all at once in one vmapped model.

    Parameters:
        member: callable ``member(input_shape=..., n_classes=...) -> nn.Module`` emitting logits
            (e.g. ``nets.SmallCNN`` or a ``functools.partial`` of it). ``None``: ``nets.MLP`` for
            tabular data, ``nets.SmallCNN`` for images.
        n_members: number of members.
        bootstrap: draw each member's rows with replacement (bagging); ``False`` trains every
            member on all rows (minus its ``validation_fraction`` held out for early stopping).
        max_samples: rows per bootstrap sample, a fraction of N (float) or a count (int).
        voting: ``"soft"`` (mean of probabilities) or ``"hard"`` (majority of argmaxes).
        weights: optional member weights for voting.
        epochs, batch_size, lr, momentum, nesterov, optimizer, weight_decay, lr_schedule,
            label_smoothing, precision: passed to :func:`nets.fit` for each member
            (``precision="bfloat16"``: bf16 autocast in the training forward, for GPUs).
        augment: an augkit pipeline applied to each training minibatch (images only).
        tta: default test-time views for prediction (images only): ``None``; ``"flip"``
            (identity + mirror); ``"shift"`` (identity + 4 shifts by ``max(1, side // 16)``
            pixels, for classes that flips change); ``"flip_shift"`` (those 5 views and their
            mirrors: 10); ``"ten_crop"`` (shorter side resized to
            1.125 x side, ten crops of side x side); ``"multi_scale"`` (ten crops at 5 scales
            1 ... 1.25 x side: 50 views); or a callable ``uint8 N x C x H x W -> N x V x C x H x W``.
        early_stopping: stop each member on its out-of-bag (or held-out) loss and restore its
            best snapshot; ``patience`` epochs without improvement.
        validation_fraction: rows each member holds out for early stopping when
            ``bootstrap=False``.
        engine: ``"joblib"`` (one member per worker process), ``"vectorized"`` (all members in
            one vmapped model; for GPUs), or ``"auto"`` (vectorized on CUDA, joblib on CPU).
        members_per_chunk: with the vectorized engine, train at most this many members at once.
            ``None``: all at once, halving the chunk (with a warning) whenever it runs out of
            device memory.
        vectorize: how the vectorized engine runs all members in one pass: ``"vmap"``
            (``torch.func.vmap`` over the stacked weights) or ``"grouped"`` (activations packed
            along channels, grouped convolutions; see :mod:`ensemble.grouped`). Same members up
            to float rounding; ``benchmarks/gpu.py`` measures which is faster on a device.
        on_diverge: ``"raise"`` — a member whose loss becomes NaN/Inf fails ``fit`` with an error
            naming it (after the others finish); ``"drop"`` — it is left out with a warning.
        n_jobs: worker processes for the joblib engine (``None`` = 1, ``-1`` = all cores).
            Each worker uses ``cores // n_jobs`` torch threads.
        backend: joblib backend name (``None`` = joblib's default or the active
            ``joblib.parallel_config``).
        device: torch device for training and prediction, or a list of devices: one worker
            process per device (members spread over them; with the vectorised engine each
            device trains its share of members at once). ``"cuda"`` on a machine with several
            GPUs means all of them. Prediction runs on the first.
        random_state: int, RandomState or None: seeds every member's stream.
        verbose: 0 silent; 1 a progress bar over members; 2 also per-epoch bars.

    Attributes:
        estimators_: list of trained members (``nn.Module``, eval mode).
        classes_: the class labels.
        bootstrap_indices_: per member, the row indices it trained on.
        oob_indices_: per member, its out-of-bag (or held-out) rows.
        oob_score_, oob_decision_function_: out-of-bag accuracy and probabilities
            (``bootstrap=True`` only).
        histories_: per member, its training history (dict).
        member_seeds_: per member, its torch seed.
        n_features_in_: number of features (tabular) or values per image.
    """

    def __init__(
        self,
        member: Callable[..., torch.nn.Module] | None = None,
        n_members: int = 5,
        *,
        bootstrap: bool = True,
        max_samples: float | int = 1.0,
        voting: str = "soft",
        weights=None,
        epochs: int = 20,
        batch_size: int = 128,
        lr: float = 0.05,
        momentum: float = 0.9,
        nesterov: bool = True,
        optimizer: str = "sgd",
        weight_decay: float = 5e-4,
        lr_schedule: str = "constant",
        label_smoothing: float = 0.0,
        precision: str = "float32",
        augment=None,
        tta: str | None = None,
        early_stopping: bool = True,
        patience: int = 5,
        validation_fraction: float = 0.1,
        engine: str = "auto",
        members_per_chunk: int | None = None,
        vectorize: str = "vmap",
        on_diverge: str = "raise",
        n_jobs: int | None = None,
        backend: str | None = None,
        device: str = "cpu",
        random_state=None,
        verbose: int = 1,
    ):
        self.member = member
        self.n_members = n_members
        self.bootstrap = bootstrap
        self.max_samples = max_samples
        self.voting = voting
        self.weights = weights
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.momentum = momentum
        self.nesterov = nesterov
        self.optimizer = optimizer
        self.weight_decay = weight_decay
        self.lr_schedule = lr_schedule
        self.label_smoothing = label_smoothing
        self.precision = precision
        self.augment = augment
        self.tta = tta
        self.early_stopping = early_stopping
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.engine = engine
        self.members_per_chunk = members_per_chunk
        self.vectorize = vectorize
        self.on_diverge = on_diverge
        self.n_jobs = n_jobs
        self.backend = backend
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ validation
    def _check_params(self) -> None:
        def positive_int(name):
            v = getattr(self, name)
            if not isinstance(v, numbers.Integral) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{name} must be a positive integer; got {v!r}")

        for name in ("n_members", "epochs", "batch_size", "patience"):
            positive_int(name)
        if self.voting not in ("soft", "hard"):
            raise ValueError(f"voting must be 'soft' or 'hard'; got {self.voting!r}")
        if self.engine not in ("auto", "joblib", "vectorized"):
            raise ValueError(f"engine must be 'auto', 'joblib' or 'vectorized'; got {self.engine!r}")
        if self.on_diverge not in ("raise", "drop"):
            raise ValueError(f"on_diverge must be 'raise' or 'drop'; got {self.on_diverge!r}")
        if self.tta not in _TTA and not callable(self.tta):
            raise ValueError(f"tta must be one of {_TTA} or a callable; got {self.tta!r}")
        if not (0.0 <= self.validation_fraction < 1.0):
            raise ValueError(f"validation_fraction must lie in [0, 1); got {self.validation_fraction!r}")
        for name in ("lr", "weight_decay", "momentum"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0; got {getattr(self, name)!r}")
        if self.weights is not None and len(self.weights) != self.n_members:
            raise ValueError(f"weights has {len(self.weights)} entries but n_members={self.n_members}")
        nets.train.check_label_smoothing(self.label_smoothing)
        nets.train.check_precision(self.precision)
        if self.vectorize not in ("vmap", "grouped"):
            raise ValueError(f"vectorize must be 'vmap' or 'grouped'; got {self.vectorize!r}")
        if self.members_per_chunk is not None and self.members_per_chunk < 1:
            raise ValueError(f"members_per_chunk must be >= 1 or None; got {self.members_per_chunk!r}")

    def _n_bag(self, n: int) -> int:
        m = self.max_samples
        if isinstance(m, numbers.Integral) and not isinstance(m, bool):
            if not 1 <= m <= n:
                raise ValueError(f"max_samples={m} must lie in [1, {n}] (the number of training rows)")
            return int(m)
        if not (isinstance(m, numbers.Real) and 0.0 < m <= 1.0):
            raise ValueError(f"max_samples must be an int in [1, N] or a float in (0, 1]; got {m!r}")
        return max(1, round(m * n))

    # ------------------------------------------------------------------ data preparation
    def _prepare_fit_data(self, X, y) -> tuple[np.ndarray, np.ndarray]:
        if is_image_input(X):
            if y is None:
                raise ValueError("y is required: BaggedNetClassifier is a supervised estimator")
            images, layout = as_image_array(X)
            y = column_or_1d(np.asarray(y), warn=True)
            check_consistent_length(images, y)
            self.input_spec_ = InputSpec("image", tuple(images.shape[1:]), layout)
            self.n_features_in_ = int(np.prod(images.shape[1:]))
            floats = images.astype(np.float32) / 255.0 if images.dtype == np.uint8 else images
            self.input_mean_ = floats.mean(axis=(0, 2, 3)).astype(np.float64)
            self.input_scale_ = np.maximum(floats.std(axis=(0, 2, 3)), 1e-6).astype(np.float64)
            prepared = images
        else:
            if self.augment is not None:
                raise ValueError("augment is for image input (N x H x W x C); got tabular X")
            X, y = validate_data(self, X, y, dtype=[np.float64, np.float32], y_numeric=False)
            self.input_spec_ = InputSpec("tabular", (X.shape[1],))
            # float64 statistics, so that a saved and reloaded ensemble standardises identically
            self.input_mean_ = X.mean(axis=0, dtype=np.float64)
            self.input_scale_ = _feature_scale(X.std(axis=0, dtype=np.float64))
            prepared = self._standardise(X)
        check_classification_targets(y)
        self.classes_, encoded = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(f"y holds 1 class ({self.classes_[0]!r}); a classifier needs at least 2 classes")
        return prepared, encoded.astype(np.int64)

    def _standardise(self, X: np.ndarray) -> np.ndarray:
        return ((X - self.input_mean_) / self.input_scale_).astype(np.float32)

    def _prepare_predict_data(self, X) -> np.ndarray:
        check_is_fitted(self, "estimators_")
        spec = self.input_spec_
        if spec.kind == "image":
            if not is_image_input(X):
                raise ValueError(f"this ensemble was fitted on images of shape {spec.shape} (C, H, W); "
                                 f"got an array of rank {np.ndim(X)}")
            images, _ = as_image_array(X, layout=spec.layout)
            if tuple(images.shape[1:]) != spec.shape:
                raise ValueError(f"X has images of shape {tuple(images.shape[1:])} (C, H, W) but this ensemble "
                                 f"was fitted on {spec.shape}")
            return images
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        return self._standardise(X)

    def _normalize(self):
        """Per-channel (mean, std) for image members; tabular data is standardised up front."""
        if self.input_spec_.kind != "image":
            return None
        return (tuple(float(v) for v in self.input_mean_), tuple(float(v) for v in self.input_scale_))

    # ------------------------------------------------------------------ bags and seeds
    def _plans(self, n: int, y: np.ndarray) -> list[MemberPlan]:
        entropy = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        plans = []
        for i, child in enumerate(np.random.SeedSequence(entropy).spawn(self.n_members)):
            rng = np.random.default_rng(child)
            seed = int(child.generate_state(1, dtype=np.uint32)[0])
            if self.bootstrap:
                train = np.sort(rng.integers(0, n, size=self._n_bag(n)))
                val = np.setdiff1d(np.arange(n), train)
            else:
                order = rng.permutation(n)
                n_val = round(self.validation_fraction * n) if self.early_stopping else 0
                n_val = min(n_val, n - 1)
                train, val = np.sort(order[n_val:]), np.sort(order[:n_val])
            plans.append(MemberPlan(index=i, seed=seed, train_indices=train, val_indices=val))
        return plans

    def _setup(self, checkpoint_dir, markers_dir, threads) -> TrainSetup:
        factory = self.member if self.member is not None else _default_member
        return TrainSetup(
            factory=factory,
            input_shape=self.input_spec_.shape,
            n_classes=len(self.classes_),
            fit_kwargs=dict(epochs=self.epochs, batch_size=self.batch_size, lr=self.lr, momentum=self.momentum,
                            nesterov=self.nesterov, optimizer=self.optimizer, weight_decay=self.weight_decay,
                            lr_schedule=self.lr_schedule, label_smoothing=self.label_smoothing,
                            precision=self.precision,
                            augment=self.augment, normalize=self._normalize(), device=self._devices()[0],
                            verbose=max(0, self.verbose - 1)),
            early_stopping=bool(self.early_stopping),
            patience=int(self.patience),
            threads=threads,
            checkpoint_dir=str(checkpoint_dir) if checkpoint_dir else None,
            markers_dir=markers_dir,
            vectorize=self.vectorize,
        )

    def _fingerprint(self, X: np.ndarray, y: np.ndarray) -> str:
        """Identifies a run (data and every setting that changes a member) for safe resuming."""
        h = hashlib.sha256()
        h.update(memoryview(np.ascontiguousarray(X)).cast("B"))
        h.update(str(X.shape).encode() + str(X.dtype).encode())
        h.update(y.tobytes())
        params = {k: v for k, v in self.get_params().items()
                  if k not in ("n_jobs", "backend", "verbose", "engine", "members_per_chunk", "vectorize", "device", "tta",
                               "voting", "weights", "on_diverge")}
        if hasattr(self.augment, "to_json"):
            params["augment"] = self.augment.to_json()
        h.update(repr(sorted((k, repr(v)) for k, v in params.items())).encode())
        return h.hexdigest()

    # ------------------------------------------------------------------ fit
    def fit(self, X, y, *, checkpoint_dir: str | os.PathLike | None = None, resume: bool = False):
        """Train the members.

        Args:
            X: ``N x D`` numbers, or images ``N x H x W x C`` / ``N x C x H x W`` (uint8 or
                float in [0, 1]).
            y: ``N`` class labels.
            checkpoint_dir: folder where each member is written (atomically) the moment it
                finishes; with ``resume=True`` members already there are loaded, not retrained.
            resume: reuse the finished members in ``checkpoint_dir`` (the folder must come from
                a run with the same data and settings).

        Returns:
            self
        """
        self._check_params()
        if resume and checkpoint_dir is None:
            raise ValueError("resume=True needs the checkpoint_dir of the interrupted run")
        X, y = self._prepare_fit_data(X, y)
        plans = self._plans(len(X), y)
        done: dict[int, MemberRecord] = {}
        if checkpoint_dir is not None:
            done = self._open_checkpoint(Path(checkpoint_dir), self._fingerprint(X, y), resume)
        todo = [p for p in plans if p.index not in done]
        outcomes = self._train(todo, X, y, checkpoint_dir, n_done=len(done))
        records = dict(done)
        diverged = []
        for plan, outcome in outcomes.items():
            if outcome.record is None:
                diverged.append((plan, outcome))
            else:
                records[plan] = outcome.record
        self._handle_divergence(diverged)
        self._set_members([records[i] for i in sorted(records)])
        if self.bootstrap:
            self._compute_oob(X, y)
        return self

    def _open_checkpoint(self, folder: Path, fingerprint: str, resume: bool) -> dict[int, MemberRecord]:
        folder.mkdir(parents=True, exist_ok=True)
        run_file = folder / "run.json"
        if run_file.exists():
            previous = read_json(run_file).get("fingerprint")
            if previous != fingerprint:
                raise ValueError(f"checkpoint_dir {folder} holds members of a different run (other data or "
                                 "settings); use an empty folder")
            if not resume and finished_members(folder):
                raise ValueError(f"checkpoint_dir {folder} already holds finished members of this run: pass "
                                 "resume=True to keep them, or empty the folder to train again")
        write_json_atomic(run_file, {"fingerprint": fingerprint})
        done = finished_members(folder) if resume else {}
        return {i: r for i, r in done.items() if i < self.n_members}

    def _engine(self) -> str:
        if self.engine != "auto":
            return self.engine
        return "vectorized" if str(self._devices()[0]).startswith("cuda") else "joblib"

    def _devices(self) -> list[str]:
        """Training devices: ``device`` as given (a list means one worker process per device);
        plain ``"cuda"`` on a machine with several GPUs means all of them."""
        if isinstance(self.device, (list, tuple)):
            if not self.device:
                raise ValueError("device is an empty list; name at least one device")
            return [str(d) for d in self.device]
        if str(self.device) == "cuda" and torch.cuda.is_available() and torch.cuda.device_count() > 1:
            return [f"cuda:{i}" for i in range(torch.cuda.device_count())]
        return [str(self.device)]

    def _predict_device(self) -> str:
        return self._devices()[0]

    def _train(self, todo: list[MemberPlan], X, y, checkpoint_dir, n_done: int) -> dict[int, MemberOutcome]:
        if not todo:
            return {}
        bar = tqdm(total=self.n_members, initial=n_done, desc="members", unit="member",
                   disable=True if not self.verbose else None)
        devices = self._devices()
        vectorized = self._engine() == "vectorized"
        try:
            if vectorized and len(devices) == 1:
                from .vectorized import train_vectorized

                setup = self._setup(checkpoint_dir, None, threads=threads_per_worker(1))
                return train_vectorized(todo, X, y, setup, members_per_chunk=self.members_per_chunk,
                                        on_member_done=lambda _: bar.update())
            if vectorized:  # one worker process per device, each training its share of members at once
                units = [todo[i::len(devices)] for i in range(len(devices))]
                units = [(unit, devices[i]) for i, unit in enumerate(units) if unit]
                n_workers = len(units)
            else:  # one member per task, spread over the devices
                units = [([plan], devices[i % len(devices)]) for i, plan in enumerate(todo)]
                n_workers = min(joblib.effective_n_jobs(self.n_jobs), len(todo))
            return self._train_parallel(units, vectorized, n_workers, X, y, checkpoint_dir, bar)
        finally:
            bar.close()

    def _train_parallel(self, units, vectorized, n_workers, X, y, checkpoint_dir, bar) -> dict[int, MemberOutcome]:
        """Run work units (members, device) in joblib workers; name the members of any that fail."""
        todo = [plan for plans, _ in units for plan in plans]
        # Each worker notes its process id here as it starts a member, so that the member of a
        # worker that dies can be named. Inside checkpoint_dir when there is one (visible to tools).
        if checkpoint_dir is not None:
            markers_dir = str(Path(checkpoint_dir, ".running"))
            os.makedirs(markers_dir, exist_ok=True)
        else:
            markers_dir = tempfile.mkdtemp(prefix="augkit-members-")
        setup = self._setup(checkpoint_dir, markers_dir, threads=threads_per_worker(n_workers))
        outcomes: dict[int, MemberOutcome] = {}
        parallel = joblib.Parallel(n_jobs=n_workers, backend=self.backend, return_as="generator_unordered")
        jobs = (joblib.delayed(train_unit)(plans, X, y, _on_device(setup, device), vectorized, self.members_per_chunk)
                for plans, device in units)
        try:
            epochs_done = 0
            for results in parallel(jobs):
                for index, outcome in results:
                    outcomes[index] = outcome
                    epochs_done += len(outcome.record.history.get("loss", [])) if outcome.record else 0
                    bar.set_postfix_str(f"{epochs_done} epochs done", refresh=False)
                    bar.update()
        except KeyboardInterrupt:
            raise FitInterrupted(self._interrupted_message(todo, outcomes, checkpoint_dir)) from None
        except Exception as e:
            if isinstance(e, RuntimeError) and str(e).startswith("member "):
                first_line = str(e).splitlines()[0]
                raise MemberFailedError(f"{first_line}\n{self._resume_hint(todo, outcomes, checkpoint_dir)}",
                                        [_member_of(first_line)]) from e
            if e.__class__.__name__ not in _WORKER_DIED or "un-serialize" in str(e):
                raise
            lost = self._dead_members(markers_dir, todo, outcomes)
            names = ", ".join(f"member {i}" for i in lost) or "a member"
            raise MemberFailedError(
                f"{names} did not finish: its worker process died ({e.__class__.__name__}: {_first_line(e)}).\n"
                f"{self._resume_hint(todo, outcomes, checkpoint_dir)}", lost) from e
        finally:
            shutil.rmtree(markers_dir, ignore_errors=True)
        return outcomes

    @staticmethod
    def _dead_members(markers_dir, todo, outcomes) -> list[int]:
        """Members that started in a worker process that no longer exists."""
        dead = []
        for plan in todo:
            if plan.index in outcomes:
                continue
            marker = Path(markers_dir, f"member_{plan.index:03d}.pid")
            try:
                pid = int(marker.read_text())
            except (OSError, ValueError):
                continue
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                dead.append(plan.index)
            except PermissionError:
                pass
        return dead

    def _resume_hint(self, todo, outcomes, checkpoint_dir) -> str:
        finished = self.n_members - len(todo) + sum(o.record is not None for o in outcomes.values())
        if checkpoint_dir is None:
            return (f"{finished} of {self.n_members} members had finished but were not saved: pass "
                    "checkpoint_dir=... to keep finished members on disk and resume=True to reuse them.")
        return (f"{finished} of {self.n_members} members are saved in {checkpoint_dir}; run "
                f"fit(X, y, checkpoint_dir={str(checkpoint_dir)!r}, resume=True) to train only the missing ones.")

    def _interrupted_message(self, todo, outcomes, checkpoint_dir) -> str:
        return "fit was interrupted; the worker processes were shut down. " + self._resume_hint(todo, outcomes, checkpoint_dir)

    def _handle_divergence(self, diverged: list[tuple[int, MemberOutcome]]) -> None:
        if not diverged:
            return
        lines = "; ".join(f"member {i}: {o.message}" for i, o in sorted(diverged))
        if self.on_diverge == "raise":
            raise MemberFailedError(f"training diverged (loss became NaN/Inf): {lines}. The other members finished; "
                                    "lower lr, or pass on_diverge='drop' to leave such members out.",
                                    [i for i, _ in diverged])
        warnings.warn(f"dropping diverged members ({lines})", RuntimeWarning, stacklevel=3)
        if len(diverged) == self.n_members:
            raise MemberFailedError(f"every member diverged: {lines}", [i for i, _ in diverged])

    def _set_members(self, records: list[MemberRecord]) -> None:
        setup = self._setup(None, None, threads=1)
        self.estimators_ = []
        for record in records:
            model = build_member(setup, record.seed)
            model.load_state_dict(record.state)
            self.estimators_.append(model.to(self._predict_device()).eval())
        self.member_indices_ = [r.index for r in records]
        self.member_seeds_ = [r.seed for r in records]
        self.bootstrap_indices_ = [np.asarray(r.train_indices) for r in records]
        self.oob_indices_ = [np.asarray(r.val_indices) for r in records]
        self.histories_ = [r.history for r in records]

    def _compute_oob(self, X: np.ndarray, y: np.ndarray) -> None:
        n, k = len(X), len(self.classes_)
        total = np.zeros((n, k))
        counts = np.zeros(n)
        for model, oob in zip(self.estimators_, self.oob_indices_):
            if len(oob) == 0:
                continue
            total[oob] += self._member_probas_prepared([model], X[oob], self.tta)[0].numpy()
            counts[oob] += 1
        with np.errstate(invalid="ignore", divide="ignore"):
            decision = total / counts[:, None]
        if (counts == 0).any():
            warnings.warn(f"{int((counts == 0).sum())} of {n} rows were in every member's bag and have no out-of-bag "
                          "prediction; increase n_members for a reliable oob_score_", UserWarning, stacklevel=3)
        self.oob_decision_function_ = decision
        seen = counts > 0
        self.oob_score_ = float((decision[seen].argmax(1) == y[seen]).mean()) if seen.any() else float("nan")

    # ------------------------------------------------------------------ prediction
    def _views(self, batch: torch.Tensor, tta) -> torch.Tensor:
        """``N x V x C x H x W`` test views of an image batch."""
        if tta is None:
            return batch[:, None]
        if callable(tta):
            return tta(batch)
        side = min(batch.shape[-2:])
        if tta == "flip":
            return augkit.flip_views(batch)
        if tta == "shift":
            return augkit.shift_views(batch, pixels=max(1, side // 16))
        if tta == "flip_shift":
            shifted = augkit.shift_views(batch, pixels=max(1, side // 16))
            return torch.cat([shifted, shifted.flip(-1)], dim=1)
        if tta == "ten_crop":
            return augkit.ten_crop(batch, size=side, resize=round(side * 1.125))
        if tta == "multi_scale":
            scales = tuple(round(side * s) for s in (1.0, 1.0625, 1.125, 1.1875, 1.25))
            return augkit.multi_scale_ten_crop(batch, size=side, scales=scales)
        raise ValueError(f"tta must be one of {_TTA} or a callable; got {tta!r}")

    @torch.no_grad()
    def _member_probas_prepared(self, models, X: np.ndarray, tta) -> torch.Tensor:
        """``M x N x K`` probabilities of ``models`` on prepared rows, views averaged per image."""
        if tta is not None and self.input_spec_.kind != "image":
            raise ValueError(f"tta={tta!r} needs image input; this ensemble was fitted on tabular data")
        normalize = self._normalize()
        out = [[] for _ in models]
        n_views = 1 if tta is None else self._views(torch.as_tensor(X[:1]), tta).shape[1]
        chunk = max(1, 4096 // n_views)
        for start in range(0, len(X), chunk):
            batch = torch.as_tensor(X[start:start + chunk]).to(self._predict_device())
            if self.input_spec_.kind == "image":
                views = self._views(batch, tta)
                n, v = views.shape[:2]
                inputs = nets.to_float_batch(views.flatten(0, 1), normalize=normalize)
            else:
                n, v, inputs = len(batch), 1, batch.float()
            for slot, model in zip(out, models):
                logits = model(inputs).reshape(n, v, -1)
                slot.append(augkit.average_views(logits, average="proba").float().cpu())
        return torch.stack([torch.cat(s) for s in out])

    def member_probas(self, X, tta="default") -> torch.Tensor:
        """Each member's class probabilities: float tensor ``M x N x K`` (for diagnostics).

        ``tta``: ``"default"`` uses the estimator's ``tta``; else as in :meth:`predict_proba`.
        """
        X = self._prepare_predict_data(X)
        return self._member_probas_prepared(self.estimators_, X, self.tta if tta == "default" else tta)

    def _combined(self, X, tta, method: str) -> np.ndarray:
        return vote(self.member_probas(X, tta), method=method, weights=self._voting_weights()).numpy()

    def _voting_weights(self):
        if self.weights is None:
            return None
        return [self.weights[i] for i in self.member_indices_]

    def predict_proba(self, X, tta="default") -> np.ndarray:
        """Class probabilities ``N x K``: per member the mean over test views of its softmax,
        then the (weighted) mean over members.

        ``tta``: ``None``, ``"flip"``, ``"shift"``, ``"ten_crop"``, ``"multi_scale"`` or a callable mapping
        a uint8 batch ``N x C x H x W`` to views ``N x V x C x H x W``; ``"default"`` = the
        estimator's ``tta``. Each member sees all views of a batch in one forward pass.
        """
        return self._combined(X, tta, "soft")

    def predict(self, X, tta="default") -> np.ndarray:
        """Predicted class labels ``N``, combined by the estimator's ``voting`` rule
        (hard-vote ties go to the lowest class index)."""
        combined = self._combined(X, tta, self.voting)
        return self.classes_[combined.argmax(1)]

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike) -> None:
        """Write the fitted ensemble to folder ``path`` (see :mod:`ensemble.persistence`)."""
        from .persistence import save_ensemble

        save_ensemble(self, Path(path))

    @classmethod
    def load(cls, path: str | os.PathLike, member: Callable | None = None, device: str | None = None):
        """Read an ensemble written by :meth:`save`, never unpickling anything."""
        from .persistence import load_ensemble

        return load_ensemble(cls, Path(path), member=member, device=device)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags


def _first_line(e: BaseException) -> str:
    text = str(e)
    return text.splitlines()[0] if text else ""


def _feature_scale(std: np.ndarray) -> np.ndarray:
    """Per-feature divisors for standardisation: the standard deviation, floored at a tenth of
    the median feature's (or 1 when every feature is constant).

    Without the floor a nearly constant feature (digits' corner pixels: one non-zero value in
    a thousand) is divided by a tiny std, so its rare values become hundreds of standard units
    and can make SGD diverge; StandardScaler guards only exact zeros.
    """
    positive = std[std > 0]
    floor = 0.1 * float(np.median(positive)) if positive.size else 1.0
    return np.maximum(std, floor)


def _member_of(message: str) -> int:
    try:
        return int(message.split()[1])
    except (IndexError, ValueError):
        return -1


def _on_device(setup: TrainSetup, device: str) -> TrainSetup:
    return dataclasses.replace(setup, fit_kwargs={**setup.fit_kwargs, "device": device})
