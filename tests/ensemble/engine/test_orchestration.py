"""ensemble.engine.orchestration: members trained in worker processes (joblib, dask, one per device); a worker
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
from ensemble.engine.members import TrainSetup
from ensemble.engine.sources import ArraySource
from ensemble.engine.storage import finished_members
from ensemble.settings import training_devices
from tests.ensemble.small_ensembles import member_plans, small_ensemble

ROOT = Path(__file__).resolve().parents[3]


class _HeldMLP(nets.MLP):
    """An MLP that, while training as the member built from seed ``held_seed`` and while the
    file ``hold`` exists, notes its process id in ``started`` and then waits for ``hold`` to go:
    that member is surely mid-training when the test kills its process."""

    def __init__(self, input_shape, n_classes, hold, started, held_seed):
        super().__init__(input_shape=input_shape, n_classes=n_classes, widths=(32,))
        self.hold, self.started = Path(hold), Path(started)
        self.held = torch.initial_seed() == held_seed  # build_member seeds torch with the member's seed

    def forward(self, x):
        if self.training and self.held and self.hold.exists():
            self.started.write_text(str(os.getpid()))
            while self.hold.exists():  # released (or killed) by the test
                time.sleep(0.01)
        return super().forward(x)


def _wait_for(folder: Path, pattern: str, process: subprocess.Popen | None = None, limit: float = 300) -> None:
    """Wait until a file matching ``pattern`` exists in ``folder`` (observed progress), failing
    if ``process`` ends first."""
    deadline = time.monotonic() + limit
    while not list(folder.glob(pattern)):
        if process is not None and process.poll() is not None:
            pytest.fail(f"the process ended (status {process.returncode}) before {pattern} appeared: "
                        f"{process.stderr.read() if process.stderr else ''}")
        assert time.monotonic() < deadline, f"no {pattern} appeared in {folder}"
        time.sleep(0.01)


def test_worker_killed_mid_training_names_the_member_and_resume_completes(digits_tabular, tmp_path):
    X, y = digits_tabular
    X, y = X[:640], y[:640]
    hold, started = tmp_path / "hold", tmp_path / "started"
    member = functools.partial(_HeldMLP, hold=hold, started=started, held_seed=member_plans(640, 4)[1].seed)
    kw = dict(member=member, epochs=3, batch_size=64, n_jobs=2, early_stopping=False)
    hold.write_text("")
    killed = {}

    def kill_member_1():
        _wait_for(tmp_path, started.name)  # member 1 is inside its training
        killed["pid"] = int(started.read_text())
        os.kill(killed["pid"], signal.SIGKILL)
        hold.unlink()

    killer = threading.Thread(target=kill_member_1)
    killer.start()
    # loky shuts the whole pool down when a worker dies, so members training beside member 1 are named too
    with pytest.raises(MemberFailedError, match=r"^(member \d, )*member 1(, member \d)* did not finish: its worker "
                       r"process died") as info:
        small_ensemble(**kw).fit(X, y, checkpoint_dir=tmp_path / "ckpt")
    killer.join()
    assert 1 in info.value.members
    assert "resume=True" in str(info.value)
    assert 1 not in finished_members(tmp_path / "ckpt")
    resumed = small_ensemble(**kw).fit(X, y, checkpoint_dir=tmp_path / "ckpt", resume=True)
    reference = small_ensemble(**kw).fit(X, y)
    assert np.array_equal(resumed.predict(X), reference.predict(X))
    assert np.allclose(resumed.predict_proba(X), reference.predict_proba(X), atol=1e-6)


def test_ctrl_c_keeps_finished_members_and_shuts_workers_down(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(textwrap.dedent(f"""
        import functools, sys, time
        from pathlib import Path
        sys.path.insert(0, {str(ROOT)!r})
        import nets
        from sklearn.datasets import load_digits
        from ensemble import BaggedNetClassifier

        class HeldMLP(nets.MLP):
            # Once a member has finished, every member still training waits here for Ctrl-C.
            def forward(self, x):
                while self.training and list(Path(sys.argv[1]).glob("member_*.json")):
                    time.sleep(0.01)
                return super().forward(x)

        if __name__ == "__main__":
            X, y = load_digits(return_X_y=True)
            clf = BaggedNetClassifier(member=functools.partial(HeldMLP, widths=(32,)), n_members=6, epochs=2,
                                      early_stopping=False, n_jobs=2, random_state=0, verbose=0)
            clf.fit(X, y, checkpoint_dir=sys.argv[1])
    """))
    ckpt = tmp_path / "ckpt"
    proc = subprocess.Popen([sys.executable, str(script), str(ckpt)], stderr=subprocess.PIPE, text=True)
    _wait_for(ckpt, "member_*.json", proc)
    worker_pids = [int(p.read_text()) for p in (ckpt / ".running").glob("*.pid")]
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert "fit was interrupted" in stderr and "resume=True" in stderr
    assert 1 <= len(finished_members(ckpt)) < 6
    deadline = time.monotonic() + 60
    for pid in worker_pids:  # loky shuts its workers down: wait for each to be gone (or a zombie)
        while Path(f"/proc/{pid}").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text().lower():
            assert time.monotonic() < deadline, f"worker process {pid} is still running"
            time.sleep(0.05)


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
    from ensemble.engine.orchestration import train_unit

    X, y = digits_tabular
    plans = member_plans(100, 3)
    setup = TrainSetup(factory=functools.partial(_failing_member, failing_seed=plans[1].seed), input_shape=(64,),
                       n_classes=10, config=nets.TrainConfig(epochs=1, verbose=0), early_stopping=True, patience=5)
    with pytest.raises(MemberFailedError, match=r"member 0 failed \(trained together with members 1, 2\): ValueError"
                       ) as info:
        train_unit(plans, ArraySource(X[:100], y[:100].astype(np.int64)), setup, engine="vmap")
    assert info.value.members == [0, 1, 2]


cnn = functools.partial(nets.SmallCNN, widths=(4, 8), p_keep=0.7)  # BatchNorm and Dropout both inside


def test_one_worker_process_per_device_trains_the_same_members(digits_images):
    images, y = digits_images
    kw = dict(member=cnn, n_members=3, epochs=1, random_state=0, verbose=0, engine="vmap")
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
    """A joblib worker unpickling ensemble.engine.orchestration.train_unit must not pay for importing sklearn."""
    code = ("import sys, ensemble.engine.orchestration; assert 'sklearn' not in sys.modules, 'sklearn imported'; "
            "from ensemble import BaggedNetClassifier, vote; assert 'sklearn' in sys.modules; "
            "import ensemble; assert sorted(ensemble.__all__) == sorted(n for n in ensemble.__all__ if hasattr(ensemble, n))")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
