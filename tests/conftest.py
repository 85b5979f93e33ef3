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


def spy_on_load_features(monkeypatch, module) -> list[str]:
    """Record every path ``module.load_features`` is asked for (in order); the real loader still runs."""
    seen: list[str] = []
    real = module.load_features

    def spy(paths, frontend, **kw):
        seen.extend(str(p) for p in paths)
        return real(paths, frontend, **kw)

    monkeypatch.setattr(module, "load_features", spy)
    return seen


@pytest.fixture
def loaded_paths(monkeypatch) -> list[str]:
    """Every path training loads features of (train.load_features spied on), in order."""
    import asdlib.train as tr

    return spy_on_load_features(monkeypatch, tr)
