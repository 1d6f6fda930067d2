"""BaggedNetClassifier: the scikit-learn contract of a bagged ensemble of torch networks.

A thin shell over the training engine (:mod:`ensemble.engine`): the estimator checks its
parameters, turns ``X`` into a batch source (:mod:`ensemble.inputs`,
:mod:`ensemble.photo_inputs`), draws the members' plans, builds their setup from its
parameters (:mod:`ensemble.settings`) and hands them to
:func:`ensemble.engine.orchestration.train`, its one seam to training. After training it
learns from the held-out rows (:mod:`ensemble.engine.heldout`) and predicts through
:mod:`ensemble.engine.prediction`. (The file's length is the class docstring: every parameter,
with its meaning, in one place.)
"""
from __future__ import annotations

import dataclasses
import numbers
import os
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import joblib
import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.metrics import accuracy_score

import nets
from augkit.tta import TTA_MODES
from conventions import check_choice, check_int, check_number
from nets.config import SNAPSHOT_METHODS
from nets.loop import schedule_steps
from nets.step import min_cycle_steps

from .calibration import apply_temperature, ensemble_logits, fit_temperature_law
from .engine.budget import budgeted_epochs, deadline
from .engine.heldout import AUTO_TTA, HeldOut, check_heldout_rows, choose_tta
from .engine.orchestration import STACKED, Run, train
from .engine.plans import MemberPlan, draw_entropy, draw_plans, draw_poisson_plans
from .engine.prediction import Inference, member_probas, stream_member_probas, view_count
from .engine.sources import ArraySource, StreamSource
from .engine.storage import MemberRecord, open_checkpoint, run_fingerprint
from .failures import check_divergence
from .inputs import prepare_fit_data, prepare_predict_data
from .photo_inputs import is_photo_input, prepare_photo_fit, prepare_photo_predict
from .settings import (
    check_engine,
    estimator_setup,
    image_normalization,
    resolve_engine,
    set_members,
    train_config,
    training_devices,
)
from .voting import vote

__all__ = ["BaggedNetClassifier"]

_TTA = (*TTA_MODES, "auto")
_CALIBRATIONS = (None, "temperature")
#: Where the members come from: trained each on its own, or taken from one run (nets.snapshots).
METHODS = ("independent", *SNAPSHOT_METHODS)
_DEFAULTS = nets.TrainConfig  # the training options' defaults are written once, there
# Settings that never change what a member learns (beyond float rounding): left out of a run's fingerprint.
_RUN_ONLY = ("n_jobs", "backend", "verbose", "engine", "members_per_chunk", "device", "tta", "voting", "weights",
             "on_diverge", "num_workers")


