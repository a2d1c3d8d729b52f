"""The reward model: a 2-layer MLP scoring one object, trained with the pairwise logistic loss.

``score(x) = w2 · relu(W1 x + b1) + b2`` (``x``: ``F`` features, hidden width ``H``). For a labelled
pair (``x_w`` kept-worthy — requested first — and ``x_l``), the Bradley–Terry loss is
``softplus(score(x_l) - score(x_w))`` = ``-log σ(score(x_w) - score(x_l))``; Adam updates the
parameters. Under an exponential model of re-access, ``score`` is the log of the re-access rate.

Why by hand instead of torch: the model runs inside the compiled eviction loop, a few
microseconds per eviction; a call into torch costs tens of microseconds, more than the whole
request budget. Forward, backward and Adam for this one architecture are ~60 lines, and the tests
check them against torch autograd and ``torch.optim.Adam``. :func:`to_torch` / :func:`from_torch`
convert to and from an equivalent ``nn.Sequential`` for users.

All parameters live in one flat float32 vector ``theta = [W1 (H×F, row-major), b1 (H), w2 (H), b2]``
(Adam updates it in one loop); the model tuple also carries 2-D/1-D *views* of its parts, so the
scoring loops index ``W1[j, i]`` directly — LLVM vectorises those, not slices of ``theta`` (measured
184 ns instead of 520 ns per score, F=46, H=32).

Model tuple: ``(theta, adam_m, adam_v, step, dims, lr, W1, b1, w2, b2)``. Its positions are named
(``model[W1]``), here and nowhere else.
"""

from __future__ import annotations

import zipfile
import zlib
from pathlib import Path

import numpy as np
from numba import njit

from feedlearn.common.errors import FeedlearnError
from feedlearn.common.io import atomic_write

# Reassociation and FMA let LLVM vectorise the dot products (measured 0.35 -> 0.45 M requests/s for
# HALP); no "nnan"/"ninf", so non-finite scores stay visible to the fallback check.
FAST = {"reassoc", "contract", "arcp"}
ADAM_BETA1 = 0.9
ADAM_BETA2 = 0.999
ADAM_EPS = 1e-8
# positions in the model tuple
THETA, ADAM_M, ADAM_V, STEP, DIMS, LR, W1, B1, W2, B2 = range(10)


def n_params(n_features: int, hidden: int) -> int:
    return hidden * n_features + 2 * hidden + 1


def _with_views(theta, m, v, step, dims, lr) -> tuple:
    """The model tuple: the flat parameters and Adam state, plus views of W1, b1, w2, b2."""
    f, h = int(dims[0]), int(dims[1])
    return (theta, m, v, step, dims, lr, theta[: h * f].reshape(h, f), theta[h * f : h * f + h],
            theta[h * f + h : h * f + 2 * h], theta[h * f + 2 * h :])


def new_model(n_features: int, hidden: int, rng: np.random.Generator, lr: float) -> tuple:
    """A randomly initialised model (see the module docstring for the tuple).

    Initialisation as torch's ``nn.Linear`` (uniform in ±1/sqrt(fan_in)).
    """
    bound1, bound2 = 1.0 / np.sqrt(n_features), 1.0 / np.sqrt(hidden)
    theta = np.concatenate([
        rng.uniform(-bound1, bound1, hidden * n_features),
        rng.uniform(-bound1, bound1, hidden),
        rng.uniform(-bound2, bound2, hidden),
        rng.uniform(-bound2, bound2, 1),
    ]).astype(np.float32)
    return _with_views(
        theta,
        np.zeros_like(theta),
        np.zeros_like(theta),
        np.zeros(1, dtype=np.int64),  # Adam step count
        np.array([n_features, hidden], dtype=np.int64),
        np.array([lr], dtype=np.float64),
    )


@njit(cache=True, fastmath=FAST)  # not inlined: inlined code takes the caller's (strict) float flags
def score(model, x, hidden_out):
    """Score of one feature vector ``x`` (F,); the hidden activations go to ``hidden_out`` (H,)."""
    w1, b1, w2, b2 = model[W1], model[B1], model[W2], model[B2]
    h, f = w1.shape
    total = np.float32(0.0)
    for j in range(h):
        acc = np.float32(0.0)
        for i in range(f):
            acc += w1[j, i] * x[i]
        acc += b1[j]
        act = acc if acc > 0 else np.float32(0.0)
        hidden_out[j] = act
        total += w2[j] * act
    return total + b2[0]


