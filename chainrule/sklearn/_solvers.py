"""The update rules of scikit-learn's MLP, on chainrule parameters.

scikit-learn's ``_stochastic_optimizers`` written out again so that the same
settings give the same steps; each works in place on the ``Parameter.data``
arrays, in their own dtype (float32 stays float32).

SGD (``learning_rate`` "constant", "invscaling" or "adaptive")::

    v <- momentum * v - lr * g
    theta <- theta + v                                  (plain momentum)
    theta <- theta + momentum * v - lr * g              (Nesterov's)

    invscaling: lr = learning_rate_init / (t + 1) ** power_t after each epoch,
                t the number of samples seen so far
    adaptive:   lr /= 5 when the stopping rule fires, until lr <= 1e-6

Adam (Kingma and Ba's, with scikit-learn's placement of epsilon)::

    m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2
    lr_t = lr * sqrt(1 - b2^t) / (1 - b1^t)
    theta <- theta - lr_t * m / (sqrt(v) + eps)
"""

from __future__ import annotations

import math

import numpy as np


class SGDSolver:
    """Stochastic gradient descent with momentum and scikit-learn's schedules.

    Parameters
    ----------
    params : list of ndarray
        The arrays to update in place.
    learning_rate_init : float
    lr_schedule : {"constant", "invscaling", "adaptive"}
    momentum : float in [0, 1]
    nesterov : bool
    power_t : float
    """

    def __init__(
        self, params, learning_rate_init, lr_schedule, momentum, nesterov, power_t
    ) -> None:
        self.learning_rate_init = float(learning_rate_init)
        self.learning_rate = float(learning_rate_init)
        self.lr_schedule = lr_schedule
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)
        self.power_t = float(power_t)
        self.velocities = [np.zeros_like(p) for p in params]

    def update(self, params, grads) -> None:
        """One step: every ``params[i]`` moves along ``grads[i]``."""
        mu, lr = self.momentum, self.learning_rate
        for p, v, g in zip(params, self.velocities, grads):
            v *= mu
            v -= lr * g
            if self.nesterov:
                p += mu * v - lr * g
            else:
                p += v

    def iteration_ends(self, time_step: int) -> None:
        """End of an epoch; ``time_step`` is the number of samples seen."""
        if self.lr_schedule == "invscaling":
            self.learning_rate = self.learning_rate_init / (time_step + 1) ** (
                self.power_t
            )

    def trigger_stopping(self) -> bool:
        """The stopping rule fired: stop (True), or divide the adaptive rate by 5."""
        if self.lr_schedule != "adaptive" or self.learning_rate <= 1e-6:
            return True
        self.learning_rate /= 5.0
        return False


class AdamSolver:
    """Adam as scikit-learn writes it (epsilon added to sqrt(v), not sqrt(v_hat)).

    Parameters
    ----------
    params : list of ndarray
    learning_rate_init, beta_1, beta_2, epsilon : float
    """

    def __init__(self, params, learning_rate_init, beta_1, beta_2, epsilon) -> None:
        self.learning_rate_init = float(learning_rate_init)
        self.learning_rate = float(learning_rate_init)
        self.beta_1, self.beta_2 = float(beta_1), float(beta_2)
        self.epsilon = float(epsilon)
        self.t = 0
        self.ms = [np.zeros_like(p) for p in params]
        self.vs = [np.zeros_like(p) for p in params]
        self._work = [np.empty_like(p) for p in params]

    def update(self, params, grads) -> None:
        """One step: every ``params[i]`` moves along ``grads[i]``."""
        self.t += 1
        b1, b2 = self.beta_1, self.beta_2
        self.learning_rate = (
            self.learning_rate_init * math.sqrt(1 - b2**self.t) / (1 - b1**self.t)
        )
        for p, m, v, g, work in zip(params, self.ms, self.vs, grads, self._work):
            m *= b1
            m += (1 - b1) * g
            v *= b2
            np.multiply(g, g, out=work)
            work *= 1 - b2
            v += work
            np.sqrt(v, out=work)
            work += self.epsilon
            np.divide(m, work, out=work)
            work *= self.learning_rate
            p -= work

    def iteration_ends(self, time_step: int) -> None:
        """Adam has no per-epoch schedule."""

    def trigger_stopping(self) -> bool:
        return True
