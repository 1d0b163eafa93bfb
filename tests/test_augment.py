"""Random translations shared by both training rules (lyactrl.train.lyanet._augment)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from lyactrl.train import build_classifier, train_classifier
from lyactrl.train.lyanet import load_digits, random_shift
from lyactrl.train.lyanet._augment import ShiftedBatches


def _translations(img: torch.Tensor, shift: int) -> list[torch.Tensor]:
    """Every translation of one image by (dy, dx) in [-shift, shift]^2, zeros shifted in."""
    _, h, w = img.shape
    pad = F.pad(img, (shift,) * 4)
    k = 2 * shift + 1
    return [pad[:, dy : dy + h, dx : dx + w] for dy in range(k) for dx in range(k)]


@given(shift=st.integers(1, 3), seed=st.integers(0, 1000), size=st.integers(4, 9))
def test_each_image_is_one_translation_of_itself(shift: int, seed: int, size: int) -> None:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(6, 2, size, size, generator=g)
    out = random_shift(x, shift, g)
    assert out.shape == x.shape
    for i in range(x.shape[0]):
        assert any(torch.equal(out[i], t) for t in _translations(x[i], shift))


def test_no_shift_is_the_identity_and_draws_nothing() -> None:
    g = torch.Generator().manual_seed(0)
    state = g.get_state()
    x = torch.rand(3, 1, 5, 5)
    assert random_shift(x, 0, g) is x
    assert torch.equal(g.get_state(), state)


def test_shifts_spread_over_all_offsets() -> None:
    x = torch.zeros(900, 1, 3, 3)
    x[:, 0, 1, 1] = 1.0  # a dot in the centre lands on each of the 9 pixels
    out = random_shift(x, 1, torch.Generator().manual_seed(1))
    where = out.flatten(1).argmax(1)
    counts = torch.bincount(where, minlength=9)
    assert bool((counts > 60).all()) and float(out.sum()) == 900.0


def test_shifted_loader_keeps_the_sampler_and_length() -> None:
    class Loader(list):
        sampler = "the sampler"

    batches = Loader([(torch.rand(4, 1, 5, 5), torch.zeros(4, dtype=torch.long))] * 3)
    wrapped = ShiftedBatches(batches, 1, seed=0)
    assert wrapped.sampler == "the sampler" and len(wrapped) == 3
    assert all(x.shape == (4, 1, 5, 5) for x, _ in wrapped)


def test_training_with_shifts_is_reproducible_and_recorded() -> None:
    data = load_digits()

    def run(shift: int) -> torch.nn.Module:
        model = build_classifier(data.input_shape, 10, seed=0, hidden=16, context_dim=8)
        res = train_classifier(model, data, epochs=1, augment_shift=shift, seed=3)
        assert res.status == "completed"
        return model

    a, b, plain = run(1), run(1), run(0)
    pa, pb, pp = (torch.cat([p.flatten() for p in m.parameters()]) for m in (a, b, plain))
    assert torch.equal(pa, pb) and not torch.equal(pa, pp)
