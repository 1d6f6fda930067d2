"""The unchanged estimator trains on a real dask.distributed cluster through joblib."""
import functools
import os

import joblib
import numpy as np
import pytest

import nets
from ensemble import BaggedNetClassifier

distributed = pytest.importorskip("distributed", reason="dask[distributed] is an optional extra")


def _member_recording_pid(folder, input_shape, n_classes):
    (folder / f"{os.getpid()}-{len(list(folder.iterdir()))}").write_text("")
    return nets.MLP(input_shape=input_shape, n_classes=n_classes, widths=(32,))


def test_fit_through_a_local_cluster_of_two_worker_processes(digits_tabular, tmp_path):
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
