"""The DCASE Task 2 vocabulary: layouts, machine types, unit names and the shared epsilon.

Explained in chapter 1 (``book/01_listening.ipynb``), ``ARCHITECTURE.md`` and the appendix
``book/appendix/new_layouts.ipynb``. Every module that needs a layout name, the machine types of
a challenge year or the epsilon of the DCASE formulas imports it from here.
"""
from __future__ import annotations

import sys

#: Every year asdlib reads and scores: ``dcase2020`` (``id_XX`` names); ``dcase2022`` (``section_XX``
#: names; 2021 names parse as it); the first-shot years ``dcase2023`` to ``dcase2025``; ``dcase2026``.
LAYOUTS: tuple[str, ...] = ("dcase2020", "dcase2022", "dcase2023", "dcase2024", "dcase2025", "dcase2026")
#: Layouts whose units are ``section_XX`` and whose test clips carry a source / target domain.
SECTION_LAYOUTS: tuple[str, ...] = LAYOUTS[1:]
#: First-shot years: one ``section_00`` per machine type and an ``attributes_00.csv`` per type.
FIRST_SHOT_LAYOUTS: tuple[str, ...] = ("dcase2023", "dcase2024", "dcase2025")
#: Years whose clips are single-channel (2026 records a near and a far microphone).
MONO_LAYOUTS: tuple[str, ...] = LAYOUTS[:-1]

_TOYADMOS2_MIMII_DG = ("bearing", "fan", "gearbox", "slider", "ToyCar", "ToyTrain", "valve")
#: The machine types of each year's development set, in the official table order. (2026's could
#: not be confirmed here: its tuple is empty and tables list its types in the order found.)
MACHINE_TYPES: dict[str, tuple[str, ...]] = {
    "dcase2020": ("fan", "pump", "slider", "valve", "ToyCar", "ToyConveyor"),
    "dcase2022": _TOYADMOS2_MIMII_DG,
    "dcase2023": _TOYADMOS2_MIMII_DG,
    "dcase2024": _TOYADMOS2_MIMII_DG,
    "dcase2025": _TOYADMOS2_MIMII_DG,
    "dcase2026": (),
}

#: The prefix of a unit name (the group AUCs are computed over) in each layout.
UNIT_PREFIX: dict[str, str] = {lay: "id_" if lay == "dcase2020" else "section_" for lay in LAYOUTS}

#: ``sys.float_info.epsilon``, as the DCASE baseline (``log10(mel + eps)``) and the official
#: evaluator (floor of the harmonic mean) use it.
EPS: float = sys.float_info.epsilon


def check_layout(layout: str, allowed: tuple[str, ...] = LAYOUTS) -> str:
    """``layout`` if it is one of ``allowed`` (default :data:`LAYOUTS`), else a ``ValueError`` naming the choices."""
    if layout not in allowed:
        raise ValueError(f"layout must be one of {', '.join(allowed)}, got {layout!r}")
    return layout
