"""Argument types shared by the benchmark scripts (``type=`` of ``argparse`` options)."""
from __future__ import annotations

import argparse


def positive_int(text: str) -> int:
    """A whole number >= 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def seed_int(text: str) -> int:
    """A training seed: a whole number >= 0."""
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a seed >= 0, got {text!r}")
    return value
