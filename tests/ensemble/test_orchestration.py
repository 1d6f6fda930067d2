"""ensemble.orchestration: members trained in worker processes (joblib, dask, one per device); a worker
killed for real, Ctrl-C, a member that raises in a worker; workers import no scikit-learn."""
import functools
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import joblib
import numpy as np
import pytest
import torch

import nets
import nets.batches
import nets.precision
from ensemble import BaggedNetClassifier, MemberFailedError
from ensemble.bagging import training_devices
from ensemble.members import TrainSetup
from ensemble.storage import finished_members
from tests.ensemble.small_ensembles import member_plans, small_ensemble

ROOT = Path(__file__).resolve().parents[2]


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
        small_ensemble(**slow).fit(X, y, checkpoint_dir=tmp_path / "ckpt")
    killer.join()
    assert 1 in info.value.members
    assert "resume=True" in str(info.value)
    assert 1 not in finished_members(tmp_path / "ckpt")
    resumed = small_ensemble(**slow).fit(X, y, checkpoint_dir=tmp_path / "ckpt", resume=True)
    reference = small_ensemble(**slow).fit(X, y)
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


def _failing_member(input_shape, n_classes, failing_seed):
    """A factory that raises for the member built under ``failing_seed`` (in the worker that trains it)."""
    if torch.initial_seed() == failing_seed:
        raise ValueError("this member cannot be built")
    return nets.MLP(input_shape=input_shape, n_classes=n_classes, widths=(16,))


def test_a_member_that_raises_in_a_worker_is_named_by_the_typed_error(digits_tabular):
    X, y = digits_tabular
    seed = member_plans(200, 3)[2].seed
    member = functools.partial(_failing_member, failing_seed=seed)
    with pytest.raises(MemberFailedError, match=r"^member 2 failed: ValueError: this member cannot be built") as info:
        small_ensemble(member=member, n_members=3, epochs=1, n_jobs=2).fit(X[:200], y[:200])  # raised in a worker process
    assert info.value.members == [2] and "resume=True" in str(info.value)


def test_a_vectorised_worker_names_all_the_members_it_trained_together(digits_tabular):
    from ensemble.orchestration import train_unit

    X, y = digits_tabular
    plans = member_plans(100, 3)
    setup = TrainSetup(factory=functools.partial(_failing_member, failing_seed=plans[1].seed), input_shape=(64,),
                       n_classes=10, config=nets.TrainConfig(epochs=1, verbose=0), early_stopping=True, patience=5)
    with pytest.raises(MemberFailedError, match=r"member 0 failed \(trained together with members 1, 2\): ValueError"
                       ) as info:
        train_unit(plans, X[:100], y[:100].astype(np.int64), setup, vectorized=True)
    assert info.value.members == [0, 1, 2]


cnn = functools.partial(nets.SmallCNN, widths=(4, 8), p_keep=0.7)  # BatchNorm and Dropout both inside


def test_one_worker_process_per_device_trains_the_same_members(digits_images):
    images, y = digits_images
    kw = dict(member=cnn, n_members=3, epochs=1, random_state=0, verbose=0, engine="vectorized")
    one_device = BaggedNetClassifier(device="cpu", **kw).fit(images[:200], y[:200])
    two_devices = BaggedNetClassifier(device=["cpu", "cpu"], **kw).fit(images[:200], y[:200])
    assert training_devices(two_devices.device) == ["cpu", "cpu"]
    assert np.allclose(one_device.predict_proba(images[200:300]), two_devices.predict_proba(images[200:300]), atol=1e-4)


def _member_recording_pid(folder, input_shape, n_classes):
    (folder / f"{os.getpid()}-{len(list(folder.iterdir()))}").write_text("")
    return nets.MLP(input_shape=input_shape, n_classes=n_classes, widths=(32,))


def test_fit_through_a_local_cluster_of_two_worker_processes(digits_tabular, tmp_path):
    """The unchanged estimator trains on a real dask.distributed cluster through joblib."""
    distributed = pytest.importorskip("distributed", reason="dask[distributed] is an optional extra")
    X, y = digits_tabular
    member = functools.partial(_member_recording_pid, tmp_path)
    kw = dict(member=member, n_members=3, epochs=3, random_state=0, verbose=0)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        worker_pids = set(client.run(os.getpid).values())
        with joblib.parallel_config(backend="dask"):
            on_cluster = BaggedNetClassifier(**kw).fit(X[:500], y[:500])
    builders = [int(p.name.split("-")[0]) for p in tmp_path.iterdir()]
    # Each member was built (and trained) once on a cluster worker; the parent only rebuilt them to load weights.
    assert sum(pid in worker_pids for pid in builders) == 3
    assert builders.count(os.getpid()) == 3
    local = BaggedNetClassifier(**kw).fit(X[:500], y[:500])
    assert np.allclose(on_cluster.predict_proba(X[500:700]), local.predict_proba(X[500:700]), atol=1e-6)


def test_worker_side_import_leaves_out_scikit_learn():
    """A joblib worker unpickling ensemble.orchestration.train_unit must not pay for importing sklearn."""
    code = ("import sys, ensemble.orchestration; assert 'sklearn' not in sys.modules, 'sklearn imported'; "
            "from ensemble import BaggedNetClassifier, vote; assert 'sklearn' in sys.modules; "
            "import ensemble; assert sorted(ensemble.__all__) == sorted(n for n in ensemble.__all__ if hasattr(ensemble, n))")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
