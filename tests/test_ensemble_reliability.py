"""Reliability: checkpoints, a worker killed for real, Ctrl-C, diverging members, untrusted files."""
import functools
import json
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import augkit as A
import nets
from ensemble import BaggedNetClassifier, MemberFailedError
from ensemble.members import TrainSetup
from ensemble.plans import draw_entropy, draw_plans
from ensemble.storage import UnsafeFileError, finished_members

mlp = functools.partial(nets.MLP, widths=(64,))
ROOT = Path(__file__).resolve().parents[1]


def _clf(**kw):
    params = dict(member=mlp, n_members=4, epochs=6, batch_size=32, lr=0.05, random_state=0, verbose=0)
    params.update(kw)
    return BaggedNetClassifier(**params)


def _plans(n, n_members):
    """The plans ``_clf(n_members=n_members).fit`` draws over ``n`` rows (a member's seed depends
    only on ``random_state`` and its index)."""
    return draw_plans(n, n_members, draw_entropy(0), bootstrap=True, n_bag=n, validation_fraction=0.1, hold_out=True)


def test_checkpoint_then_resume_trains_only_missing_members(digits_tabular, tmp_path, monkeypatch):
    X, y = digits_tabular
    X, y = X[:400], y[:400]
    full = _clf(epochs=2).fit(X, y, checkpoint_dir=tmp_path)
    assert sorted(finished_members(tmp_path)) == [0, 1, 2, 3]
    # Lose member 2 (as if its process died before writing it) and leave a half-written weights file.
    (tmp_path / "member_002.json").unlink()
    (tmp_path / "member_002.safetensors").write_bytes(b"cut short")
    trained = []
    real_fit = nets.fit
    monkeypatch.setattr(nets, "fit", lambda *a, **k: trained.append(1) or real_fit(*a, **k))
    resumed = _clf(epochs=2).fit(X, y, checkpoint_dir=tmp_path, resume=True)
    assert len(trained) == 1  # only member 2
    assert np.allclose(full.predict_proba(X), resumed.predict_proba(X), atol=1e-6)


def test_checkpoint_dir_refuses_other_runs_and_accidental_overwrite(digits_tabular, tmp_path):
    X, y = digits_tabular
    _clf(epochs=1, n_members=2).fit(X[:200], y[:200], checkpoint_dir=tmp_path)
    with pytest.raises(ValueError, match="already holds finished members of this run: pass resume=True"):
        _clf(epochs=1, n_members=2).fit(X[:200], y[:200], checkpoint_dir=tmp_path)
    with pytest.raises(ValueError, match="holds members of a different run"):
        _clf(epochs=2, n_members=2).fit(X[:200], y[:200], checkpoint_dir=tmp_path, resume=True)
    with pytest.raises(ValueError, match="resume=True needs the checkpoint_dir"):
        _clf().fit(X[:200], y[:200], resume=True)


class _SlowMLP(nets.MLP):
    """An MLP whose forward pass sleeps, so that a member is surely mid-training when it is killed."""

    def forward(self, x):
        time.sleep(0.005)
        return super().forward(x)


def test_worker_killed_mid_training_names_the_member_and_resume_completes(digits_tabular, tmp_path):
    X, y = digits_tabular
    X, y = X[:640], y[:640]
    slow = dict(member=functools.partial(_SlowMLP, widths=(32,)), epochs=8, batch_size=64, n_jobs=2,
                early_stopping=False)  # >= 8 epochs x 10 steps x 5 ms = 0.4 s per member
    running = tmp_path / "ckpt" / ".running"
    killed = {}

    def kill_member_1():
        marker = running / "member_001.pid"
        deadline = time.time() + 120
        while time.time() < deadline and not marker.exists():
            time.sleep(0.01)
        time.sleep(0.1)  # inside its training
        killed["pid"] = int(marker.read_text())
        os.kill(killed["pid"], signal.SIGKILL)

    killer = threading.Thread(target=kill_member_1)
    killer.start()
    with pytest.raises(MemberFailedError, match=r"member 1 did not finish: its worker process died") as info:
        _clf(**slow).fit(X, y, checkpoint_dir=tmp_path / "ckpt")
    killer.join()
    assert 1 in info.value.members
    assert "resume=True" in str(info.value)
    assert 1 not in finished_members(tmp_path / "ckpt")
    resumed = _clf(**slow).fit(X, y, checkpoint_dir=tmp_path / "ckpt", resume=True)
    reference = _clf(**slow).fit(X, y)
    assert np.array_equal(resumed.predict(X), reference.predict(X))
    assert np.allclose(resumed.predict_proba(X), reference.predict_proba(X), atol=1e-6)


