"""nets.snapshots and the cyclic schedules of nets.step: Snapshot Ensembles, FGE and SWA from one run."""
import copy
import math

import pytest
import torch
from torch import nn

import nets
from nets import MLP, fit, fit_snapshots
from nets.batches import population_batches
from nets.step import FGE_LR, FGE_MAIN_SHARE, cycle_layout, lr_factor, min_cycle_steps

# 96 rows in batches of 16: 6 steps per epoch
X = torch.rand(96, 6, generator=torch.Generator().manual_seed(0))
Y = (X[:, 0] > 0.5).long() + (X[:, 1] > 0.5).long()


def recorded_lrs(monkeypatch) -> list[float]:
    """The lr of every optimiser step of the runs that follow."""
    lrs = []
    step = nets.optim.SGD.step
    monkeypatch.setattr(nets.optim.SGD, "step", lambda self, lr: (lrs.append(lr), step(self, lr))[1])
    return lrs


def bn_net() -> nn.Module:
    """A small network with torch's own BatchNorm (what torch.optim.swa_utils.update_bn knows), no dropout."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 3))


def snapshot_lr(t: int, total: int, cycles: int) -> float:
    """Huang et al. 2017, eq. 2 with 0-based t: alpha0 / 2 (cos(pi mod(t, ceil(T/M)) / ceil(T/M)) + 1), alpha0 = 1."""
    length = math.ceil(total / cycles)
    return 0.5 * (math.cos(math.pi * (t % length) / length) + 1)


def fge_lr(i: int, c: int) -> float:
    """Garipov et al. 2018, section 4 (1-based iteration i of the cycles, cycle length c)."""
    a1, a2 = FGE_LR
    t = ((i - 1) % c + 1) / c
    return (1 - 2 * t) * a1 + 2 * t * a2 if t <= 0.5 else (2 - 2 * t) * a2 + (2 * t - 1) * a1


def test_snapshot_lr_is_the_cyclic_cosine_at_every_step(monkeypatch):
    lrs = recorded_lrs(monkeypatch)
    networks, history = fit_snapshots(MLP((6,), 3, widths=(8,)), (X, Y), epochs=5, batch_size=16, lr=0.2,
                                      snapshots="snapshot", n_snapshots=3, generator=0, verbose=0)
    # 30 steps in 3 cycles of 10
    assert lrs == pytest.approx([0.2 * snapshot_lr(t, 30, 3) for t in range(30)])
    assert history.snapshot_steps == [10, 20, 30] and len(networks) == 3
    assert lrs[0] == pytest.approx(0.2) and lrs[10] == pytest.approx(0.2)  # restarts at the full lr


def test_snapshot_cycles_are_completed_when_the_steps_do_not_divide():
    cycles = cycle_layout("snapshot", 4, 30)  # ceil(30 / 4) = 8 steps per cycle: 32 steps
    assert (cycles.start, cycles.length, cycles.total_steps) == (0, 8, 32)
    assert cycles.collection_steps == (8, 16, 24, 32)
    factors = [lr_factor("triangular", t, 30, cycles) for t in range(32)]
    assert factors == pytest.approx([snapshot_lr(t, 30, 4) for t in range(32)])


def test_fge_lr_is_the_ordinary_schedule_then_the_piecewise_linear_cycles(monkeypatch):
    lrs = recorded_lrs(monkeypatch)
    networks, history = fit_snapshots(MLP((6,), 3, widths=(8,)), (X, Y), epochs=10, batch_size=16, lr=0.2,
                                      lr_schedule="onecycle", snapshots="fge", n_snapshots=3, generator=0, verbose=0)
    total = 60
    cycles = cycle_layout("fge", 3, total)
    # the last 20% (12 steps) hold 5 half cycles of 2 steps: the cycles start at step 50
    assert (cycles.start, cycles.length) == (50, 4) and round(FGE_MAIN_SHARE * total) == 48
    expected = [0.2 * lr_factor("onecycle", t, 50) for t in range(50)]
    expected += [0.2 * fge_lr(i, 4) for i in range(1, 11)]
    assert lrs == pytest.approx(expected)
    assert history.snapshot_steps == [52, 56, 60] and len(networks) == 3
    # each network is taken right after a step at alpha2, the cycle's lowest lr
    assert [lrs[s - 1] for s in history.snapshot_steps] == pytest.approx([0.2 * FGE_LR[1]] * 3)


def test_not_enough_steps_for_the_cycles():
    assert min_cycle_steps("snapshot", 3) == 6 and min_cycle_steps("fge", 3) == 25
    cycle_layout("fge", 3, 25)
    with pytest.raises(ValueError, match=r"3 'fge' cycles need at least 25 training steps .* got 24: train longer"):
        cycle_layout("fge", 3, 24)
    with pytest.raises(ValueError, match="4 'snapshot' cycles need at least 8 training steps"):
        fit_snapshots(MLP((6,), 3, widths=(8,)), (X, Y), epochs=1, batch_size=16, snapshots="snapshot",
                      n_snapshots=4, verbose=0)


def test_swa_is_the_mean_of_the_fge_networks_and_swa_utils_average():
    options = dict(epochs=10, batch_size=16, lr=0.1, n_snapshots=3, generator=0, verbose=0)
    fge, _ = fit_snapshots(bn_net(), (X, Y), snapshots="fge", **options)
    [swa], history = fit_snapshots(bn_net(), (X, Y), snapshots="swa", **options)
    assert history.snapshot_steps == [52, 56, 60]  # the same run and snapshots as FGE's
    for name, p in swa.named_parameters():
        mean = torch.stack([dict(net.named_parameters())[name] for net in fge]).mean(0)
        torch.testing.assert_close(p, mean, rtol=1e-5, atol=1e-6)
    averaged = torch.optim.swa_utils.AveragedModel(copy.deepcopy(fge[0]))
    for net in fge:  # its first update copies, the others average
        averaged.update_parameters(net)
    for (name, p), q in zip(swa.named_parameters(), averaged.module.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6, msg=name)


def test_batchnorm_statistics_are_recomputed_as_swa_utils_update_bn():
    [swa], _ = fit_snapshots(bn_net(), (X, Y), epochs=10, batch_size=16, lr=0.1, snapshots="swa", n_snapshots=3,
                             generator=0, verbose=0)
    reference = copy.deepcopy(swa)
    reference[1].running_mean.fill_(5.0)  # anything: update_bn resets it
    torch.optim.swa_utils.update_bn(list(population_batches(X, 16)), reference)
    torch.testing.assert_close(swa[1].running_mean, reference[1].running_mean)
    torch.testing.assert_close(swa[1].running_var, reference[1].running_var)
    assert not swa.training


def test_every_snapshot_gets_statistics_of_its_own_weights():
    networks, _ = fit_snapshots(MLP((6,), 3, widths=(8,), batch_norm=True), (X, Y), epochs=5, batch_size=16, lr=0.2,
                                snapshots="snapshot", n_snapshots=3, generator=0, verbose=0)
    for net in networks:
        alone = nets.recompute_population_statistics(copy.deepcopy(net), population_batches(X, 16))
        for a, b in zip(net.buffers(), alone.buffers()):
            torch.testing.assert_close(a, b)
    means = [next(m for m in net.modules() if isinstance(m, nets.BatchNorm)).running_mean for net in networks]
    assert not torch.equal(means[0], means[1])


def test_fit_with_snapshots_ends_as_the_last_network():
    torch.manual_seed(0)
    last, _ = fit_snapshots(MLP((6,), 3, widths=(8,)), (X, Y), epochs=5, batch_size=16, snapshots="snapshot",
                            n_snapshots=3, generator=0, verbose=0)
    torch.manual_seed(0)
    model = MLP((6,), 3, widths=(8,))
    history = fit(model, (X, Y), epochs=5, batch_size=16, snapshots="snapshot", n_snapshots=3, generator=0, verbose=0)
    assert history.snapshot_steps == [10, 20, 30]
    for p, q in zip(model.parameters(), last[-1].parameters()):
        torch.testing.assert_close(p, q)


def test_refusals():
    with pytest.raises(ValueError, match="lookahead=True averages the weights along the run, which "
                                         "snapshots='fge' takes its networks from: set lookahead=False"):
        nets.TrainConfig(snapshots="fge", lookahead=True)
    with pytest.raises(ValueError, match=r"snapshots must be one of \(None, 'snapshot', 'fge', 'swa'\), got 'cyclic'"):
        nets.TrainConfig(snapshots="cyclic")
    with pytest.raises(ValueError, match="fit_snapshots takes networks from the run as snapshots= says"):
        fit_snapshots(MLP((6,), 3), (X, Y), verbose=0)
    with pytest.raises(ValueError, match="early stopping would cut short the schedule that snapshots='snapshot'"):
        fit(MLP((6,), 3), (X, Y), (X, Y), early_stopping=nets.EarlyStopping(), snapshots="snapshot", n_snapshots=2,
            verbose=0)


def test_a_time_budget_that_ends_the_run_keeps_the_snapshots_taken():
    epochs = []
    # a budget of 1e-9 s ends the run after its first epoch (6 steps): the first snapshot (step 4) is kept
    networks, history = fit_snapshots(MLP((6,), 3, widths=(8,)), (X, Y), epochs=4, batch_size=16,
                                      snapshots="snapshot", n_snapshots=6, time_budget=1e-9, generator=0, verbose=0,
                                      on_epoch_end=lambda e, h: epochs.append(e))
    assert epochs == [0] and history.snapshot_steps == [4] and len(networks) == 1
