"""The hand-written MLP, pairwise loss and Adam against torch; save/load round trip."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from feedlearn.cache.halp import model as mlp
from feedlearn.common.errors import FeedlearnError

F, H = 7, 5


def random_model(seed=0, lr=1e-2):
    return mlp.new_model(F, H, np.random.default_rng(seed), lr)


def test_score_matches_torch():
    model = random_model()
    net = mlp.to_torch(model)
    x = np.random.default_rng(1).normal(size=(10, F)).astype(np.float32)
    hidden = np.zeros(H, dtype=np.float32)
    ours = [mlp.score(model, row, hidden) for row in x]
    assert np.allclose(ours, net(torch.from_numpy(x)).detach().numpy().ravel(), atol=1e-5)


def test_pairwise_loss_value_by_hand():
    # a model whose score is x[0]: W1 = e_0 on unit 0, w2 = e_0, biases 0 (relu keeps x[0] >= 0)
    theta = np.zeros(mlp.n_params(F, H), dtype=np.float32)
    theta[0] = 1.0  # W1[0, 0]
    theta[H * F + H] = 1.0  # w2[0]
    model = mlp._with_views(theta, np.zeros_like(theta), np.zeros_like(theta), np.zeros(1, np.int64),
                            np.array([F, H]), np.array([0.1]))
    xw = np.zeros((2, F), np.float32)
    xl = np.zeros((2, F), np.float32)
    xw[0, 0], xl[0, 0] = 2.0, 1.0  # d = 1: loss log(1 + e^-1) = 0.31326, ranked right
    xw[1, 0], xl[1, 0] = 0.0, 3.0  # d = -3: loss log(1 + e^3) = 3.04859, ranked wrong
    grad = np.zeros_like(theta)
    loss, acc = mlp.pairwise_loss_and_grad(model, xw, xl, np.arange(2), grad)
    assert loss == pytest.approx((np.log1p(np.exp(-1)) + np.log1p(np.exp(3))) / 2, rel=1e-6)
    assert acc == 0.5


def test_gradient_and_adam_match_torch():
    rng = np.random.default_rng(2)
    model = random_model(seed=3)
    net = mlp.to_torch(model)
    opt = torch.optim.Adam(net.parameters(), lr=float(model[mlp.LR][0]))
    xw = rng.normal(size=(16, F)).astype(np.float32)
    xl = rng.normal(size=(16, F)).astype(np.float32)
    rows = np.arange(16)
    grad = np.zeros_like(model[mlp.THETA])
    for _ in range(3):  # three steps: moments and bias correction included
        loss, _ = mlp.pairwise_loss_and_grad(model, xw, xl, rows, grad)
        opt.zero_grad()
        ref = torch.nn.functional.softplus(net(torch.from_numpy(xl)) - net(torch.from_numpy(xw))).mean()
        ref.backward()
        torch_grad = np.concatenate([p.grad.numpy().ravel() for p in net.parameters()])
        assert loss == pytest.approx(ref.item(), rel=1e-5)
        assert np.allclose(grad, torch_grad, atol=1e-6)
        mlp.adam_step(model, grad)
        opt.step()
        assert np.allclose(model[mlp.THETA], mlp.from_torch(net)[mlp.THETA], atol=1e-6)


def test_save_load_round_trip(tmp_path):
    model = random_model(seed=5)
    grad = np.ones_like(model[mlp.THETA])
    mlp.adam_step(model, grad)
    path = mlp.save_model(model, tmp_path / "m.npz")
    back = mlp.load_model(path, F, H)
    assert len(back) == len(model) == 10
    for a, b in zip(model, back, strict=True):
        assert np.array_equal(a, b)
    with pytest.raises(FeedlearnError, match="features x"):
        mlp.load_model(path, F + 1, H)
    (tmp_path / "bad.npz").write_bytes(b"nope")
    with pytest.raises(FeedlearnError, match="not a feedlearn HALP model"):
        mlp.load_model(tmp_path / "bad.npz", F, H)