def test_ctrl_c_keeps_finished_members_and_shuts_workers_down(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(textwrap.dedent(f"""
        import functools, sys, time
        sys.path.insert(0, {str(ROOT)!r})
        import nets
        from sklearn.datasets import load_digits
        from ensemble import BaggedNetClassifier

        class SlowMLP(nets.MLP):
            def forward(self, x):
                time.sleep(0.01)
                return super().forward(x)

        if __name__ == "__main__":
            X, y = load_digits(return_X_y=True)
            clf = BaggedNetClassifier(member=functools.partial(SlowMLP, widths=(32,)), n_members=6, epochs=4,
                                      early_stopping=False, n_jobs=2, random_state=0, verbose=0)
            clf.fit(X, y, checkpoint_dir=sys.argv[1])
    """))
    ckpt = tmp_path / "ckpt"
    proc = subprocess.Popen([sys.executable, str(script), str(ckpt)], stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 180
    while time.time() < deadline and not list(ckpt.glob("member_*.json")):
        time.sleep(0.05)
    worker_pids = [int(p.read_text()) for p in (ckpt / ".running").glob("*.pid")]
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert "fit was interrupted" in stderr and "resume=True" in stderr
    assert 1 <= len(finished_members(ckpt)) < 6
    time.sleep(1.0)
    for pid in worker_pids:  # loky workers are gone, not left training
        assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text().lower()


class _PoisonedMLP(nets.MLP):
    """An MLP whose weights are Inf when built under one chosen seed: its loss is NaN at once."""

    poisoned_seed = None

    def __init__(self, **kw):
        super().__init__(widths=(16,), **kw)
        if torch.initial_seed() == _PoisonedMLP.poisoned_seed:
            with torch.no_grad():
                next(m for m in self.modules() if isinstance(m, torch.nn.Linear)).weight.fill_(float("inf"))


@pytest.mark.parametrize("engine", ["joblib", "vectorized"])
def test_a_diverging_member_is_named_and_the_others_are_unaffected(digits_tabular, tmp_path, engine):
    X, y = digits_tabular
    X, y = X[:300], y[:300]
    kw = dict(member=_PoisonedMLP, n_members=3, epochs=2, engine=engine)
    _PoisonedMLP.poisoned_seed = _plans(300, 3)[1].seed
    with pytest.raises(MemberFailedError, match=r"member 1: training diverged at epoch 0") as info:
        _clf(**kw).fit(X, y, checkpoint_dir=tmp_path)
    assert info.value.members == [1]
    assert sorted(finished_members(tmp_path)) == [0, 2]  # the others finished and are kept
    with pytest.warns(RuntimeWarning, match="dropping diverged members"):
        dropped = _clf(on_diverge="drop", **kw).fit(X, y)
    assert dropped.member_indices_ == [0, 2]
    _PoisonedMLP.poisoned_seed = -1
    healthy = _clf(**kw).fit(X, y)
    for a, b in zip(dropped.estimators_, [healthy.estimators_[0], healthy.estimators_[2]]):
        assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))


