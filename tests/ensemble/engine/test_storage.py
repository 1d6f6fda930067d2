"""ensemble.storage: checkpoints written member by member, resumed, and refused for other runs."""
import numpy as np
import pytest

import nets
from ensemble.engine.storage import finished_members
from tests.ensemble.small_ensembles import small_ensemble


def test_checkpoint_then_resume_trains_only_missing_members(digits_tabular, tmp_path, monkeypatch):
    X, y = digits_tabular
    X, y = X[:400], y[:400]
    full = small_ensemble(epochs=2).fit(X, y, checkpoint_dir=tmp_path)
    assert sorted(finished_members(tmp_path)) == [0, 1, 2, 3]
    # Lose member 2 (as if its process died before writing it) and leave a half-written weights file.
    (tmp_path / "member_002.json").unlink()
    (tmp_path / "member_002.safetensors").write_bytes(b"cut short")
    trained = []
    real_fit = nets.fit
    monkeypatch.setattr(nets, "fit", lambda *a, **k: trained.append(1) or real_fit(*a, **k))
    resumed = small_ensemble(epochs=2).fit(X, y, checkpoint_dir=tmp_path, resume=True)
    assert len(trained) == 1  # only member 2
    assert np.allclose(full.predict_proba(X), resumed.predict_proba(X), atol=1e-6)


def test_checkpoint_dir_refuses_other_runs_and_accidental_overwrite(digits_tabular, tmp_path):
    X, y = digits_tabular
    small_ensemble(epochs=1, n_members=2).fit(X[:200], y[:200], checkpoint_dir=tmp_path)
    with pytest.raises(ValueError, match="already holds finished members of this run: pass resume=True"):
        small_ensemble(epochs=1, n_members=2).fit(X[:200], y[:200], checkpoint_dir=tmp_path)
    with pytest.raises(ValueError, match="holds members of a different run"):
        small_ensemble(epochs=2, n_members=2).fit(X[:200], y[:200], checkpoint_dir=tmp_path, resume=True)
    with pytest.raises(ValueError, match="resume=True needs the checkpoint_dir"):
        small_ensemble().fit(X[:200], y[:200], resume=True)
