"""nets.average: look-ahead weight averaging, as airbench94 does it."""
import torch

import nets
from nets.average import Lookahead


def test_lookahead_is_airbench_ema_with_jump_back():
    w = torch.zeros(3)
    look = Lookahead([w], total_steps=100)
    average = None
    for step in range(1, 101):
        w += 1.0  # an optimiser step
        # airbench94: from 30% of training, every 5 steps: A.lerp_(W, 1 - rho); W.copy_(A)
        if step >= 30 and step % 5 == 0:
            if average is None:
                average = w.clone()
            else:
                rho = 0.95 ** 5 * (step / 100) ** 3
                average = average + (1 - rho) * (w - average)
        look.step(step)
        if average is not None and step % 5 == 0:
            torch.testing.assert_close(w, average)  # the weights jumped back to the average
    look.settle()
    torch.testing.assert_close(w, average)


def test_lookahead_in_fit_ends_on_the_average(digits_tabular):
    X, y = digits_tabular
    data = (torch.as_tensor(X[:200]), torch.as_tensor(y[:200]))
    averaged, plain = nets.MLP((64,), 10, widths=(32,)), nets.MLP((64,), 10, widths=(32,))
    plain.load_state_dict(averaged.state_dict())
    nets.fit(averaged, data, epochs=4, batch_size=32, lookahead=True, verbose=0, generator=0)
    nets.fit(plain, data, epochs=4, batch_size=32, verbose=0, generator=0)
    differs = any(not torch.equal(a, b) for a, b in zip(averaged.parameters(), plain.parameters()))
    assert differs  # the average, not the last fast weights