class BaggedNetClassifier(ClassifierMixin, BaseEstimator):
    """A bagged ensemble of torch networks, following the scikit-learn estimator contract.

    It trains on in-memory arrays (tabular rows or equal-size images) and on photos of any size
    streamed from disk: a folder in the ImageFolder layout (``clf.fit("photos/train")``), a list
    of image files with ``y``, or any map-style Dataset of ``(image, label)`` pairs (see
    :mod:`ensemble.photo_inputs`). Photos are decoded and scale-cropped on DataLoader workers
    once per epoch for all members, which each decoded batch trains in turn, bagged by the
    Poisson bootstrap of online bagging (:mod:`ensemble.engine.streamed`); evaluation decodes
    each photo once for every view and member (:mod:`ensemble.engine.photos`).

    Each of ``n_members`` members draws its own bootstrap sample of the training rows (or, with
    ``bootstrap=False``, trains on all rows from its own random initialisation: the "deep
    ensembles" recipe), trains with its own seeded random stream (initial weights, minibatch
    order, augmentation, dropout masks), early-stops on its own out-of-bag rows, and the members
    vote at prediction time. Members train one after another in this process, in parallel
    worker processes through joblib (loky by default; ``joblib.parallel_config(backend="dask")``
    sends them to a dask.distributed cluster unchanged) or, with ``engine="vmap"`` or
    ``"grouped"``, all at once in one stacked model. Every engine trains with the same loop and
    step (:mod:`nets.loop`, :mod:`nets.step`) from one :class:`nets.TrainConfig` built from the
    parameters, so every training option below works in each.

    Parameters
    ----------
    member : callable or None
        ``member(input_shape=..., n_classes=...) -> nn.Module`` emitting logits (e.g.
        ``nets.SmallCNN`` or a ``functools.partial`` of it, or any factory of your own).
        ``None``: ``nets.MLP`` for tabular data, ``nets.SmallCNN`` for images.
    n_members : int
        Number of members (for ``method="swa"``: of networks averaged into its one member).
    method : {"independent", "snapshot", "fge", "swa"}
        Where the members come from. ``"independent"``: each trains on its own (below). The
        others train ONE network once and take the members from its run, an ensemble for the
        cost of one training (:mod:`nets.snapshots`): ``"snapshot"`` (Snapshot Ensembles: the
        steps split into ``n_members`` cycles of a cosine lr from ``lr`` down, a member at the
        end of each; ``lr_schedule`` is not used); ``"fge"`` (fast geometric ensembling:
        ``lr_schedule`` over 80% of the steps, then ``n_members`` short cycles of a lr going
        linearly from ``0.5 lr`` down to ``0.005 lr`` and back, a member at the middle of each);
        ``"swa"`` (SWA: FGE's ``n_members`` networks averaged into one member). Each member gets
        BatchNorm statistics of its own weights and is an ordinary member (voting, TTA,
        calibration, ``save``). The members share their training rows and a fixed schedule,
        so these need ``bootstrap=False``, ``early_stopping=False`` and ``lookahead=False``;
        held-out rows for ``tta="auto"`` and ``calibration`` come from ``validation_fraction``.
        With ``time_budget`` the cycles are laid over the steps the budget allows. In-memory
        arrays only (every engine; the run is one task); photos train independent members.
    bootstrap : bool
        Draw each member's rows with replacement (bagging); ``False`` trains every member on
        all rows (minus its ``validation_fraction`` held out for early stopping).
    max_samples : float or int
        Rows per bootstrap sample, a fraction of N (float) or a count (int).
    voting : {"soft", "hard"}
        Mean of probabilities, or majority of argmaxes.
    weights : sequence of float or None
        Member weights for voting.
    epochs, batch_size, lr, momentum, nesterov, optimizer, weight_decay, decoupled_weight_decay, l1, \
lr_schedule, norm_lr_scale, lookahead, label_smoothing
        The training options of :class:`nets.TrainConfig` (same names and meanings), for each
        member: schedule length, minibatch size, peak learning rate, SGD momentum and
        Nesterov, ``"sgd"`` or ``"adam"``, L2 decay of the weights (coupled, or decoupled
        AdamW-style), L1 penalty, ``"constant"``/``"onecycle"``/``"cosine"``/``"triangular"``
        lr schedule, the BatchNorm parameters' lr multiplier, look-ahead weight averaging, and
        label smoothing eps (composed with a label-mixing augmentation's soft targets).
    precision : {"float32", "bfloat16"}
        ``"float32"``: everything in float32. ``"bfloat16"``: the training forward under bf16
        autocast, on CUDA and on CPUs with native bf16 (AVX512-BF16, AMX): typically 1.3-2x
        faster training steps and half the activation memory, at bf16 rounding of the
        convolutions (validation accuracy typically within a point of float32's); weights,
        optimiser state and BatchNorm statistics stay float32, and prediction runs in float32.
        On a device without native bf16 it warns once and trains in float32.
    channels_last : bool
        Image members (with ``Conv2d`` layers) and their batches use the channels-last memory
        format in training, validation, BatchNorm recomputation, out-of-bag scoring,
        prediction and TTA: about 1.4-2x faster convolutions on CPU and GPU, the same members
        within float rounding. ``False`` keeps the contiguous layout. MLPs are unaffected.
    augment : callable or None
        An augkit pipeline applied to each training minibatch (images only), on uint8 batches
        as far as each op allows; one that mixes labels (MixUp, CutMix: ``mixes_labels =
        True``) trains on its soft targets. Never applied to validation, out-of-bag scoring
        or BatchNorm recomputation. For photos, a leading ``RandomScaleCrop`` or
        ``RandomResizedCrop`` runs per image on the DataLoader workers (it sets the input
        size, see ``image_size``) and the rest on each collated batch, per member.
    tta : str, callable or None
        Default test-time views for prediction (images only): ``None``; ``"flip"`` (identity +
        mirror); ``"shift"`` (identity + 4 shifts by ``max(1, side // 16)`` pixels, for
        classes that flips change); ``"flip_shift"`` (those 5 views and their mirrors: 10);
        ``"ten_crop"`` (shorter side resized to 1.125 x side, ten crops of side x side);
        ``"multi_scale"`` (ten crops at 5 scales 1 ... 1.25 x side: 50 views); ``"auto"``: the
        best of none, flip, flip_shift and ten_crop on the rows the members held out (accuracy,
        then NLL; a TTA that hurts there is never chosen; see :mod:`ensemble.engine.heldout`), learned
        as ``tta_``; or a callable ``uint8 N x C x H x W -> N x V x C x H x W``.
    calibration : {None, "temperature"}
        ``"temperature"``: at the end of ``fit`` a temperature is fitted (minimum NLL) to the
        held-out decision's logits, the out-of-bag rows when bagging, else each member's
        held-out rows (:mod:`ensemble.calibration`, :mod:`ensemble.engine.heldout`). A held-out
        row averages only the members that held it out, fewer than prediction averages and so
        more confident: the fit models ``1 / T`` against the number of members averaged and
        applies it at all of them, moved towards ``T = 1`` by its own statistical uncertainty
        (a one-sided 95% bound), so that noise in the fit does not make the probabilities
        worse (``temperature_law_``). The temperature is stored as ``temperature_`` and applied
        by ``predict_proba`` (TTA included). It changes the probabilities, never their argmax.
        It needs held-out rows: with ``bootstrap=False`` a ``validation_fraction > 0``; ``fit``
        raises a ValueError when fewer than 20 rows are held out in all.
    time_budget : float or None
        Seconds of wall time for the whole ``fit`` on this machine, kept within a few percent
        either way. A timing probe on the data (:mod:`ensemble.engine.budget`) sizes each
        member's first plan of epochs (``epochs_``, a fraction allowed, at most ``epochs``) so
        that training, the probe and the work after training fit; during training each member
        re-plans its remaining steps from the step times it measures (:mod:`nets.pacing`), the
        lr schedule stretched or shortened without a jump (a one-run ``method`` keeps its first
        plan: its cycles are laid out at the start). Members share the budget. ``None``:
        train ``epochs`` epochs.
    early_stopping : bool
        Stop each member on its out-of-bag (or held-out) loss and restore its best snapshot,
        after ``patience`` epochs without improvement.
    patience : int
        See ``early_stopping``.
    validation_fraction : float
        Rows each member holds out when ``bootstrap=False``, for early stopping, ``tta="auto"``
        and ``calibration``.
    image_size : int or None
        Photos only: the side of the square crops the members see, when ``augment`` does not
        start with a ``RandomScaleCrop`` or ``RandomResizedCrop`` (whose size is then the one
        used; stating both, differently, is a ValueError). ``None``: the crop's size, else
        112, trained from shorter sides L ~ U[128, 240] (ResNet's 224 crop from [256, 480],
        halved) and evaluated at S = 128 (see :mod:`ensemble.engine.photos`).
    on_bad_image : {"raise", "skip"}
        Photos only: a file that is empty, not an image or cut short fails ``fit`` before
        training with an error naming it, and so does one that fails to decode during
        training; ``"skip"`` leaves such files out with a warning and records them in
        ``skipped_files_``. Prediction always names a bad file.
    num_workers : int or None
        Photos only: DataLoader worker processes decoding and cropping images (0: in this
        process); training and prediction leave them their cores (``torch.set_num_threads``
        sets the budget). ``None``: a quarter of this process's cores, at least 1.
    engine : {"auto", "loop", "joblib", "vmap", "grouped"}
        How members train. ``"loop"``: one after another in this process, each on every core
        (photos: each decoded batch trains every member in turn). ``"joblib"``: one member per
        joblib task, ``n_jobs`` worker processes (photos: the members split into ``n_jobs``
        groups, each worker decoding every image for its group, on a shared filesystem for a
        cluster). ``"vmap"`` and
        ``"grouped"``: all members of a device stacked into one model, run by
        ``torch.func.vmap`` over the stacked weights, or with the members' activations packed
        along channels and grouped convolutions (:mod:`ensemble.engine.grouped`); the same
        members up to float rounding, and ``benchmarks/gpu.py`` measures which is faster on a
        device; in-memory arrays only. ``"auto"``: ``"loop"`` for photos, else ``"vmap"`` on
        CUDA and ``"joblib"`` elsewhere. (``"vectorized"`` and
        the ``vectorize`` parameter were merged into these values.)
    members_per_chunk : int or None
        With a stacked engine, train at most this many members at once. ``None``: all at
        once, halving the chunk (with a warning) whenever it runs out of device memory.
    on_diverge : {"raise", "drop"}
        A member whose loss becomes NaN/Inf fails ``fit`` with an error naming it (after the
        others finish), or is left out with a warning.
    n_jobs : int or None
        Worker processes for ``engine="joblib"`` (``None`` = 1, ``-1`` = all cores). Each
        worker uses ``cores // n_jobs`` torch threads.
    backend : str or None
        joblib backend name (``None`` = joblib's default or the active ``joblib.parallel_config``).
    device : str or list of str
        Torch device for training and prediction, or a list of devices: one worker process per
        device (members spread over them; with a stacked engine each device trains its
        share of members at once). ``"cuda"`` on a machine with several GPUs means all of
        them. Prediction runs on the first.
    random_state : int, RandomState or None
        Seeds every member's stream.
    verbose : int
        0 silent; 1 a progress bar over members; 2 also per-epoch bars.

    Attributes
    ----------
    estimators_ : list of nn.Module
        The trained members (eval mode, channels-last when ``channels_last`` applies).
    classes_ : np.ndarray
        The class labels.
    bootstrap_indices_, oob_indices_ : list of np.ndarray
        Per member, the row indices it trained on, and its out-of-bag (or held-out) rows.
    oob_score_, oob_decision_function_ : float, np.ndarray
        Out-of-bag accuracy and probabilities N x K (``bootstrap=True`` only), with ``tta_``.
    tta_ : str, callable or None
        The test-time views prediction uses by default: ``tta``, or the choice of ``"auto"``.
    tta_scores_ : dict
        With ``tta="auto"``: per candidate, its held-out accuracy and NLL.
    temperature_ : float
        With ``calibration="temperature"``: the temperature ``predict_proba`` applies.
    temperature_law_ : dict
        With ``calibration="temperature"``: the fitted law ``1 / T(m) = intercept + slope / m``
        of the temperature against the number ``m`` of members averaged
        (:class:`ensemble.calibration.TemperatureLaw` as a dict): ``"intercept"``, ``"slope"``,
        ``"n_members"`` (the ``M`` it is applied at), ``"identified"`` (False: every held-out
        row was averaged by the same number of members, or too few rows had another number, so
        the slope is 0 and ``1 / intercept`` is the plain minimum-NLL temperature) and
        ``"standard_error"`` (of ``1 / T(M)``). ``temperature_`` is ``1 / T(M)`` moved towards
        1 by ``ensemble.calibration.CONFIDENCE_Z`` standard errors (exactly 1 within them),
        clipped to ``ensemble.calibration.TEMPERATURE_RANGE``.
    epochs_ : float
        The epochs each member trained for; with ``time_budget``, the first plan, which the
        members then re-planned from their measured step times (``histories_`` has what each
        trained).
    budget_plan_ : dict
        With ``time_budget``: the probe's measurements and the plan (see :mod:`ensemble.engine.budget`).
    histories_ : list of dict
        Per member, its training history (:class:`nets.History` as a dict).
    member_seeds_, member_indices_ : list of int
        Per member, its torch seed and its index.
    n_features_in_ : int
        Number of features (tabular) or values per image.
    skipped_files_ : list of str
        Photos only: the files (or Dataset items) left out as unreadable (``on_bad_image="skip"``).
    """

    def __init__(
        self,
        member: Callable[..., torch.nn.Module] | None = None,
        n_members: int = 5,
        *,
        method: str = "independent",
        bootstrap: bool = True,
        max_samples: float | int = 1.0,
        voting: str = "soft",
        weights=None,
        epochs: int = 20,
        batch_size: int = _DEFAULTS.batch_size,
        lr: float = _DEFAULTS.lr,
        momentum: float = _DEFAULTS.momentum,
        nesterov: bool = _DEFAULTS.nesterov,
        optimizer: str = _DEFAULTS.optimizer,
        weight_decay: float = 5e-4,
        decoupled_weight_decay: bool = _DEFAULTS.decoupled_weight_decay,
        l1: float = _DEFAULTS.l1,
        lr_schedule: str = _DEFAULTS.lr_schedule,
        norm_lr_scale: float = _DEFAULTS.norm_lr_scale,
        lookahead: bool = _DEFAULTS.lookahead,
        label_smoothing: float = _DEFAULTS.label_smoothing,
        precision: str = _DEFAULTS.precision,
        channels_last: bool = _DEFAULTS.channels_last,
        augment=None,
        tta: str | None = None,
        calibration: str | None = None,
        time_budget: float | None = None,
        early_stopping: bool = True,
        patience: int = 5,
        validation_fraction: float = 0.1,
        image_size: int | None = None,
        on_bad_image: str = "raise",
        num_workers: int | None = None,
        engine: str = "auto",
        members_per_chunk: int | None = None,
        on_diverge: str = "raise",
        n_jobs: int | None = None,
        backend: str | None = None,
        device: str = "cpu",
        random_state=None,
        verbose: int = 1,
    ):
        self.member = member
        self.n_members = n_members
        self.method = method
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
        self.decoupled_weight_decay = decoupled_weight_decay
        self.l1 = l1
        self.lr_schedule = lr_schedule
        self.norm_lr_scale = norm_lr_scale
        self.lookahead = lookahead
        self.label_smoothing = label_smoothing
        self.precision = precision
        self.channels_last = channels_last
        self.augment = augment
        self.tta = tta
        self.calibration = calibration
        self.time_budget = time_budget
        self.early_stopping = early_stopping
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.image_size = image_size
        self.on_bad_image = on_bad_image
        self.num_workers = num_workers
        self.engine = engine
        self.members_per_chunk = members_per_chunk
        self.on_diverge = on_diverge
        self.n_jobs = n_jobs
        self.backend = backend
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ validation
    def _check_params(self) -> None:
        """The estimator's own settings; the training options are checked by :func:`train_config`."""
        for name in ("n_members", "patience"):
            check_int(getattr(self, name), name, minimum=1)
        check_choice(self.voting, "voting", ("soft", "hard"))
        check_choice(self.method, "method", METHODS)
        if self.method != "independent":
            self._check_one_run()
        check_engine(self.engine)
        check_choice(self.on_diverge, "on_diverge", ("raise", "drop"))
        if self.tta not in _TTA and not callable(self.tta):
            raise ValueError(f"tta must be one of {_TTA} or a callable; got {self.tta!r}")
        check_choice(self.calibration, "calibration", _CALIBRATIONS)
        if self.time_budget is not None:
            check_number(self.time_budget, "time_budget", minimum=0, exclusive_minimum=True)
        check_number(self.validation_fraction, "validation_fraction", minimum=0, maximum=1, exclusive_maximum=True)
        if self.weights is not None and len(self.weights) != self.n_members:
            raise ValueError(f"weights has {len(self.weights)} entries but n_members={self.n_members}")
        if self.members_per_chunk is not None:
            check_int(self.members_per_chunk, "members_per_chunk", minimum=1)
        if self.image_size is not None:
            check_int(self.image_size, "image_size", minimum=1)
        check_choice(self.on_bad_image, "on_bad_image", ("raise", "skip"))
        if self.num_workers is not None:
            check_int(self.num_workers, "num_workers", minimum=0)

    def _check_one_run(self) -> None:
        """The settings an ensemble from one run cannot have."""
        method = f"method={self.method!r}"
        if self.bootstrap:
            raise ValueError(f"{method} takes every member from one training run on the same rows, so there is no "
                             "bootstrap sample to draw: set bootstrap=False (held-out rows for tta='auto' and "
                             "calibration then come from validation_fraction)")
        if self.early_stopping:
            raise ValueError(f"{method} takes its members from a fixed lr schedule that early stopping would cut "
                             "short: set early_stopping=False")
        if self.lookahead:
            raise ValueError(f"{method} takes its members from the run's weights, which lookahead=True replaces "
                             "with an average of its own: set lookahead=False")

    def _members_per_run(self) -> int:
        """Members one training run yields: one, ``n_members`` from a one-run method, one for SWA."""
        return self.n_members if self.method in ("snapshot", "fge") else 1

    def _check_source(self, photos: bool) -> None:
        """The settings that apply to one kind of input only."""
        if photos and self.method != "independent":
            raise ValueError(f"method={self.method!r} trains on in-memory arrays; photos (a folder, files or a "
                             "Dataset) train independent members: use method='independent', or load the photos "
                             "into an array of equal-size images")
        if photos and self.time_budget is not None:
            raise ValueError("time_budget sizes epochs for in-memory arrays; with photos set epochs instead")
        if photos and self.engine in STACKED:
            raise ValueError(f"engine={self.engine!r} stacks members over in-memory arrays; photos train their "
                             "members in one process, each decoded batch training every member (engine='loop', "
                             "faster than stacking on a CPU), or split them over workers (engine='joblib')")
        if not photos and self.image_size is not None:
            raise ValueError("image_size applies to photos (a folder, files or a Dataset); arrays keep their size")

    def _n_bag(self, n: int) -> int:
        m = self.max_samples
        if isinstance(m, numbers.Integral) and not isinstance(m, bool):
            if not 1 <= m <= n:
                raise ValueError(f"max_samples={m} must lie in [1, {n}] (the number of training rows)")
            return int(m)
        if not (isinstance(m, numbers.Real) and 0.0 < m <= 1.0):
            raise ValueError(f"max_samples must be an int in [1, N] or a float in (0, 1]; got {m!r}")
        return max(1, round(m * n))

    # ------------------------------------------------------------------ bags and seeds
    def _plans(self, n: int, entropy: int, stream: bool) -> list[MemberPlan]:
        if stream and self.bootstrap:  # online bagging: the Poisson bootstrap, rate = the bag's share of N
            return draw_poisson_plans(n, self.n_members, entropy, rate=self._n_bag(n) / n)
        hold_out = bool(self.early_stopping) or bool(self._learns_from_heldout())
        runs = self.n_members if self.method == "independent" else 1  # the others: members from one run
        return draw_plans(n, runs, entropy, bootstrap=self.bootstrap, n_bag=self._n_bag(n),
                          validation_fraction=self.validation_fraction, hold_out=hold_out)

    def _learns_from_heldout(self) -> list[str]:
        """The settings that learn from the members' held-out rows after training."""
        return [name for name, on in (("tta='auto'", self.tta == "auto"),
                                      (f"calibration={self.calibration!r}", self.calibration is not None)) if on]

    def _fingerprint(self, source) -> str:
        """Identifies a run (data and every setting that changes a member) for safe resuming."""
        settings = {k: v for k, v in self.get_params().items() if k not in _RUN_ONLY}
        if hasattr(self.augment, "to_json"):
            settings["augment"] = self.augment.to_json()
        return run_fingerprint(source.fingerprint_parts(), settings)

    def _run(self, checkpoint_dir, photos: bool, runs: int) -> Run:
        devices = training_devices(self.device)
        engine = "loop" if photos and self.engine == "auto" else resolve_engine(self.engine, devices)
        return Run(engine=engine, devices=tuple(devices), n_jobs=self.n_jobs,
                   backend=self.backend, members_per_chunk=self.members_per_chunk,
                   checkpoint_dir=str(checkpoint_dir) if checkpoint_dir is not None else None,
                   n_members=runs, verbose=self.verbose)

    # ------------------------------------------------------------------ fit
    def fit(self, X, y=None, *, checkpoint_dir: str | os.PathLike | None = None, resume: bool = False):
        """Train the members.

        Parameters
        ----------
        X : array-like, path, list of paths or Dataset
            ``N x D`` numbers, or images ``N x H x W x C`` / ``N x C x H x W`` (uint8 or float
            in [0, 1]); or photos of any size: a folder (one sub-folder per class), a list of
            image files, or a map-style Dataset of ``(image, label)`` pairs.
        y : array-like, optional
            ``N`` class labels; omitted for a folder or a Dataset.
        checkpoint_dir : path, optional
            Folder where each member is written (atomically) the moment it finishes; with
            ``resume=True`` members already there are loaded, not retrained. Photos also save
            the members' whole training state after every epoch, and resume from it.
        resume : bool
            Reuse the finished members in ``checkpoint_dir`` (the folder must come from a run
            with the same data and settings).

        Returns
        -------
        self
        """
        start = time.perf_counter()
        self._check_params()
        if resume and checkpoint_dir is None:
            raise ValueError("resume=True needs the checkpoint_dir of the interrupted run")
        if resume and self.time_budget is not None:
            raise ValueError("resume=True cannot be combined with time_budget: the epochs are sized by timing "
                             "this run, so a resumed run could train different members")
        train_config(self)  # training options checked before the data is touched
        photos = is_photo_input(X)
        self._check_source(photos)
        source = prepare_photo_fit(self, X, y) if photos else prepare_fit_data(self, X, y)
        entropy = draw_entropy(self.random_state)
        plans = self._plans(len(source), entropy, photos)
        check_heldout_rows(plans, self._learns_from_heldout())
        run = self._run(checkpoint_dir, photos, len(plans))
        self.epochs_ = self.epochs
        if self.time_budget is not None:
            self.budget_plan_ = self._budget_plan(source, plans, run, time.perf_counter() - start)
            self.epochs_ = self.budget_plan_["epochs"]
        setup = estimator_setup(self, checkpoint_dir, self.epochs_)
        if setup.config.snapshots is not None:
            self._check_cycles(setup.config, plans)
        members = len(plans) * self._members_per_run()
        done: dict[int, MemberRecord] = {}
        if checkpoint_dir is not None:
            done = open_checkpoint(Path(checkpoint_dir), self._fingerprint(source), resume, members)
        todo = [p for p in plans if p.index not in done]
        if self.method != "independent" and len(done) < members:  # a run yields all its members or none
            todo = plans
        if self.time_budget is not None:  # the members re-plan their steps to end fit at start + time_budget
            setup = dataclasses.replace(setup, deadline=deadline(self.budget_plan_, start + self.time_budget,
                                                                 self.epochs))
        if photos:  # the per-image crop runs on the DataLoader workers, the rest of augment on batches
            setup = dataclasses.replace(setup, config=dataclasses.replace(setup.config, augment=source.geometry.batched),
                                        stream_seed=entropy)
        outcomes = train(todo, source, setup, run)
        check_divergence({i: o.message for i, o in outcomes.items() if o.record is None}, self.on_diverge,
                         len(plans))
        records = {**done, **{r.index: r for o in outcomes.values() for r in o.records}}
        set_members(self, [records[i] for i in sorted(records)])
        if photos:
            source.skipped.update(i for o in outcomes.values() for i in o.skipped)
            self.skipped_files_ = [source.items.name(i) for i in sorted(source.skipped)]
        self._learn_from_heldout(source)
        return self

    def _check_cycles(self, config: nets.TrainConfig, plans: list[MemberPlan]) -> None:
        """Fail before training when the run's steps cannot hold ``n_members`` cycles."""
        steps = schedule_steps(len(plans[0].train_indices), config)[1]
        need = min_cycle_steps(config.snapshots, config.n_snapshots)
        if steps < need:
            more = "a longer time_budget" if self.time_budget is not None else "more epochs"
            raise ValueError(f"method={self.method!r} with n_members={self.n_members} needs at least {need} training "
                             f"steps (2 or more per cycle), but {config.epochs:g} epochs of batch_size="
                             f"{config.batch_size} are {steps}: give it {more}, fewer n_members or a smaller "
                             "batch_size")

    def _budget_plan(self, source, plans: list[MemberPlan], run: Run, spent: float) -> dict:
        """Epochs per member that fit what is left of ``time_budget`` (see :mod:`ensemble.engine.budget`)."""
        if run.engine in STACKED:
            workers = len(plans)
        elif run.engine == "loop":
            workers = 1
        else:
            workers = max(1, min(joblib.effective_n_jobs(self.n_jobs), len(plans))) * len(run.devices)
        images = self.input_spec_.kind == "image"
        modes = AUTO_TTA if self.tta == "auto" else (self.tta,)
        views = sum(view_count(source.X, t, images) for t in modes)
        scored = self.bootstrap or bool(self._learns_from_heldout())
        return budgeted_epochs(self.time_budget, spent, estimator_setup(self), source.X, source.y, plans,
                               workers=workers, heldout_views=views if scored else 0, max_epochs=self.epochs,
                               networks=self._members_per_run(),
                               verbose=self.verbose)

    def _learn_from_heldout(self, source) -> None:
        """After training: the TTA of ``"auto"``, the out-of-bag scores, the temperature."""
        y = source.y
        modes = AUTO_TTA if self.tta == "auto" else (self.tta,)
        heldout = HeldOut(self.estimators_, self.oob_indices_, source, self._inference(), len(self.classes_), modes)
        self.tta_ = self.tta
        if self.tta == "auto":
            self.tta_, self.tta_scores_ = choose_tta(heldout, y)
        if self.bootstrap:
            decision, seen = heldout.decision(self.tta_)
            if not seen.all():
                warnings.warn(f"{int((~seen).sum())} of {len(y)} rows were in every member's bag and have no "
                              "out-of-bag prediction; increase n_members for a reliable oob_score_", UserWarning,
                              stacklevel=3)
            self.oob_decision_function_ = decision
            self.oob_score_ = float((decision[seen].argmax(1) == y[seen]).mean()) if seen.any() else float("nan")
        if self.calibration == "temperature":
            decision, seen = heldout.decision(self.tta_)
            law = fit_temperature_law(ensemble_logits(decision[seen] / decision[seen].sum(1, keepdims=True)), y[seen],
                                      heldout.members_averaged(self.tta_)[seen], len(self.estimators_))
            self.temperature_, self.temperature_law_ = law.temperature, dataclasses.asdict(law)

    # ------------------------------------------------------------------ prediction
    def _inference(self) -> Inference:
        return Inference(normalize=image_normalization(self), device=training_devices(self.device)[0],
                         images=self.input_spec_.kind == "image")

    def _resolve_tta(self, tta):
        """The views a prediction uses: ``"default"`` and ``"auto"`` mean the learned ``tta_``."""
        if tta == "default" or tta == "auto":
            return getattr(self, "tta_", None if self.tta == "auto" else self.tta)
        return tta

    def _prediction_source(self, X, y=None) -> ArraySource | StreamSource:
        if is_photo_input(X):
            return prepare_photo_predict(self, X, y)
        return ArraySource(prepare_predict_data(self, X))

    def _member_chunks(self, source: ArraySource | StreamSource, tta) -> Iterator[torch.Tensor]:
        """The members' probabilities ``M x n x K`` of a prediction source, in row order: one
        chunk for arrays, a chunk of photos at a time for photos."""
        tta = self._resolve_tta(tta)
        if isinstance(source, ArraySource):
            yield member_probas(self.estimators_, source.X, tta, self._inference())
            return
        for _, (probas,) in stream_member_probas(self.estimators_, source, np.arange(len(source)), [tta],
                                                 self._inference()):
            yield probas

    def member_probas(self, X, tta="default") -> torch.Tensor:
        """Each member's class probabilities, uncalibrated (for diagnostics).

        Parameters
        ----------
        X : array-like, path, list of paths or Dataset
            Arrays as in :meth:`fit`, or, for an ensemble fitted on photos, photos as in
            :meth:`fit` (a folder's files in its sorted order).
        tta : str, callable or None
            As in :meth:`predict_proba`; ``"default"`` uses the estimator's ``tta_``.

        Returns
        -------
        torch.Tensor
            Float ``M x N x K``: member m's probabilities for N rows over K classes.
        """
        return torch.cat(list(self._member_chunks(self._prediction_source(X), tta)), dim=1)

    def _combined(self, source: ArraySource | StreamSource, tta, method: str) -> np.ndarray:
        weights = self._voting_weights()
        return np.concatenate([vote(p, method=method, weights=weights).numpy()
                               for p in self._member_chunks(source, tta)])

    def _voting_weights(self):
        if self.weights is None:
            return None
        return [self.weights[i] for i in self.member_indices_]

    def predict_proba(self, X, tta="default") -> np.ndarray:
        """Class probabilities: each member's softmax averaged over the test views, then over members.

        The mean over members is weighted by ``weights``. With ``calibration``, ``temperature_`` is then applied to their logits
        (:func:`ensemble.calibration.apply_temperature`). Each member sees all views of a batch
        in one forward pass; a photo is decoded once for all its views and all members.

        Parameters
        ----------
        X : array-like, path, list of paths or Dataset
            Arrays as in :meth:`fit`, or, for an ensemble fitted on photos, photos as in
            :meth:`fit` (a folder's files in its sorted order).
        tta : str, callable or None
            ``None``, ``"flip"``, ``"shift"``, ``"flip_shift"``, ``"ten_crop"``,
            ``"multi_scale"`` or a callable mapping a uint8 batch ``N x C x H x W`` to views
            ``N x V x C x H x W`` (for photos: of the centre views; ``"ten_crop"`` and
            ``"multi_scale"`` crop the resized photo itself, see :mod:`ensemble.engine.photos`);
            ``"default"`` (or ``"auto"``): the estimator's ``tta_``.

        Returns
        -------
        numpy.ndarray
            Float ``N x K``, rows summing to 1, classes in the order of ``classes_``.
        """
        proba = self._combined(self._prediction_source(X), tta, "soft")
        temperature = getattr(self, "temperature_", None)
        if temperature is None or temperature == 1.0:  # T = 1 is the identity: no float rounding through logits
            return proba
        return apply_temperature(ensemble_logits(proba), temperature)

    def predict(self, X, tta="default") -> np.ndarray:
        """Predicted class labels, combined by the estimator's ``voting`` rule.

        Hard-vote ties go to the lowest class index; the temperature never changes a prediction.

        Parameters
        ----------
        X : array-like, path, list of paths or Dataset
            Arrays as in :meth:`fit`, or, for an ensemble fitted on photos, photos as in
            :meth:`fit` (a folder's files in its sorted order).
        tta : str, callable or None
            As in :meth:`predict_proba`.

        Returns
        -------
        numpy.ndarray
            ``N`` labels from ``classes_``.
        """
        combined = self._combined(self._prediction_source(X), tta, self.voting)
        return self.classes_[combined.argmax(1)]

    def score(self, X, y=None, sample_weight=None) -> float:
        """Mean accuracy of :meth:`predict` on ``X`` against ``y``.

        Parameters
        ----------
        X : array-like, path, list of paths or Dataset
            Arrays as in :meth:`fit`, or, for an ensemble fitted on photos, photos as in
            :meth:`fit` (a folder's files in its sorted order).
        y : array-like, optional
            ``N`` true labels; for photos it defaults to a folder's (or a Dataset's) own labels.
        sample_weight : array-like, optional
            ``N`` weights of the rows.

        Returns
        -------
        float
            The (weighted) share of rows predicted right.
        """
        if not is_photo_input(X):
            return super().score(X, y, sample_weight=sample_weight)
        source = prepare_photo_predict(self, X, y)
        if source.y is not None:
            y = self.classes_[source.y]
        elif y is None:
            raise ValueError("y is required to score a list of image files")
        predicted = self.classes_[self._combined(source, "default", self.voting).argmax(1)]
        return float(accuracy_score(y, predicted, sample_weight=sample_weight))

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike) -> None:
        """Write the fitted ensemble to a folder.

        Settings and classes go to JSON, each member's weights to safetensors
        (:mod:`ensemble.persistence`). Any member factory saves; one that is not a ``nets`` model
        is recorded by qualified name only and must be passed to :meth:`load`.

        Parameters
        ----------
        path : str or os.PathLike
            The folder.
        """
        from .persistence import save_ensemble

        save_ensemble(self, Path(path))

    @classmethod
    def load(cls, path: str | os.PathLike, member: Callable | None = None, device: str | None = None):
        """Read an ensemble written by :meth:`save`, never unpickling anything.

        Parameters
        ----------
        path : path
            The saved folder.
        member : callable, optional
            The member factory; required (the error names the saved one) when it was not a
            ``nets`` model.
        device : str, optional
            Load the members onto this device instead of the saved ``device``.

        Returns
        -------
        BaggedNetClassifier
            The fitted ensemble, predicting as the saved one did.
        """
        from .persistence import load_ensemble

        return load_ensemble(cls, Path(path), member=member, device=device)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags
