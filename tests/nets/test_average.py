"""nets.average: look-ahead weight averaging, as airbench94 does it."""
import pytest
import torch

import nets
from nets.average import Lookahead


def test_lookahead_is_airbench_ema_with_jump_back_from_the_first_step():
    w = torch.zeros(3)
    look = Lookahead([w], total_steps=100, start=0.0)
    average = w.clone()  # airbench94: the average starts as the initial weights
    for step in range(1, 101):
        w += 1.0  # an optimiser step
        # airbench94, every 5 steps: A.lerp_(W, 1 - rho); W.copy_(A)
        if step % 5 == 0:
            rho = 0.95 ** 5 * (step / 100) ** 3
            average = average + (1 - rho) * (w - average)
        look.step(step)
        if step % 5 == 0:
            torch.testing.assert_close(w, average)  # the weights jumped back to the average
    look.settle()
    torch.testing.assert_close(w, average)


def test_a_later_start_begins_the_average_from_the_weights_then():
    w = torch.zeros(2)
    look = Lookahead([w], total_steps=100, start=0.3)
    for step in range(1, 31):
        w += 1.0
        look.step(step)
    torch.testing.assert_close(look.average[0], torch.full((2,), 30.0))  # not the initial zeros
    w += 5.0
    look.step(35)
    rho = 0.95 ** 5 * 0.35 ** 3
    torch.testing.assert_close(w, torch.full((2,), 30 + (1 - rho) * 5))


def test_lookahead_equals_airbenchs_lookahead_state():
    airbench_utils = pytest.importorskip("airbench.utils")
    torch.manual_seed(0)
    theirs, ours = torch.nn.Linear(4, 3), torch.nn.Linear(4, 3)
    ours.load_state_dict(theirs.state_dict())
    total = 40
    alpha = 0.95 ** 5 * (torch.arange(total + 1) / total) ** 3  # airbench94's alpha_schedule
    state = airbench_utils.LookaheadState(theirs)
    look = Lookahead(list(ours.parameters()), total_steps=total, start=0.0)
    for step in range(1, total + 1):
        move = torch.randn(3, 4), torch.randn(3)
        for net in (theirs, ours):
            with torch.no_grad():
                net.weight += move[0]
                net.bias += move[1]
        if step % 5 == 0:
            state.update(theirs, decay=alpha[step].item())
        look.step(step)
        for a, b in zip(theirs.parameters(), ours.parameters()):
            torch.testing.assert_close(a, b)
    state.update(theirs, decay=1.0)  # airbench's end of training: the weights become the average
    look.settle()
    for a, b in zip(theirs.parameters(), ours.parameters()):
        torch.testing.assert_close(a, b)


def test_lookahead_in_fit_ends_on_the_average(digits_tabular):
    X, y = digits_tabular
    data = (torch.as_tensor(X[:200]), torch.as_tensor(y[:200]))
    averaged, plain = nets.MLP((64,), 10, widths=(32,)), nets.MLP((64,), 10, widths=(32,))
    plain.load_state_dict(averaged.state_dict())
    nets.fit(averaged, data, epochs=4, batch_size=32, lookahead=True, verbose=0, generator=0)
    nets.fit(plain, data, epochs=4, batch_size=32, verbose=0, generator=0)
    differs = any(not torch.equal(a, b) for a, b in zip(averaged.parameters(), plain.parameters()))
    assert differs  # the average, not the last fast weights
