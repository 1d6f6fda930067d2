"""Ensembles from one training run: Snapshot Ensembles, fast geometric ensembling and SWA.

Independent networks that share a time budget each get a fraction of it; these methods train
one network once and take several from its trajectory. The learning rate follows cycles
(:class:`nets.step.Cycles`, laid out by :func:`nets.step.cycle_layout`, the one place lr
schedules live) and the weights are taken where a cycle's lr is lowest:

- ``"snapshot"`` (Huang et al. 2017, Snapshot Ensembles): T steps split into M cycles of
  L = ceil(T / M) steps, lr_t = lr / 2 * (cos(pi * mod(t, L) / L) + 1); a snapshot at the end
  of every cycle. Each restart at the full lr leaves the minimum the last cycle settled in.
- ``"fge"`` (Garipov et al. 2018, fast geometric ensembling): the ordinary schedule first,
  then short cycles whose lr goes linearly from alpha1 down to alpha2 and back; a snapshot at
  the middle of every cycle, where lr = alpha2. The snapshots lie along a path of low loss
  near the ordinary run's minimum: less diverse than snapshot ensembles' but each better.
- ``"swa"`` (Izmailov et al. 2018, stochastic weight averaging): FGE's snapshots averaged into
  one network, w_swa = (1/n) sum_i w_i, kept as the running mean w_swa <- w_swa + (w_i - w_swa)
  / i (the average of the networks is flatter, and so better, than each; one network to run).

Every network gets BatchNorm population statistics of its own weights (Algorithm 2 of the
BatchNorm paper, the SWA paper's ``bn_update``): an average of weights never ran as such, so
no running statistic fits it. One pass over un-augmented training batches feeds every network
(:func:`nets.recompute_population_statistics`).

:class:`SnapshotCollector` works on the training loop's members (one model, or k stacked by the
ensemble's vectorised engine), so :func:`nets.fit_snapshots` and the ensemble engines take
snapshots the same way. A time budget that ends the run early keeps the snapshots taken so
far (the weights at the end, when it ends before the first).
"""
from __future__ import annotations

import copy
from collections.abc import Iterable

import torch
from torch import nn

from nets.batchnorm import recompute_population_statistics
from nets.step import Cycles

__all__ = ["SnapshotCollector"]


class SnapshotCollector:
    """The networks an ensemble from one run takes from ``k`` members' trajectories.

    Parameters
    ----------
    cycles : Cycles
        The run's cycles (:attr:`nets.step.TrainStep.cycles`): the method and the steps at which
        weights are taken.
    k : int
        Members trained together, each collecting its own snapshots.

    Attributes
    ----------
    steps : list of int
        The step counts (1-based) at which weights were taken so far.
    """

    def __init__(self, cycles: Cycles, k: int) -> None:
        self.cycles = cycles
        self.due = set(cycles.collection_steps)
        self.states: list[list[dict[str, torch.Tensor]]] = [[] for _ in range(k)]
        self.steps: list[int] = []

    @torch.no_grad()
    def after_step(self, steps_done: int, members) -> None:
        """Take every member's weights if ``steps_done`` steps end where a snapshot is due.

        ``members`` is the loop's :class:`nets.loop.Members`; member m's weights and buffers are
        copied (``"swa"``: its parameters folded into the running mean, its buffers the latest).
        """
        if steps_done not in self.due:
            return
        self.steps.append(steps_done)
        for m, taken in enumerate(self.states):
            model = members.member(m)
            state = {name: t.detach().clone() for name, t in model.state_dict().items()}
            if self.cycles.method != "swa" or not taken:
                taken.append(state)
                continue
            average = taken[0]
            names = [name for name, _ in model.named_parameters()]
            # w_swa <- w_swa + (w_n - w_swa) / n for the n-th network averaged
            torch._foreach_lerp_([average[n] for n in names], [state[n] for n in names], 1 / len(self.steps))
            average.update({name: t for name, t in state.items() if name not in names})

    def networks(self, m: int, model: nn.Module, batches: Iterable[torch.Tensor]) -> list[nn.Module]:
        """Member m's networks, in the order taken, in eval mode, each with its BatchNorm
        population statistics recomputed over ``batches`` (float inputs, one pass for all).

        ``model`` is member m's module: the last network is loaded into it, the others into
        copies of it (same layout and device). Without any snapshot taken (a run cut short)
        it is the one network, with its weights as they are.
        """
        states = self.states[m]
        models = [copy.deepcopy(model) for _ in states[:-1]] + [model]
        with torch.no_grad():
            for network, state in zip(models, states):
                network.load_state_dict(state)
        recompute_population_statistics(models, batches)
        return [network.eval() for network in models]