@njit(cache=True, fastmath=FAST)
def pairwise_loss_and_grad(model, xw, xl, rows, grad):
    """Mean BT loss over ``rows`` of (xw, xl) and its gradient (written to ``grad``); also accuracy.

    Returns ``(loss, fraction of pairs ranked correctly, i.e. score(xw) > score(xl))``. The two
    matrix products of the batch (first layer forward, its weight gradient) go to BLAS through
    ``np.dot``: ~5x faster than row by row (measured 128 -> 25 us for 128 pairs, F=46, H=32).
    """
    w1, b1, w2 = model[W1], model[B1], model[W2]
    h, f = w1.shape
    m = len(rows)
    x = np.empty((2 * m, f), dtype=np.float32)  # the batch's winners, then its losers
    for r in range(m):  # element loops, not slice assignments: those compile shape checks (~2 s each)
        for i in range(f):
            x[r, i] = xw[rows[r], i]
            x[m + r, i] = xl[rows[r], i]
    act = np.dot(x, w1.T)  # first layer pre-activations, then (in place) activations
    back = np.empty((2 * m, h), dtype=np.float32)  # d loss / d pre-activation
    for p in range(len(grad)):
        grad[p] = 0.0
    gb1, gw2 = h * f, h * f + h
    loss = 0.0
    correct = 0
    for r in range(m):
        sw = np.float32(0.0)  # b2 cancels in the difference
        sl = np.float32(0.0)
        for j in range(h):
            zw = act[r, j] + b1[j]
            zl = act[m + r, j] + b1[j]
            act[r, j] = zw if zw > 0 else np.float32(0.0)
            act[m + r, j] = zl if zl > 0 else np.float32(0.0)
            sw += w2[j] * act[r, j]
            sl += w2[j] * act[m + r, j]
        d = np.float64(sw - sl)
        # softplus(-d), computed stably; d loss / d d = sigmoid(d) - 1
        loss += np.log1p(np.exp(-abs(d))) + max(-d, 0.0)
        sig = 1.0 / (1.0 + np.exp(-d)) if d >= 0 else np.exp(d) / (1.0 + np.exp(d))
        g = np.float32((sig - 1.0) / m)
        for j in range(h):
            grad[gw2 + j] += g * (act[r, j] - act[m + r, j])
            back[r, j] = g * w2[j] if act[r, j] > 0 else np.float32(0.0)
            back[m + r, j] = -g * w2[j] if act[m + r, j] > 0 else np.float32(0.0)
            grad[gb1 + j] += back[r, j] + back[m + r, j]
        if d > 0:
            correct += 1
    gw1 = np.dot(back.T, x)
    for j in range(h):
        for i in range(f):
            grad[j * f + i] = gw1[j, i]
    return loss / m, correct / m


@njit(cache=True, fastmath=FAST)
def adam_step(model, grad):
    """One Adam update of theta with ``grad`` (torch.optim.Adam's defaults, no weight decay)."""
    theta, m, v, step, lr = model[THETA], model[ADAM_M], model[ADAM_V], model[STEP], model[LR]
    step[0] += 1
    t = step[0]
    c1 = 1.0 - ADAM_BETA1**t
    c2 = 1.0 - ADAM_BETA2**t
    for p in range(len(theta)):
        g = grad[p]
        m[p] = ADAM_BETA1 * m[p] + (1.0 - ADAM_BETA1) * g
        v[p] = ADAM_BETA2 * v[p] + (1.0 - ADAM_BETA2) * g * g
        denom = np.sqrt(v[p] / c2) + ADAM_EPS
        theta[p] -= np.float32(lr[0] * (m[p] / c1) / denom)


def save_model(model: tuple, path: str | Path) -> Path:
    """Write the model (weights and Adam state) to an ``.npz`` file, atomically."""
    theta, m, v, step, dims, lr = model[:6]
    out = Path(path)
    with atomic_write(out, "wb") as handle:
        np.savez(handle, theta=theta, adam_m=m, adam_v=v, step=step, dims=dims, lr=lr, format=np.array([1]))
    return out


# What save_model writes: name -> (dtype kind, shape given (features, hidden)); the parameter vector
# and its Adam moments have n_params(F, H) entries.
_MODEL_ARRAYS = {
    "theta": ("f", lambda f, h: (n_params(f, h),)),
    "adam_m": ("f", lambda f, h: (n_params(f, h),)),
    "adam_v": ("f", lambda f, h: (n_params(f, h),)),
    "step": ("iu", lambda f, h: (1,)),
    "lr": ("f", lambda f, h: (1,)),
}
_MAX_DIM = 1 << 16  # features or hidden units in a model file; larger is not a HALP model