# ---------------------------------------------------------------- untrusted files
class _Payload:
    """Unpickling this would create a file: proof that code ran."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


@pytest.fixture()
def saved(digits_tabular, tmp_path):
    X, y = digits_tabular
    clf = _clf(n_members=2, epochs=1).fit(X[:200], y[:200])
    folder = tmp_path / "model"
    clf.save(folder)
    return clf, folder, X[:50]


def test_save_load_round_trip_gives_identical_predictions(saved):
    clf, folder, X = saved
    loaded = BaggedNetClassifier.load(folder)
    assert np.array_equal(clf.predict_proba(X), loaded.predict_proba(X))
    assert loaded.get_params()["n_members"] == 2 and loaded.oob_score_ == pytest.approx(clf.oob_score_)
    assert [b.tolist() for b in loaded.bootstrap_indices_] == [b.tolist() for b in clf.bootstrap_indices_]


@pytest.mark.parametrize("augment", [A.Translate(x=1, y=1, unit="pixels"),
                                     A.Compose([A.Translate(x=1, y=1, unit="pixels"), A.Rotate(degrees=5)])],
                         ids=["single-transform", "compose"])
def test_image_ensemble_round_trips_with_its_augmentation(digits_images, tmp_path, augment):
    images, y = digits_images
    clf = BaggedNetClassifier(member=functools.partial(nets.SmallCNN, widths=(4,)), n_members=2, epochs=1,
                              augment=augment, tta="shift", random_state=0, verbose=0).fit(images[:150], y[:150])
    clf.save(tmp_path / "model")
    loaded = BaggedNetClassifier.load(tmp_path / "model")
    assert loaded.augment.to_json() == augment.to_json() and type(loaded.augment) is type(augment)
    np.testing.assert_array_equal(loaded.predict_proba(images[150:180]), clf.predict_proba(images[150:180]))


def test_pickle_in_place_of_weights_is_refused_without_running(saved, tmp_path):
    _, folder, _ = saved
    proof = tmp_path / "pwned"
    payload = pickle.dumps({"state": _Payload(str(proof))})
    weights = folder / "member_000.safetensors"
    weights.write_bytes(payload)
    with pytest.raises(UnsafeFileError, match="does not match the SHA-256"):
        BaggedNetClassifier.load(folder)
    # A forger who also rewrites the recorded hash still gets no unpickling.
    meta = json.loads((folder / "member_000.json").read_text())
    import hashlib
    meta["sha256"] = hashlib.sha256(payload).hexdigest()
    (folder / "member_000.json").write_text(json.dumps(meta))
    with pytest.raises(UnsafeFileError, match="is not a valid safetensors file"):
        BaggedNetClassifier.load(folder)
    assert not proof.exists()


def test_pickle_in_place_of_the_config_is_refused(saved, tmp_path):
    _, folder, _ = saved
    proof = tmp_path / "pwned"
    (folder / "ensemble.json").write_bytes(pickle.dumps(_Payload(str(proof))))
    with pytest.raises(UnsafeFileError, match="is not a JSON file"):
        BaggedNetClassifier.load(folder)
    assert not proof.exists()


@pytest.mark.parametrize("edit, message", [
    (lambda c: c.update(members=["../outside.json"]), "points outside|not a plain file name"),
    (lambda c: c.update(members=["/etc/passwd"]), "not a plain file name"),
    (lambda c: c.update(member={"name": "system", "kwargs": {}}), "is not a nets model"),
    (lambda c: c["params"].update(evil=1), "unexpected settings"),
    (lambda c: c.update(format="other"), "is not an augkit ensemble"),
])
def test_config_cannot_point_outside_or_name_arbitrary_code(saved, edit, message):
    _, folder, _ = saved
    config = json.loads((folder / "ensemble.json").read_text())
    edit(config)
    (folder / "ensemble.json").write_text(json.dumps(config))
    with pytest.raises(UnsafeFileError, match=message):
        BaggedNetClassifier.load(folder)


def test_member_record_cannot_point_outside_its_folder(saved):
    _, folder, _ = saved
    meta = json.loads((folder / "member_001.json").read_text())
    meta["weights"] = "../../etc/passwd"
    (folder / "member_001.json").write_text(json.dumps(meta))
    with pytest.raises(UnsafeFileError, match="not a plain file name"):
        BaggedNetClassifier.load(folder)


def my_factory(input_shape, n_classes):
    """A member factory of the user's own: plain torch layers, nothing from nets."""
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(int(np.prod(input_shape)), 24), torch.nn.ReLU(),
                               torch.nn.Linear(24, n_classes))


