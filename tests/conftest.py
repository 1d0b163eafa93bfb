import dataclasses
import os
import tempfile
from pathlib import Path
from typing import Any

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("MPLCONFIGDIR", tempfile.mkdtemp(prefix="mpl-"))

import pytest  # noqa: E402
import torch  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402

torch.set_num_threads(1)  # tiny tensors: threads cost more than they bring

settings.register_profile(
    "ci", max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("ci")


@dataclasses.dataclass(frozen=True)
class TrainedDigits:
    """One small LyaNet digits classifier, trained once per session (eval mode: do not train
    it further), with its data, the settings it was trained with and its checkpoint."""

    model: Any
    data: Any
    settings: dict[str, Any]
    checkpoint: Path

    @property
    def x(self) -> torch.Tensor:
        """The first 40 test images."""
        return self.data.x_test[:40]

    @property
    def y(self) -> torch.Tensor:
        """Their labels."""
        return self.data.y_test[:40]


@pytest.fixture(scope="session")
def trained_digits(tmp_path_factory: pytest.TempPathFactory) -> TrainedDigits:
    """A LyaNet classifier on scikit-learn's digits (6 epochs, rate 3: about 2 s)."""
    from lyactrl.train.lyanet import build_classifier, load_digits, train_classifier

    data = load_digits()
    model = build_classifier((1, 8, 8), 10, seed=0, hidden=64, context_dim=32, dynamics_hidden=32)
    settings = {"epochs": 6, "batch_size": 128, "lr": 1e-2, "rate": 3.0, "radius": 5.0}
    out = tmp_path_factory.mktemp("trained_digits")
    train_classifier(model, data, seed=0, out_dir=out, **settings)
    model.eval()
    return TrainedDigits(model, data, settings, out / "last.pt")
