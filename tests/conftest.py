"""Fixtures shared by the test modules: tiny synthetic DCASE sets (generated once per module)."""
from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def tiny2020(tmp_path_factory):
    """A tiny DCASE 2020 set of fan and valve (2 IDs each, 2 s clips), seed 1."""
    from asdlib import synth

    root = tmp_path_factory.mktemp("synth") / "d2020"
    synth.generate(root, layout="dcase2020", scale="tiny", machines=["fan", "valve"], seed=1)
    return root