@pytest.mark.parametrize("factory", [my_factory, functools.partial(my_factory),
                                     lambda input_shape, n_classes: my_factory(input_shape, n_classes)],
                         ids=["function", "partial", "lambda"])
def test_any_member_factory_saves_and_loads_with_the_factory(digits_tabular, tmp_path, factory):
    X, y = digits_tabular
    clf = _clf(member=factory, n_members=2, epochs=2).fit(X[:300], y[:300])
    clf.save(tmp_path / "m")
    saved = json.loads((tmp_path / "m" / "ensemble.json").read_text())["member"]
    assert saved["name"] is None and ("my_factory" in saved["qualified_name"] or "<lambda>" in saved["qualified_name"])
    loaded = BaggedNetClassifier.load(tmp_path / "m", member=factory)
    np.testing.assert_array_equal(loaded.predict_proba(X[300:400]), clf.predict_proba(X[300:400]))
    with pytest.raises(ValueError, match=r"members were built by .*(my_factory|<lambda>).*which is not a nets model"
                                         r".*load\(path, member="):
        BaggedNetClassifier.load(tmp_path / "m")


def test_new_training_options_round_trip(digits_images, tmp_path):
    images, y = digits_images
    clf = BaggedNetClassifier(member=functools.partial(nets.SmallCNN, widths=(4,)), n_members=1, epochs=1,
                              channels_last=False, l1=1e-4, decoupled_weight_decay=True, random_state=0,
                              verbose=0).fit(images[:100], y[:100])
    clf.save(tmp_path / "m")
    loaded = BaggedNetClassifier.load(tmp_path / "m")
    params = loaded.get_params()
    assert (params["channels_last"], params["l1"], params["decoupled_weight_decay"]) == (False, 1e-4, True)
    np.testing.assert_array_equal(loaded.predict_proba(images[100:130]), clf.predict_proba(images[100:130]))


def test_member_failure_is_typed_and_pickles_with_its_members():
    error = MemberFailedError("member 3 failed: ValueError: boom", [3, 5])
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is MemberFailedError and again.members == [3, 5] and str(again) == str(error)


def _failing_member(input_shape, n_classes, failing_seed):
    """A factory that raises for the member built under ``failing_seed`` (in the worker that trains it)."""
    if torch.initial_seed() == failing_seed:
        raise ValueError("this member cannot be built")
    return nets.MLP(input_shape=input_shape, n_classes=n_classes, widths=(16,))


def test_a_member_that_raises_in_a_worker_is_named_by_the_typed_error(digits_tabular):
    X, y = digits_tabular
    seed = _plans(200, 3)[2].seed
    member = functools.partial(_failing_member, failing_seed=seed)
    with pytest.raises(MemberFailedError, match=r"^member 2 failed: ValueError: this member cannot be built") as info:
        _clf(member=member, n_members=3, epochs=1, n_jobs=2).fit(X[:200], y[:200])  # raised in a worker process
    assert info.value.members == [2] and "resume=True" in str(info.value)


def test_a_vectorised_worker_names_all_the_members_it_trained_together(digits_tabular):
    from ensemble.orchestration import train_unit

    X, y = digits_tabular
    plans = _plans(100, 3)
    setup = TrainSetup(factory=functools.partial(_failing_member, failing_seed=plans[1].seed), input_shape=(64,),
                       n_classes=10, config=nets.TrainConfig(epochs=1, verbose=0), early_stopping=True, patience=5)
    with pytest.raises(MemberFailedError, match=r"member 0 failed \(trained together with members 1, 2\): ValueError"
                       ) as info:
        train_unit(plans, X[:100], y[:100].astype(np.int64), setup, vectorized=True)
    assert info.value.members == [0, 1, 2]
