"""BatchNorm's inference statistics: last-epoch running average vs recomputed with the final weights.

Ioffe & Szegedy's Algorithm 2 computes the population mean and variance with the *trained*
network. An average collected during training mixes statistics of weights that kept moving;
with a large constant learning rate those no longer match the final weights. ``nets.fit`` now
recomputes them after training (``nets.recompute_population_statistics``); this script shows
what that is worth: SmallCNN on 10,000 CIFAR-10 training images (validation = the last 1,000
images of each class), constant and one-cycle learning rates, 2 and 8 epochs.

    python examples/bn_population_statistics.py
"""
from __future__ import annotations

import copy
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import cifar10_ablation as ablation

from nets import SmallCNN, evaluate, fit


def main() -> None:
    torch.set_num_threads(2)
    train, val = ablation.load_split(10000, 0)
    normalize = ablation.channel_stats(train[0])
    print("| lr schedule | epochs | last-epoch running average | recomputed (Algorithm 2) |\n|---|---:|---:|---:|")
    for schedule in ("constant", "onecycle"):
        for epochs in (2, 8):
            torch.manual_seed(0)
            model = SmallCNN()
            snapshots = []  # the state at each epoch's end, before fit recomputes the statistics
            fit(model, train, epochs=epochs, batch_size=128, lr=0.05, momentum=0.9, lr_schedule=schedule,
                normalize=normalize, generator=0, verbose=0,
                on_epoch_end=lambda epoch, history, m=model, s=snapshots: s.append(copy.deepcopy(m.state_dict())))
            _, recomputed = evaluate(model, *val, normalize=normalize)
            running = copy.deepcopy(model)
            running.load_state_dict(snapshots[-1])
            _, averaged = evaluate(running, *val, normalize=normalize)
            print(f"| {schedule} | {epochs} | {averaged:.4f} | {recomputed:.4f} |", flush=True)


if __name__ == "__main__":
    main()
