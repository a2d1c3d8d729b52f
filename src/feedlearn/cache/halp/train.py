"""Online training: a bounded buffer of labelled pairs and one mini-batch update every N labels.

Labelled pairs (``pairs.py``) enter a ring buffer of ``capacity`` rows (the oldest are overwritten).
After every ``update_every`` new labels, ``steps`` Adam steps are taken, each on ``batch`` rows drawn
uniformly from the buffer with the policy's own seeded generator. Each update appends to a
history: the request index, the batch loss before the step, the batch's pairwise accuracy, and
the *decision accuracy* of the evictions labelled since the last update (how often the object the
policy chose to evict really was requested later) — the per-window curves of ``HALP.diagnostics``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from feedlearn.cache.halp import model as mlp
from feedlearn.cache.halp.rng import below

# fields of the counters array (``trainer[COUNTERS]``)
COUNT, POS, NEW, UPDATES, HIST_LEN, LAST_LABELLED, LAST_CORRECT = 0, 1, 2, 3, 4, 5, 6
# positions in the trainer tuple (``new_trainer``)
WINNERS, LOSERS, COUNTERS, GRAD, BATCH_ROWS, HISTORY = range(6)


def new_trainer(capacity: int, n_features: int, hidden: int, batch: int, history: int) -> tuple:
    """Buffer, scratch space and history for online training."""
    n_theta = mlp.n_params(n_features, hidden)
    return (
        np.zeros((capacity, n_features), dtype=np.float32),  # winner rows
        np.zeros((capacity, n_features), dtype=np.float32),  # loser rows
        np.zeros(7, dtype=np.int64),  # meta
        np.zeros(n_theta, dtype=np.float32),  # gradient scratch
        np.zeros(batch, dtype=np.int64),  # batch row indices
        np.zeros((history, 4), dtype=np.float64),  # (request, loss, batch accuracy, decision accuracy)
    )


@njit(cache=True, inline="always")
def claim(meta, capacity):
    """The ring buffer's next row (the oldest is overwritten), from the trainer's meta array and
    buffer length (no tuple passed): the caller writes winner and loser."""
    p = meta[POS]
    meta[POS] = (p + 1) % capacity
    meta[COUNT] = min(meta[COUNT] + 1, capacity)
    return p


@njit(cache=True, inline="always")
def maybe_update(trainer, model, rng, update_every, steps, labelled_total, correct_total, i):
    """Run the scheduled update if ``update_every`` labels arrived; returns True if it did.

    ``labelled_total``/``correct_total`` are the pair pool's
    running counters, for the decision accuracy since the previous update.
    """
    bw, bl, meta, grad, rows, hist = trainer
    if meta[NEW] < update_every or meta[COUNT] == 0:  # nothing due, or no row yet (label_stride > update_every)
        return False
    meta[NEW] = 0
    loss, acc = 0.0, 0.0
    for step in range(steps):
        for r in range(len(rows)):
            rows[r] = below(rng, meta[COUNT])
        step_loss, step_acc = mlp.pairwise_loss_and_grad(model, bw, bl, rows, grad)
        if step == 0:
            loss, acc = step_loss, step_acc
        mlp.adam_step(model, grad)
    meta[UPDATES] += 1
    if meta[HIST_LEN] < len(hist):
        k = meta[HIST_LEN]
        new_labels = labelled_total - meta[LAST_LABELLED]
        hist[k, 0] = i
        hist[k, 1] = loss
        hist[k, 2] = acc
        hist[k, 3] = (correct_total - meta[LAST_CORRECT]) / new_labels if new_labels > 0 else np.nan
        meta[HIST_LEN] = k + 1
    meta[LAST_LABELLED] = labelled_total
    meta[LAST_CORRECT] = correct_total
    return True
