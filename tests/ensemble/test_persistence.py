"""ensemble.persistence: save and load round trips, and untrusted files refused without running code."""
import functools
import json
import pickle

import numpy as np
import pytest
import torch

import augkit as A
import nets
from ensemble import BaggedNetClassifier
from ensemble.engine.storage import UnsafeFileError
from tests.ensemble.small_ensembles import small_ensemble


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
    clf = small_ensemble(n_members=2, epochs=1).fit(X[:200], y[:200])
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
    clf = small_ensemble(member=factory, n_members=2, epochs=2).fit(X[:300], y[:300])
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


def test_a_folder_saved_with_the_former_vectorize_setting_loads(saved):
    clf, path, X = saved
    config = json.loads((path / "ensemble.json").read_text())
    config["params"].update(engine="vectorized", vectorize="grouped")  # engine= and vectorize= before they merged
    (path / "ensemble.json").write_text(json.dumps(config))
    again = BaggedNetClassifier.load(path)
    assert again.engine == "grouped" and "vectorize" not in again.get_params()
    np.testing.assert_allclose(again.predict_proba(X[:50]), clf.predict_proba(X[:50]), atol=1e-6)
