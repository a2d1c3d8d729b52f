"""LISA: the same (seed, step) trains the same few layers; the others get no gradient."""

from __future__ import annotations

from feedlearn.tune.lisa import LisaCallback, decoder_layers
from feedlearn.tune.models import load_model


def test_lisa_freezes_all_but_the_drawn_layers(tiny_dir):
    model = load_model(tiny_dir)
    lisa = LisaCallback(n_layers=1, interval=5, seed=3)
    active = lisa.draw(model, step=0)
    assert len(active) == 1 and active == LisaCallback(1, 5, 3).draw(load_model(tiny_dir), 0)
    for i, layer in enumerate(decoder_layers(model)):
        assert all(p.requires_grad == (i in active) for p in layer.parameters())
    assert model.get_input_embeddings().weight.requires_grad  # embeddings always train
    draws = {tuple(lisa.draw(model, step)) for step in range(0, 200, 5)}
    assert draws == {(0,), (1,)}  # over many intervals both layers get their turn
