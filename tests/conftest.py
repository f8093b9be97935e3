import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest

DATA = Path(__file__).parent / "data"
sys.path.insert(0, str(DATA))
from reference_weights import reference_weights  # noqa: E402  (fixture data from PaddleClas)

os.environ.setdefault("POLYGRAPHY_AUTOINSTALL_DEPS", "0")


def fixture_manifest(name):
    """PaddleClas's [key, shape] list for `name`, or None when there is no fixture."""
    path = DATA / f"{name}.keys.json"
    return json.loads(path.read_text()) if path.exists() else None


def apply_reference_weights(model):
    """Load the fixture's deterministic weights, built from the model's own keys.

    Random init with untrained BN statistics is numerically unstable, so
    cross-backend comparisons use these well-conditioned weights instead.
    """
    import paddle

    manifest = [[k, list(v.shape)] for k, v in model.state_dict().items()]
    model.set_state_dict({k: paddle.to_tensor(v) for k, v in reference_weights(manifest).items()})
    model.eval()
    return model


@pytest.fixture(scope="session")
def reference_inputs():
    return np.load(DATA / "inputs.npy")