def _read_member(path: Path, archive: np.lib.npyio.NpzFile, name: str, kinds: str, shape: tuple) -> np.ndarray:
    """One array of the archive, its header checked before anything is allocated for it."""
    if name not in archive.files:
        raise FeedlearnError(f"{path}: not a feedlearn HALP model (no array {name!r})")
    with archive.zip.open(f"{name}.npy") as member:
        version = np.lib.format.read_magic(member)
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        found, _, dtype = read_header(member)
    if dtype.hasobject or dtype.kind not in kinds or found != shape:
        raise FeedlearnError(f"{path}: array {name!r} is {dtype} {found}, expected shape {shape}")
    return archive[name]


def load_model(path: str | Path, n_features: int | None = None, hidden: int | None = None) -> tuple:
    """Read a model saved by :func:`save_model`; its shape must match ``n_features`` × ``hidden``
    (``None``: any shape — used to check a file before the trace it will run on is known).

    The file comes from the user, so nothing in it is trusted: no pickles, every array's header is
    checked before it is read (a truncated, foreign or forged file is a one-line error naming it),
    and weights must be finite.
    """
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            magic = handle.read(4)
        if magic != b"PK\x03\x04":  # checked here: np.load would guess "pickled data" for any other file
            raise FeedlearnError(f"{path}: not a feedlearn HALP model (not an .npz archive)")
        with np.load(path, allow_pickle=False) as archive:
            dims = _read_member(path, archive, "dims", "iu", (2,)).astype(np.int64)
            f, h = int(dims[0]), int(dims[1])
            if not (1 <= f <= _MAX_DIM and 1 <= h <= _MAX_DIM):
                raise FeedlearnError(f"{path}: model dimensions {f} x {h} are out of range [1, {_MAX_DIM}]")
            if n_features is not None and hidden is not None and (f, h) != (n_features, hidden):
                raise FeedlearnError(
                    f"{path}: model has {f} features x {h} hidden units, this policy needs {n_features} x {hidden}"
                )
            arrays = {name: _read_member(path, archive, name, kinds, shape(f, h))
                      for name, (kinds, shape) in _MODEL_ARRAYS.items()}
    except FeedlearnError:
        raise
    except (OSError, EOFError, KeyError, ValueError, zipfile.BadZipFile, zlib.error) as exc:
        # a missing or unreadable file, a truncated archive, a bad header, a non-model .npy
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else (str(exc) or type(exc).__name__)
        raise FeedlearnError(f"{path}: not a feedlearn HALP model, or a damaged one ({reason})") from None
    for name in ("theta", "adam_m", "adam_v", "lr"):
        if not np.isfinite(arrays[name]).all():
            raise FeedlearnError(f"{path}: array {name!r} holds NaN or infinite values")
    if (arrays["adam_v"] < 0).any() or arrays["step"][0] < 0 or not arrays["lr"][0] > 0:
        raise FeedlearnError(f"{path}: Adam state out of range (adam_v and step must be >= 0, lr > 0)")
    return _with_views(arrays["theta"].astype(np.float32), arrays["adam_m"].astype(np.float32),
                       arrays["adam_v"].astype(np.float32), arrays["step"].astype(np.int64), dims,
                       arrays["lr"].astype(np.float64))


def to_torch(model: tuple):
    """An equivalent ``torch.nn.Sequential(Linear(F, H), ReLU(), Linear(H, 1))``."""
    import torch

    theta, dims = model[THETA], model[DIMS]
    f, h = int(dims[0]), int(dims[1])
    net = torch.nn.Sequential(torch.nn.Linear(f, h), torch.nn.ReLU(), torch.nn.Linear(h, 1))
    with torch.no_grad():
        net[0].weight.copy_(torch.from_numpy(theta[: h * f].reshape(h, f)))
        net[0].bias.copy_(torch.from_numpy(theta[h * f : h * f + h]))
        net[2].weight.copy_(torch.from_numpy(theta[h * f + h : h * f + 2 * h].reshape(1, h)))
        net[2].bias.copy_(torch.from_numpy(theta[-1:]))
    return net


def from_torch(net, lr: float = 1e-3) -> tuple:
    """Model state from an ``nn.Sequential(Linear, ReLU, Linear(·, 1))`` (fresh Adam state)."""
    w1 = net[0].weight.detach().cpu().numpy()
    h, f = w1.shape
    theta = np.concatenate([
        w1.ravel(), net[0].bias.detach().cpu().numpy(), net[2].weight.detach().cpu().numpy().ravel(),
        net[2].bias.detach().cpu().numpy(),
    ]).astype(np.float32)
    return _with_views(theta, np.zeros_like(theta), np.zeros_like(theta), np.zeros(1, dtype=np.int64),
                       np.array([f, h], dtype=np.int64), np.array([lr], dtype=np.float64))
