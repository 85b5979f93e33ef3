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
#: The machine types of each year's development set, in the official table order. DCASE 2026's
#: ``...Emu`` types are two-channel emulations of the earlier machines; ``ToyCar`` and ``fan`` there
#: are real two-microphone recordings.
MACHINE_TYPES: dict[str, tuple[str, ...]] = {
    "dcase2020": ("fan", "pump", "slider", "valve", "ToyCar", "ToyConveyor"),
    "dcase2022": _TOYADMOS2_MIMII_DG,
    "dcase2023": _TOYADMOS2_MIMII_DG,
    "dcase2024": _TOYADMOS2_MIMII_DG,
    "dcase2025": _TOYADMOS2_MIMII_DG,
    "dcase2026": ("ToyCar", "ToyCarEmu", "bearingEmu", "fan", "gearboxEmu", "sliderEmu", "valveEmu"),
}
#: The machine types of each year's evaluation set (2020 and 2022 evaluate new units of the
#: development types; 2023+ bring new types), in the order of the official evaluators' tables.
EVAL_MACHINE_TYPES: dict[str, tuple[str, ...]] = {
    "dcase2020": MACHINE_TYPES["dcase2020"],
    "dcase2022": _TOYADMOS2_MIMII_DG,
    "dcase2023": ("bandsaw", "grinder", "shaker", "ToyDrone", "ToyNscale", "ToyTank", "Vacuum"),
    "dcase2024": ("3DPrinter", "AirCompressor", "BrushlessMotor", "HairDryer", "HoveringDrone",
                  "RoboticArm", "Scanner", "ToothBrush", "ToyCircuit"),
    "dcase2025": ("AutoTrash", "HomeCamera", "ToyPet", "ToyRCCar", "BandSealer", "CoffeeGrinder",
                  "Polisher", "ScrewFeeder"),
    "dcase2026": ("ToyDrone", "ToothBrush", "SewingMachine", "BlowerDustCollector", "Sander"),
}
#: The suffix of DCASE 2026's emulated two-channel machine types (``bearingEmu``, ...).
EMULATED_SUFFIX = "Emu"

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
