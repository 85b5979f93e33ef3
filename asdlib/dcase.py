"""The DCASE Task 2 vocabulary: layouts, machine types, unit names and the shared epsilon.

Explained in chapter 1 (``book/01_listening.ipynb``) and ``ARCHITECTURE.md``. Every module
that needs a layout name, the list of machine types of a challenge year or the epsilon of the
DCASE formulas imports it from here.
"""
from __future__ import annotations

import sys

#: ``dcase2020`` (``id_XX`` names) and ``dcase2022`` (``section_XX`` names; 2021 names parse as it).
LAYOUTS: tuple[str, ...] = ("dcase2020", "dcase2022")

#: The machine types of each challenge year's development set, in the official table order.
MACHINE_TYPES: dict[str, tuple[str, ...]] = {
    "dcase2020": ("fan", "pump", "slider", "valve", "ToyCar", "ToyConveyor"),
    "dcase2022": ("bearing", "fan", "gearbox", "slider", "ToyCar", "ToyTrain", "valve"),
}

#: The prefix of a unit name (the group AUCs are computed over) in each layout.
UNIT_PREFIX: dict[str, str] = {"dcase2020": "id_", "dcase2022": "section_"}

#: ``sys.float_info.epsilon``, as the DCASE baseline (``log10(mel + eps)``) and the official
#: evaluator (floor of the harmonic mean) use it.
EPS: float = sys.float_info.epsilon


def check_layout(layout: str) -> str:
    """``layout`` if it is one of :data:`LAYOUTS`, else a ``ValueError`` naming the choices."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
    return layout
