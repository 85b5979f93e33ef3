"""Synthetic machine sounds in the exact DCASE Task 2 layouts (2020, 2022, 2023-2025, 2026 stand-in).

Explained in chapter 1, `book/01_listening.ipynb` (the sound models, listening) and chapter 2,
`book/02_where_anomalies_live.ipynb` (the anomaly kinds and their frequency bands); every sound
model, anomaly kind, layout and scale is documented in `docs/synthetic_data.md`.

Each machine type has a seeded "product model"; each machine ID (2020) or section (2022+) is a
copy of it within small tolerances (sections also differ by their attributes); each clip varies
in load, microphone placement and gain, over factory background noise. Half of the anomaly kinds
of each type are low-frequency (< ~1 kHz), half high-frequency (> ~2 kHz); the manifest records
the kind, band and severity of every anomalous clip. The first-shot layouts have one section per
type, DCASE 2025 adds ``supplemental/`` clips, the DCASE 2026 stand-in a far-microphone channel.
Every clip is seeded from ``(seed, layout, type, unit, domain, split, label, index)``, so the
same seed gives byte-identical files whatever ``workers`` is.
"""
from __future__ import annotations

import functools
import json
import os
import shutil
import tempfile
import time
import zlib
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

import numpy as np
import pandas as pd
import scipy.fft
import soundfile as sf
from scipy.ndimage import uniform_filter1d
from scipy.signal import oaconvolve

from .data import NO_ATTRIBUTE, SUPPLEMENTAL, format_attributes
from .dcase import EMULATED_SUFFIX, FIRST_SHOT_LAYOUTS, LAYOUTS, MACHINE_TYPES, SECTION_LAYOUTS, check_layout
from .files import locked, replace_tree
from .settings import SYNTH_SCALES

GENERATOR_VERSION = "2"
SR = 16000
SCALES = SYNTH_SCALES  # the scale names (one list, asdlib.settings validates ASD_SYNTH_SCALE with it)

#: Development machine IDs of DCASE 2020 Task 2 (tiny / book use the first 2 / 3).
DCASE2020_IDS: dict[str, list[str]] = {
    "fan": ["id_00", "id_02", "id_04", "id_06"],
    "pump": ["id_00", "id_02", "id_04", "id_06"],
    "slider": ["id_00", "id_02", "id_04", "id_06"],
    "valve": ["id_00", "id_02", "id_04", "id_06"],
    "ToyCar": ["id_01", "id_02", "id_03", "id_04"],
    "ToyConveyor": ["id_01", "id_02", "id_03"],
}
DCASE2022_SECTIONS = ["section_00", "section_01", "section_02"]

#: The machine types of each synthetic layout: those of :data:`asdlib.dcase.MACHINE_TYPES`. A DCASE
#: 2026 ``...Emu`` type sounds as the machine it is named after (:func:`sound_model`), with draws of its own.
SYNTH_TYPES: dict[str, tuple[str, ...]] = dict(MACHINE_TYPES)
#: Layouts with one ``section_00`` per machine type and an ``attributes_00.csv`` per type.
ONE_SECTION_LAYOUTS: tuple[str, ...] = (*FIRST_SHOT_LAYOUTS, "dcase2026")
#: Types whose file names end in ``noAttribute`` (attributes hidden; the manifest keeps them), as in
#: the real development sets: none in 2023, three types in 2024 and 2025; the 2026 stand-in as 2025.
NO_ATTRIBUTE_TYPES: dict[str, tuple[str, ...]] = {
    "dcase2023": (), "dcase2024": ("gearbox", "slider", "ToyTrain"),
    "dcase2025": ("bearing", "slider", "ToyTrain"),
    # as third-party DCASE 2026 code lists them (not confirmed from the task description)
    "dcase2026": ("ToyCar", "bearingEmu", "sliderEmu", "valveEmu"),
}
#: Layouts with a ``<type>/supplemental/`` folder (DCASE 2025).
SUPPLEMENTAL_LAYOUTS: tuple[str, ...] = ("dcase2025",)
#: What the supplemental clips of a type hold: the clean machine sound or the background noise only.
SUPPLEMENTAL_CONTENT: dict[str, str] = {mt: ("machine", "noise")[i % 2]
                                        for i, mt in enumerate(MACHINE_TYPES["dcase2025"])}
#: Layouts whose clips have two channels: 0 the near microphone, 1 the far one (DCASE 2026).
TWO_CHANNEL_LAYOUTS: tuple[str, ...] = ("dcase2026",)


@dataclass(frozen=True)
class ScaleSpec:
    """Clip counts of one scale (per machine ID in 2020, per section and domain in 2022).

    The 2022 counts also size the 2023-2026 layouts, whose one section per type has the same
    source / target training and per-domain test counts (``full``: 990 + 10, 50 + 50 as the real data).
    """

    duration: float
    n_units_2020: int | None  # None = all development IDs
    train_2020: int
    test_normal_2020: int
    test_anomaly_2020: int
    train_source_2022: int
    train_target_2022: int
    test_normal_2022: int  # per domain
    test_anomaly_2022: int  # per domain
    toycar_duration_2020: float | None = None  # ToyCar clips are ~11 s in the real 2020 data


_SCALES: dict[str, ScaleSpec] = {
    "tiny": ScaleSpec(2.0, 2, 6, 3, 3, 6, 1, 2, 2),
    # book: 64 normal training clips per ID / source domain, 10 target training clips per section
    # as the real 2022 data; 250 + 250 test clips per 2020 ID (for +-3-point intervals per machine
    # type), 50 + 50 per 2022 domain as the real data. "study": the 128-clip regime for longer
    # runs. Why these sizes: docs/synthetic_data.md.
    "book": ScaleSpec(10.0, 3, 64, 250, 250, 64, 10, 50, 50),
    "study": ScaleSpec(10.0, 3, 128, 250, 250, 128, 10, 50, 50),
    # "curve": the experiment store's learning curve to 256 clips per ID (asdlib.store); its first
    # 64 / 128 training clips per ID and all its test clips are the book / study sets' clips
    "curve": ScaleSpec(10.0, 3, 256, 250, 250, 256, 10, 50, 50),
    "full": ScaleSpec(10.0, None, 1000, 150, 150, 990, 10, 50, 50, toycar_duration_2020=11.0),
}
#: DCASE 2025 supplemental clips per machine type at each scale (a custom scale: its target training count).
_SUPPLEMENTAL_CLIPS: dict[ScaleSpec, int] = {_SCALES["tiny"]: 2, _SCALES["full"]: 100}

_ROTATING = ("fan", "pump", "bearing", "gearbox", "ToyCar", "ToyTrain")

SOUND_MODELS: dict[str, str] = {
    "fan": "rotation fundamental (15-30 Hz) + harmonics, strong blade-pass line (5-9 blades) "
    "and its harmonics, dominant broadband flow noise with the model's spectral envelope "
    "(tilt + resonances), flow noise amplitude-modulated at the blade-pass rate",
    "pump": "rotation fundamental (20-50 Hz) + harmonics, vane-pass line (5-8 vanes), "
    "broadband fluid-flow noise with the model's envelope",
    "bearing": "shaft rotation (15-40 Hz) + weak harmonics, rolling noise shaped by the model's "
    "envelope; the `vel` attribute sets the speed, `loc` the microphone colouring",
    "gearbox": "shaft rotation (10-20 Hz) + gear-mesh line (20-35 teeth) with +-1x sidebands and "
    "mesh harmonics, motor noise; `volt` sets the speed, `wt` the load (mesh level)",
    "slider": "periodic strokes (period 0.8-2 s): motor whine (60-150 Hz harmonics) and rail "
    "friction noise gated by the stroke velocity, damped-mode impacts at both stroke ends",
    "valve": "the model's open/close pattern (cycle 1-3 s, 1-3 openings): solenoid clicks (damped "
    "modes 0.4-5 kHz) at each opening and closing, band-limited flow noise and a weak "
    "solenoid hum while open",
    "ToyCar": "motor rotation (60-120 Hz) + many harmonics, gear-mesh order (6-12), rolling "
    "noise with the model's envelope",
    "ToyTrain": "motor rotation (40-90 Hz) + harmonics, rail-joint clicks at a regular "
    "interval (0.3-0.8 s), rolling noise",
    "ToyConveyor": "motor hum (40-70 Hz + harmonics), roller rattle noise amplitude-modulated "
    "at the roller rate (3-10 Hz), belt-joint thumps once per belt period (1-3 s)",
}

_K = {  # short builders for the anomaly table
    "imbalance": ("low", "15-400", "mass imbalance: the 1x rotation line (and a little of 2x) grows"),
    "misalignment": ("low", "30-700", "shaft misalignment: the 2x, 3x and 4x rotation harmonics grow"),
    "looseness": ("low", "10-600", "mechanical looseness: sub-harmonics at 0.5x, 1.5x, 2.5x, 3.5x rotation appear"),
    "speed_change": ("low", "20-1000", "operating speed off its usual value by 1.5-6 %: every rotation line moves"),
    "pulsation": ("low", "20-600", "pressure pulsation: the vane-pass line grows and the flow noise below "
                  "500 Hz is amplitude-modulated at 2-6 Hz"),
    "gear_wear": ("low", "150-1000", "worn teeth: the gear-mesh line and its +-1x sidebands grow"),
    "stroke_irregularity": ("low", "40-500", "worn end stops: stroke timing becomes irregular and "
                            "low-frequency knocks (modes 50-350 Hz) appear at the stroke ends"),
    "sticking": ("low", "30-400", "sticky valve: openings are delayed at random and each opening "
                 "ends with a low-frequency hammer thud (modes 40-300 Hz)"),
    "valve_pulsation": ("low", "15-500", "flow pulsation: while open, a 20-60 Hz pressure tone and "
                        "slow (3-8 Hz) modulation of the flow noise below 500 Hz"),
    "belt_slip": ("low", "20-1000", "belt slip / motor load change: motor and roller speed off by "
                  "1.5-6 % with slow speed wobble"),
    "wheel_flat": ("low", "60-600", "flat spot on a wheel: low-frequency thumps (modes 60-500 Hz) "
                   "once per wheel revolution"),
    "bearing_defect": ("high", "2500-6500", "rolling-element bearing defect: short bursts of a "
                       "structural resonance (2.5-6.5 kHz) at a non-integer order (3-5.5x) of the rotation"),
    "rubbing": ("high", "2000-7000", "rubbing / friction: broadband high-frequency bursts, once per "
                "revolution and intermittent"),
    "leak": ("high", "3000-7000", "leak: steady hiss between 3 and 7 kHz"),
    "valve_leak": ("high", "3000-7000", "seat leak: hiss between 3 and 7 kHz while the valve is closed"),
    "cavitation": ("high", "2500-7500", "cavitation: random crackle (imploding bubbles) high-passed above 2.5 kHz"),
    "chatter": ("high", "2500-6500", "valve chatter: rapid (40-120 per second) tiny clicks exciting a "
                "2.5-6.5 kHz resonance while the valve is open"),
    "squeal": ("high", "2500-5000", "wheel-rail squeal: an intermittent 2.5-5 kHz tone with vibrato"),
    "rail_friction": ("high", "2000-7000", "rail friction: broadband high-frequency noise while the slide moves"),
}

_KINDS_PER_TYPE: dict[str, list[str]] = {  # alternating low / high so small sets cover both bands
    "fan": ["imbalance", "bearing_defect", "misalignment", "rubbing"],
    "pump": ["pulsation", "cavitation", "looseness", "leak"],
    "bearing": ["imbalance", "bearing_defect", "looseness", "rubbing"],
    "gearbox": ["gear_wear", "bearing_defect", "misalignment", "rubbing"],
    "slider": ["stroke_irregularity", "rail_friction", "speed_change", "bearing_defect"],
    "valve": ["sticking", "chatter", "valve_pulsation", "valve_leak"],
    "ToyCar": ["speed_change", "bearing_defect", "imbalance", "rubbing"],
    "ToyTrain": ["speed_change", "squeal", "wheel_flat", "rubbing"],
    "ToyConveyor": ["belt_slip", "bearing_defect", "misalignment", "rubbing"],
}

#: machine type -> anomaly kind -> {"band": "low"|"high", "band_hz": "lo-hi", "mechanism": text}
ANOMALY_KINDS: dict[str, dict[str, dict[str, str]]] = {
    mt: {k: {"band": _K[k][0], "band_hz": _K[k][1], "mechanism": _K[k][2]} for k in kinds}
    for mt, kinds in _KINDS_PER_TYPE.items()
}

# Severity s ~ U(0, 1) per clip is mapped linearly onto (lo, hi): for additive kinds the power
# of the added component relative to the normal machine sound in dB; for speed kinds the
# relative speed offset. Calibrated with the simple mean-log-mel 1-NN detector on seed 12345
# only (see docs/synthetic_data.md and benchmarks/bench_synth.py --calibrate).
_SEVERITY: dict[str, tuple[float, float]] = {
    "imbalance": (-20.0, -2.0),
    "misalignment": (-19.0, -1.0),
    "looseness": (-17.0, 1.0),
    "pulsation": (-19.0, -1.0),
    "gear_wear": (-20.0, -2.0),
    "stroke_irregularity": (-13.0, 5.0),
    "sticking": (-13.0, 5.0),
    "valve_pulsation": (-14.0, 4.0),
    "wheel_flat": (-17.0, 1.0),
    "bearing_defect": (-28.0, -10.0),
    "rubbing": (-28.0, -10.0),
    "leak": (-30.0, -12.0),
    "valve_leak": (-32.0, -14.0),
    "cavitation": (-28.0, -10.0),
    "chatter": (-26.0, -8.0),
    "squeal": (-28.0, -10.0),
    "rail_friction": (-28.0, -10.0),
    "speed_change": (0.015, 0.06),
    "belt_slip": (0.015, 0.06),
}
_SEVERITY_TYPE: dict[tuple[str, str], tuple[float, float]] = {
    ("ToyCar", "speed_change"): (0.004, 0.02),
    ("ToyTrain", "speed_change"): (0.006, 0.03),
}

# DCASE 2022 attributes: (key, values, effect). The attribute of index (section % n_keys)
# changes between source and target domain; the others stay fixed within a section.
_ATTRS: dict[str, list[tuple[str, list[str], str]]] = {
    "bearing": [("vel", ["6", "10", "14", "18", "22", "26"], "speed"), ("loc", list("ABCDEFGH"), "colour")],
    "fan": [("m-n", ["W", "X", "Y", "Z"], "speed")],
    "gearbox": [("volt", ["1.0", "1.3", "1.5", "2.0", "2.5", "3.0"], "speed"),
                ("wt", ["30", "80", "130", "230"], "load")],
    "slider": [("vel", ["300", "600", "900", "1200", "1500"], "speed"),
               ("ac", ["0.03", "0.05", "0.07", "0.10"], "impact")],
    "ToyCar": [("car", ["A1", "A2", "B1", "B2", "C1", "C2"], "unit"),
               ("spd", ["28V", "31V", "34V", "37V", "40V"], "speed"), ("mic", ["1", "2"], "colour")],
    "ToyTrain": [("car", ["A1", "A2", "B1", "B2"], "unit"), ("spd", ["6", "7", "8", "9", "10"], "speed"),
                 ("mic", ["1", "2"], "colour")],
    "valve": [("pat", ["00", "01", "02", "03"], "pattern"), ("panel", ["open", "b-c", "s-c"], "colour")],
}


# --------------------------------------------------------------------------- seeding
def _h(s: str) -> int:
    """Stable 32-bit hash of a string (Python's hash() is salted per process)."""
    return zlib.crc32(s.encode("utf-8"))


def _rng(*parts: int | str) -> np.random.Generator:
    """A generator seeded from a tuple of ints / strings, stable across runs and platforms."""
    ints = [p if isinstance(p, int) else _h(p) for p in parts]
    return np.random.default_rng(np.random.SeedSequence(ints))


def sound_model(machine_type: str) -> str:
    """The machine whose sound model a type uses: a DCASE 2026 ``bearingEmu`` sounds as ``bearing``."""
    if machine_type.endswith(EMULATED_SUFFIX):
        return machine_type[:-len(EMULATED_SUFFIX)]
    return machine_type


# --------------------------------------------------------------------------- unit parameters
@dataclass
class UnitParams:
    """Stable parameters of one machine ID (2020) or section + domain (2022).

    Built by `unit_params`; passed to `synth_clip`. Frequencies in Hz, levels in dB.
    """

    machine_type: str
    unit: str
    layout: str = "dcase2020"
    domain: str = "source"
    attributes: dict[str, str] = field(default_factory=dict)
    f0: float = 25.0  # rotation / motor rate
    harm: np.ndarray = field(default_factory=lambda: np.ones(1))  # order amplitudes (order k = index + 1)
    special_order: int = 6  # blades / vanes / teeth
    env_c: np.ndarray = field(default_factory=lambda: np.array([1000.0]))  # envelope peak centres
    env_w: np.ndarray = field(default_factory=lambda: np.array([0.5]))  # widths (octaves)
    env_g: np.ndarray = field(default_factory=lambda: np.array([6.0]))  # gains (dB)
    tilt_db: float = -4.0  # noise tilt, dB per octave
    tonal_db: float = 0.0  # tonal-to-noise power ratio
    period: float = 1.0  # stroke / valve cycle / belt / rail-joint period (s)
    pattern: tuple[tuple[float, float], ...] = ((0.1, 0.3),)  # valve openings (cycle fraction, duration s)
    modes: np.ndarray = field(default_factory=lambda: np.array([[800.0, 0.01, 1.0]]))  # impact modes
    impact_db: float = 0.0  # impact power relative to the continuous part
    mod_rate: float = 5.0  # roller / modulation rate (Hz)
    bg_tilt: float = -4.0
    bg_c: np.ndarray = field(default_factory=lambda: np.array([300.0]))
    bg_g: np.ndarray = field(default_factory=lambda: np.array([6.0]))
    hum_hz: float = 50.0
    hum_db: float = -20.0
    bg_events: float = 0.5  # background transients per second
    snr_db: tuple[float, float] = (0.0, 10.0)
    level: float = 0.05  # output RMS of the machine part

    @property
    def sound(self) -> str:
        """The sound model the unit uses (:func:`sound_model` of its machine type)."""
        return sound_model(self.machine_type)


def _attributes_for(machine_type: str, section: str, domain: str, seed: int) -> tuple[dict[str, str], dict[str, int]]:
    """Attribute values (and their value indices) of a section (2022+) and domain."""
    spec = _ATTRS[sound_model(machine_type)]
    sec = int(section.split("_")[1])
    rng = _rng(seed, "attrs", machine_type, section)
    idx = {key: int(rng.integers(0, len(vals))) for key, vals, _ in spec}
    changing = spec[sec % len(spec)]
    key, vals, _ = changing
    if domain == "target":
        step = int(rng.integers(1, len(vals)))
        idx[key] = (idx[key] + step) % len(vals)
    return {k: vals[idx[k]] for k, vals, _ in spec}, idx


#: Spread of the unit parameters (machine ID in 2020, section in 2022) around the product
#: model of their machine type: standard deviations of the manufacturing / installation
#: tolerances, multiplied by `UNIT_SPREAD`. Relative spreads are fractions (log-normal),
#: octave spreads are in octaves, the others in dB or dB/octave.
_UNIT_TOL: dict[str, float] = {
    "f0": 0.008,  # running speed (motor slip, pulley tolerance)
    "harm_db": 1.0,  # each harmonic's amplitude (balance, alignment, gear finish)
    "env_oct": 0.08, "env_db": 1.5, "tilt": 0.3,  # housing resonances and colouring
    "tonal_db": 1.0, "impact_db": 1.0,
    "period": 0.03, "pattern": 0.02, "mode_oct": 0.02, "mod": 0.03,  # cycles, strokes, impact modes
    "bg_tilt": 0.3, "bg_oct": 0.1, "bg_db": 1.0, "hum_db": 2.0, "snr_db": 1.0, "level_db": 1.0,  # site, mic
}
#: Scale of the between-unit spread, overall and per machine type: tuned so that a linear ID
#: classifier reaches about 0.9 balanced accuracy, on the calibration seed 12345 only
#: (`benchmarks/bench_id_separability.py`, docs/synthetic_data.md).
UNIT_SPREAD = 0.6
_TYPE_SPREAD: dict[str, float] = {"fan": 1.25, "pump": 1.15, "slider": 0.6, "valve": 2.8, "ToyCar": 1.15,
                                   "ToyConveyor": 1.0}

#: Clip-to-clip variation within one unit (standard deviations): load and operating point,
#: microphone placement and gain, background. Applied by `_clip_params` to every clip.
_CLIP_VAR: dict[str, float] = {
    "speed": 0.004,  # relative running speed
    "tonal_db": 1.0,  # load: tonal-to-noise ratio
    "env_oct": 0.04, "env_db": 1.5, "tilt": 0.4,  # mic placement / reflections
    "impact_db": 1.0,
    "level_db": 1.5,  # mic gain and distance
    "bg_tilt": 0.8, "bg_oct": 0.25, "bg_db": 3.0, "hum_db": 3.0,  # background of the day
    "snr_half": 4.0,  # half-width of the uniform SNR window around the unit's centre
}


def _model_params(machine_type: str, seed: int, layout: str) -> UnitParams:
    """The product model of a machine type: parameters shared by all its units."""
    rng = _rng(seed, layout, machine_type, "model")
    mt = sound_model(machine_type)
    p = UnitParams(machine_type=machine_type, unit="", layout=layout)
    f0_range = {"fan": (15, 30), "pump": (20, 50), "bearing": (15, 40), "gearbox": (10, 20),
                "ToyCar": (60, 120), "ToyTrain": (40, 90), "slider": (60, 150),
                "valve": (50, 60), "ToyConveyor": (40, 70)}[mt]
    p.f0 = float(rng.uniform(*f0_range))
    p.special_order = int({"fan": rng.integers(5, 10), "pump": rng.integers(5, 9),
                           "gearbox": rng.integers(20, 36), "ToyCar": rng.integers(6, 13)}.get(mt, 0))
    kmax = max(2, int(7000 / (p.f0 * 1.1)))
    k = np.arange(1, kmax + 1, dtype=float)
    alpha = rng.uniform(0.9, 1.6)
    harm = k ** -alpha * np.exp(rng.normal(0, 0.5, kmax))
    if p.special_order:
        for m, g in ((1, 6.0), (2, 3.0), (3, 1.5)):
            j = m * p.special_order - 1
            if j < kmax:
                harm[j] += g * harm[0] * rng.uniform(0.5, 1.0) / m
        if mt == "gearbox":
            for side in (-1, 1):
                j = p.special_order - 1 + side
                harm[j] += harm[p.special_order - 1] * rng.uniform(0.1, 0.3)
    p.harm = harm
    n_pk = int(rng.integers(2, 5))
    p.env_c = np.exp(rng.uniform(np.log(200), np.log(6000), n_pk))
    p.env_w = rng.uniform(0.2, 0.6, n_pk)
    p.env_g = rng.uniform(3, 12, n_pk)
    p.tilt_db = float(rng.uniform(-5, -2))
    p.tonal_db = float({"fan": rng.uniform(-8, -3), "pump": rng.uniform(-4, 2), "bearing": rng.uniform(-6, 0),
                        "gearbox": rng.uniform(0, 6), "ToyCar": rng.uniform(0, 6), "ToyTrain": rng.uniform(-3, 3),
                        "slider": rng.uniform(-3, 3), "valve": rng.uniform(-15, -10),
                        "ToyConveyor": rng.uniform(-3, 3)}[mt])
    p.period = float({"slider": rng.uniform(0.8, 2.0), "valve": rng.uniform(1.0, 3.0),
                      "ToyConveyor": rng.uniform(1.0, 3.0), "ToyTrain": rng.uniform(0.3, 0.8)}.get(mt, 1.0))
    n_open = int(rng.integers(1, 4))
    starts = np.sort(rng.uniform(0, 1, n_open))
    durs = rng.uniform(0.1, 0.35, n_open) * p.period / n_open
    p.pattern = tuple((float(s), float(d)) for s, d in zip(starts, durs))
    lo_hi = {"valve": (400, 5000), "slider": (150, 3000), "ToyConveyor": (100, 800), "ToyTrain": (200, 2000)}
    lo, hi = lo_hi.get(mt, (200, 2000))
    n_modes = 4
    p.modes = np.column_stack([np.exp(rng.uniform(np.log(lo), np.log(hi), n_modes)),
                               rng.uniform(0.004, 0.03, n_modes), rng.uniform(0.3, 1.0, n_modes)])
    p.impact_db = float(rng.uniform(-6, 0))
    p.mod_rate = float(rng.uniform(3, 10))
    p.bg_tilt = float(rng.uniform(-6, -2))
    p.bg_c = np.exp(rng.uniform(np.log(80), np.log(4000), 3))
    p.bg_g = rng.uniform(3, 12, 3)
    p.hum_hz = float(rng.choice([50.0, 60.0]))
    p.hum_db = float(rng.uniform(-25, -12))
    p.bg_events = float(rng.uniform(0.2, 1.5))
    snr_c = rng.uniform(0.0, 8.0) if mt in ("fan", "pump", "slider", "valve", "bearing", "gearbox") else rng.uniform(5.0, 13.0)
    p.snr_db = (snr_c, snr_c)
    # impulsive machines (clicks, stroke impacts) get more headroom so that they rarely clip
    headroom = {"valve": 9.0, "slider": 6.0, "ToyConveyor": 3.0}.get(mt, 0.0)
    p.level = float(10 ** ((rng.uniform(-29, -23) - headroom) / 20))
    return p


def unit_params(machine_type: str, unit: str, seed: int = 0, layout: str = "dcase2020",
                domain: str = "source") -> UnitParams:
    """Draw the stable parameters of one machine ID / section (and domain for 2022).

    The units of one machine type are copies of one product model that differ by small
    manufacturing and installation tolerances (``_UNIT_TOL`` x :data:`UNIT_SPREAD`); sections
    (2022+) also differ by their attribute values. Explained in chapter 1.

    Args:
        machine_type: a machine type of ``layout`` (:data:`SYNTH_TYPES`).
        unit: ``id_XX`` (2020) or ``section_XX`` (2022+).
        seed: the data set's seed.
        layout: one of :data:`asdlib.dcase.LAYOUTS`.
        domain: ``source`` or ``target`` (2022+).

    Returns:
        params: the unit's :class:`UnitParams` (frequencies in Hz, levels in dB).
    """
    _check_layout(layout)
    _check_types(layout, [machine_type])
    if domain not in ("source", "target"):
        raise ValueError(f"domain must be 'source' or 'target', got {domain!r}")
    mt = machine_type
    p = _model_params(mt, seed, layout)
    p.unit, p.domain = unit, domain
    rng = _rng(seed, layout, mt, unit)
    scale = UNIT_SPREAD * _TYPE_SPREAD.get(p.sound, 1.0)
    tol = {k: v * scale for k, v in _UNIT_TOL.items()}
    p.f0 *= float(np.exp(rng.normal(0, tol["f0"])))
    p.harm = p.harm * 10 ** (rng.normal(0, tol["harm_db"], len(p.harm)) / 20)
    p.env_c = p.env_c * 2 ** rng.normal(0, tol["env_oct"], len(p.env_c))
    p.env_g = p.env_g + rng.normal(0, tol["env_db"], len(p.env_g))
    p.tilt_db += float(rng.normal(0, tol["tilt"]))
    p.tonal_db += float(rng.normal(0, tol["tonal_db"]))
    p.period *= float(np.exp(rng.normal(0, tol["period"])))
    p.pattern = tuple((float(np.mod(s + rng.normal(0, tol["pattern"]), 1.0)),
                       float(d * np.exp(rng.normal(0, 5 * tol["pattern"])))) for s, d in p.pattern)
    p.modes = p.modes.copy()
    p.modes[:, 0] *= 2 ** rng.normal(0, tol["mode_oct"], len(p.modes))
    p.impact_db += float(rng.normal(0, tol["impact_db"]))
    p.mod_rate *= float(np.exp(rng.normal(0, tol["mod"])))
    p.bg_tilt += float(rng.normal(0, tol["bg_tilt"]))
    p.bg_c = p.bg_c * 2 ** rng.normal(0, tol["bg_oct"], len(p.bg_c))
    p.bg_g = p.bg_g + rng.normal(0, tol["bg_db"], len(p.bg_g))
    p.hum_db += float(rng.normal(0, tol["hum_db"]))
    p.bg_events *= float(np.exp(rng.normal(0, 0.3 * scale)))
    snr_c = p.snr_db[0] + float(rng.normal(0, tol["snr_db"]))
    p.snr_db = (snr_c - _CLIP_VAR["snr_half"], snr_c + _CLIP_VAR["snr_half"])
    p.level *= float(10 ** (rng.normal(0, tol["level_db"]) / 20))
    if layout in SECTION_LAYOUTS:
        attrs, idx = _attributes_for(mt, unit, domain, seed)
        p.attributes = attrs
        _apply_attributes(p, idx, seed)
        if domain == "target":  # changed background noise and a slightly worse SNR
            trng = _rng(seed, layout, mt, unit, "target-bg")
            p.bg_tilt += float(trng.uniform(-1.5, 1.5))
            p.bg_c = p.bg_c * 2 ** trng.uniform(-0.5, 0.5, 3)
            p.bg_g = np.clip(p.bg_g + trng.normal(0, 3, 3), 0, 15)
            p.bg_events += float(trng.uniform(0.2, 1.0))
            p.snr_db = (p.snr_db[0] - 2.0, p.snr_db[1] - 2.0)
    return p


def _clip_params(p: UnitParams, rng: np.random.Generator) -> UnitParams:
    """The unit's parameters as heard in one clip: load, mic placement and gain vary a little."""
    v = _CLIP_VAR
    q = replace(p)
    q.tonal_db = p.tonal_db + float(rng.normal(0, v["tonal_db"]))
    q.env_c = p.env_c * 2 ** rng.normal(0, v["env_oct"], len(p.env_c))
    q.env_g = p.env_g + rng.normal(0, v["env_db"], len(p.env_g))
    q.tilt_db = p.tilt_db + float(rng.normal(0, v["tilt"]))
    q.impact_db = p.impact_db + float(rng.normal(0, v["impact_db"]))
    q.level = p.level * float(10 ** (rng.normal(0, v["level_db"]) / 20))
    q.bg_tilt = p.bg_tilt + float(rng.normal(0, v["bg_tilt"]))
    q.bg_c = p.bg_c * 2 ** rng.normal(0, v["bg_oct"], len(p.bg_c))
    q.bg_g = p.bg_g + rng.normal(0, v["bg_db"], len(p.bg_g))
    q.hum_db = p.hum_db + float(rng.normal(0, v["hum_db"]))
    return q


def _apply_attributes(p: UnitParams, idx: Mapping[str, int], seed: int) -> None:
    """Map 2022 attribute values onto the physical parameters (in place)."""
    for key, vals, effect in _ATTRS[p.sound]:
        i = idx[key]
        if effect == "speed":
            factor = 1.0 + 0.07 * i
            p.f0 *= factor
            if p.sound == "slider":
                p.period /= factor
            kmax = max(2, int(7000 / (p.f0 * 1.1)))
            p.harm = p.harm[:kmax]
        elif effect == "load":
            p.harm = p.harm * 10 ** (1.5 * i / 20)
            p.f0 *= 1.0 - 0.02 * i
        elif effect == "impact":
            p.impact_db += 2.5 * i
        elif effect == "colour":
            p.env_c = p.env_c * 2 ** (0.3 * (i % 3) - 0.3)
            p.tilt_db += 0.7 * (i % 3) - 0.7
        elif effect == "unit":
            r = _rng(seed, "unit-attr", p.machine_type, vals[i])
            p.harm = p.harm * np.exp(r.normal(0, 0.4, len(p.harm)))
        elif effect == "pattern":
            r = _rng(seed, "pattern-attr", p.machine_type, vals[i])
            n_open = int(r.integers(1, 4))
            starts = np.sort(r.uniform(0, 1, n_open))
            durs = r.uniform(0.1, 0.35, n_open) * p.period / n_open
            p.pattern = tuple((float(s), float(d)) for s, d in zip(starts, durs))


# --------------------------------------------------------------------------- DSP primitives
def _env_db(f: np.ndarray, centres: np.ndarray, widths: np.ndarray, gains: np.ndarray, tilt: float) -> np.ndarray:
    """Spectral envelope in dB: a tilt (dB/octave re 1 kHz) plus log-Gaussian resonances."""
    lf = np.log2(np.maximum(f, 20.0))
    db = tilt * (lf - np.log2(1000.0))
    for c, w, g in zip(centres, widths, gains):
        db = db + g * np.exp(-0.5 * ((lf - np.log2(c)) / w) ** 2)
    return db - 40.0 * (f < 20.0)


@functools.lru_cache(maxsize=8)
def _freqs(n: int, sr: int) -> np.ndarray:
    """rfft bin frequencies of an ``n``-sample signal (cached: every clip of a set has the same n)."""
    f = np.fft.rfftfreq(n, 1.0 / sr)
    f.flags.writeable = False
    return f


_ENV_GRID = np.linspace(0.0, SR / 2, 2049)


def _env_gain(n: int, sr: int, centres: np.ndarray, widths: np.ndarray, gains: np.ndarray, tilt: float) -> np.ndarray:
    """Amplitude gain per rfft bin of `_env_db`, evaluated on a 2049-point grid and interpolated.

    The envelope is smooth (resonances at least 0.2 octave wide), so the grid loses nothing
    audible and saves most of the cost of evaluating it on every bin of a 10 s clip.
    """
    grid = _ENV_GRID * (sr / SR)
    return np.interp(_freqs(n, sr), grid, 10 ** (_env_db(grid, centres, widths, gains, tilt) / 20))


def _shaped_noise(n: int, sr: int, rng: np.random.Generator, gain: np.ndarray | None = None,
                  band: tuple[float, float] | None = None) -> np.ndarray:
    """Gaussian noise with an amplitude spectrum ``gain`` (per rfft bin) or a smooth band; unit RMS."""
    nf = n // 2 + 1
    spec = rng.standard_normal(2 * nf, dtype=np.float32).view(np.complex64)  # float32: half the cost
    if gain is not None:
        spec *= gain.astype(np.float32)
    if band is not None:
        spec *= _band_mask(n, sr, *band)
    x = scipy.fft.irfft(spec, n, overwrite_x=True)
    x /= np.sqrt(np.mean(x * x)) + 1e-12
    return x


@functools.lru_cache(maxsize=64)
def _band_mask(n: int, sr: int, lo: float, hi: float) -> np.ndarray:
    """Smooth (raised-cosine edges, 1/4 octave) band-pass mask over the rfft bins (cached, read-only)."""
    m = _band_mask_of(_freqs(n, sr), lo, hi)
    m.flags.writeable = False
    return m


def _band_mask_of(f: np.ndarray, lo: float, hi: float) -> np.ndarray:
    lf = np.log2(np.maximum(f, 1.0))
    w = 0.25
    up = np.clip((lf - np.log2(lo) + w) / w, 0, 1)
    down = np.clip((np.log2(hi) + w - lf) / w, 0, 1)
    return (0.5 - 0.5 * np.cos(np.pi * up)) * (0.5 - 0.5 * np.cos(np.pi * down))


def _band(x: np.ndarray, sr: int, lo: float, hi: float) -> np.ndarray:
    """Band-pass filter a signal by FFT masking."""
    return scipy.fft.irfft(scipy.fft.rfft(x) * _band_mask(len(x), sr, lo, hi), len(x))


_TABLE = 16384


def _harmonics(cycles: np.ndarray, amps: np.ndarray, phases: np.ndarray) -> np.ndarray:
    """Sum of harmonics ``sum_k a_k cos(2 pi k cycles + phi_k)`` by wavetable look-up.

    ``cycles`` is the cumulative rotation phase in turns, so the frequency may vary slowly.
    Cost is O(len(cycles)) whatever the number of harmonics.
    """
    kmax = min(len(amps), _TABLE // 2 - 1)
    spec = np.zeros(_TABLE // 2 + 1, dtype=complex)
    spec[1:kmax + 1] = amps[:kmax] * np.exp(1j * phases[:kmax]) * (_TABLE / 2)
    table = np.fft.irfft(spec, _TABLE)
    step = (np.append(table[1:], table[0]) - table).astype(np.float32)
    table = table.astype(np.float32)
    pos = cycles * _TABLE  # the phase stays float64: it reaches thousands of turns
    i = pos.astype(np.int64)
    frac = (pos - i).astype(np.float32)
    i &= _TABLE - 1  # _TABLE is a power of two
    out = step[i]
    out *= frac
    out += table[i]
    return out


def _cycles(f0: float, n: int, sr: int, rng: np.random.Generator, wobble: float = 0.002) -> np.ndarray:
    """Cumulative phase (turns) of a rotation at ``f0`` with a slow random speed drift.

    The drift (three slow sinusoids, 0.05-0.5 Hz) is computed on a coarse grid and
    interpolated, since it changes slowly.
    """
    hop = 64
    tc = np.arange(n // hop + 2) * (hop / sr)
    drift = np.zeros(len(tc))
    for _ in range(3):
        drift += rng.uniform(0.3, 1.0) * wobble * np.sin(2 * np.pi * rng.uniform(0.05, 0.5) * tc + rng.uniform(0, 2 * np.pi))
    inst = np.interp(np.arange(n) / hop, np.arange(len(tc)), drift)
    inst += 1.0
    inst *= f0 / sr
    return rng.uniform(0, 1) + np.cumsum(inst)


def _impacts(n: int, sr: int, times: np.ndarray, amps: np.ndarray, modes: np.ndarray) -> np.ndarray:
    """Impulses at ``times`` (s) with ``amps`` filtered by damped modes ``[(freq, decay, amp), ...]``."""
    idx = np.round(np.asarray(times) * sr).astype(np.int64)
    ok = (idx >= 0) & (idx < n)
    idx, amps = idx[ok], np.asarray(amps, dtype=float)[ok]
    length = int(min(0.25, 5 * float(np.max(modes[:, 1]))) * sr) + 1
    t = np.arange(length) / sr
    ir = np.zeros(length)
    for f, tau, a in modes:
        ir += a * np.exp(-t / tau) * np.sin(2 * np.pi * f * t)
    if len(idx) * length > 4 * n:  # dense events: FFT convolution
        x = np.zeros(n)
        np.add.at(x, idx, amps)
        return oaconvolve(x, ir)[:n]
    y = np.zeros(n + length)  # sparse events: add the impulse response at each one
    for i, a in zip(idx, amps):
        y[i:i + length] += a * ir
    return y[:n]


def _hum(n: int, sr: int, hz: float, phases: np.ndarray) -> np.ndarray:
    """Mains hum (fundamental + 2nd and 3rd harmonic), one exact period block tiled over the clip."""
    period = sr // int(np.gcd(sr, int(hz))) if float(hz).is_integer() else n
    t = np.arange(min(period, n)) / sr
    block = sum(a * np.cos(2 * np.pi * k * hz * t + ph) for k, a, ph in zip((1, 2, 3), (1.0, 0.5, 1 / 3), phases))
    return np.resize(block, n)


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x ** 2)) + 1e-12)


def _unit(x: np.ndarray) -> np.ndarray:
    return x / _rms(x)


def _smooth_gate(mask: np.ndarray, sr: int, ramp_s: float = 0.01) -> np.ndarray:
    """Turn a 0/1 mask into a gate with short linear ramps."""
    return uniform_filter1d(mask.astype(float), size=max(1, int(ramp_s * sr)), mode="nearest")


# --------------------------------------------------------------------------- sound models
@dataclass
class _Ctx:
    n: int
    sr: int
    rng: np.random.Generator
    p: UnitParams
    kind: str | None
    effect: float  # dB for additive kinds, relative speed offset for speed kinds
    cycles: np.ndarray | None = None  # rotation phase (turns) for rotation-locked anomalies
    f0: float = 0.0
    gate: np.ndarray | None = None  # activity gate (slider motion, valve open)
    events: np.ndarray | None = None  # event times (stroke ends / valve openings)


def _speed_factor(ctx: _Ctx) -> float:
    """Per-clip speed jitter times the anomalous speed offset (speed_change / belt_slip)."""
    jit = 1.0 + ctx.rng.normal(0, _CLIP_VAR["speed"])
    if ctx.kind in ("speed_change", "belt_slip"):
        jit *= 1.0 + ctx.effect * (1 if ctx.rng.uniform() < 0.5 else -1)
    return jit


def _noise_gain(ctx: _Ctx) -> np.ndarray:
    """Amplitude spectrum of the machine's noise: the clip's envelope (see `_clip_params`)."""
    p = ctx.p
    return _env_gain(ctx.n, ctx.sr, p.env_c, p.env_w, p.env_g, p.tilt_db)


def _tonal(ctx: _Ctx, cycles: np.ndarray, f0: float) -> np.ndarray:
    """Harmonic part shaped by the unit's spectral envelope, random phases, small amplitude jitter."""
    p = ctx.p
    k = np.arange(1, len(p.harm) + 1)
    fk = k * f0
    amps = p.harm * 10 ** (_env_db(fk, p.env_c, p.env_w, p.env_g, 0.0) / 40)
    amps = amps * np.exp(ctx.rng.normal(0, 0.1, len(amps))) * (fk < 7600)
    return _harmonics(cycles, amps, ctx.rng.uniform(0, 2 * np.pi, len(amps)))


def _mix(tonal: np.ndarray, noise: np.ndarray, tonal_db: float) -> np.ndarray:
    """Mix unit-RMS-normalised tonal and noise parts at a tonal-to-noise ratio."""
    g = 10 ** (tonal_db / 20)
    return (g * _unit(tonal) + _unit(noise)) / np.sqrt(1 + g * g)


def _render_rotating(ctx: _Ctx) -> np.ndarray:
    """Fan, pump, bearing, gearbox, ToyCar, ToyTrain: rotation harmonics + shaped noise."""
    p, n, sr, rng = ctx.p, ctx.n, ctx.sr, ctx.rng
    f0 = p.f0 * _speed_factor(ctx)
    cycles = _cycles(f0, n, sr, rng)
    ctx.cycles, ctx.f0 = cycles, f0
    tonal = _tonal(ctx, cycles, f0)
    noise = _shaped_noise(n, sr, rng, _noise_gain(ctx))
    if p.sound == "fan":  # flow noise modulated at the blade-pass rate
        noise *= 1.0 + rng.uniform(0.05, 0.2) * np.cos(2 * np.pi * p.special_order * cycles)
    x = _mix(tonal, noise, p.tonal_db)
    if p.sound == "ToyTrain":  # rail joints at a regular interval (scaled by speed)
        per = p.period / (f0 / p.f0)
        times = _regular_times(rng, per, n / sr, 0.003)
        imp = _impacts(n, sr, times, rng.uniform(0.7, 1.0, len(times)), p.modes)
        x = x + 10 ** (p.impact_db / 20) * 0.5 * _unit(imp)
    return x


def _regular_times(rng: np.random.Generator, period: float, dur: float, jitter: float) -> np.ndarray:
    """Event times every ``period`` seconds from a random offset, with Gaussian timing jitter."""
    t = np.arange(rng.uniform(0, period), dur, period)
    return t + rng.normal(0, jitter, len(t))


def _render_slider(ctx: _Ctx) -> np.ndarray:
    """Slider: strokes with motor whine and friction gated by velocity, impacts at the ends."""
    p, n, sr, rng = ctx.p, ctx.n, ctx.sr, ctx.rng
    sf_ = _speed_factor(ctx)
    f0 = p.f0 * sf_
    period = p.period * rng.normal(1.0, 0.005) / (sf_ if ctx.kind == "speed_change" else 1.0)
    t = np.arange(n) / sr
    off = rng.uniform(0, period)
    vel = np.abs(np.sin(2 * np.pi * (t + off) / period))  # speed profile, zero at stroke ends
    gate = np.clip(vel * 1.3, 0, 1) ** 0.7
    ends = np.arange(-off + period / 2 * np.ceil(off / (period / 2)), n / sr, period / 2)
    if ctx.kind == "stroke_irregularity":
        ends = ends + rng.normal(0, 0.03 + 0.03 * rng.uniform(), len(ends)) * period
    ctx.gate, ctx.events = gate, ends
    cycles = _cycles(f0, n, sr, rng)
    ctx.cycles, ctx.f0 = cycles, f0
    tonal = _tonal(ctx, cycles, f0) * gate
    noise = _shaped_noise(n, sr, rng, _noise_gain(ctx)) * (0.3 + 0.7 * gate)
    x = _mix(tonal, noise, p.tonal_db)
    imp = _impacts(n, sr, ends + rng.normal(0, 0.002, len(ends)), rng.uniform(0.6, 1.0, len(ends)), p.modes)
    return x + 10 ** (p.impact_db / 20) * _unit(imp)


def _valve_openings(p: UnitParams, dur: float, rng: np.random.Generator, sticking: bool) -> tuple[np.ndarray, np.ndarray]:
    """Opening times and durations of a valve clip from its cycle pattern."""
    period = p.period * rng.normal(1.0, 0.003)
    off = rng.uniform(0, period)
    starts, durs = [], []
    for c in range(-1, int(np.ceil(dur / period)) + 1):
        for s, d in p.pattern:
            t0 = c * period + s * period - off + rng.normal(0, 0.002)
            d1 = d * rng.normal(1.0, 0.01)
            if sticking:
                t0 += rng.uniform(0.0, 0.15) * period
            if t0 + d1 > 0 and t0 < dur:
                starts.append(t0)
                durs.append(d1)
    return np.array(starts), np.array(durs)


def _render_valve(ctx: _Ctx) -> np.ndarray:
    """Valve: open/close clicks, flow noise and a weak solenoid hum while open."""
    p, n, sr, rng = ctx.p, ctx.n, ctx.sr, ctx.rng
    starts, durs = _valve_openings(p, n / sr, rng, ctx.kind == "sticking")
    mask = np.zeros(n, dtype=bool)
    for s, d in zip(starts, durs):
        mask[max(0, int(s * sr)):max(0, int((s + d) * sr))] = True
    gate = _smooth_gate(mask, sr, 0.015)
    ctx.gate, ctx.events = gate, starts
    cycles = _cycles(p.f0, n, sr, rng, 0.0005)
    ctx.cycles, ctx.f0 = cycles, p.f0
    flow = _shaped_noise(n, sr, rng, _noise_gain(ctx) * _band_mask(n, sr, 150, 6000))
    hum = _harmonics(cycles, np.array([1.0, 0.5, 0.2]), rng.uniform(0, 2 * np.pi, 3))
    cont = _mix(hum, flow, p.tonal_db) * (0.05 + gate)
    times = np.concatenate([starts, starts + durs])
    clicks = _impacts(n, sr, times, rng.uniform(0.6, 1.0, len(times)), p.modes)
    return 0.5 * _unit(cont) + 10 ** (p.impact_db / 20) * _unit(clicks)


def _render_conveyor(ctx: _Ctx) -> np.ndarray:
    """ToyConveyor: motor hum, roller rattle modulated at the roller rate, belt-joint thumps."""
    p, n, sr, rng = ctx.p, ctx.n, ctx.sr, ctx.rng
    sf_ = _speed_factor(ctx)
    f0 = p.f0 * sf_
    wob = 0.002 if ctx.kind != "belt_slip" else 0.002 + 0.2 * ctx.effect
    cycles = _cycles(f0, n, sr, rng, wob)
    ctx.cycles, ctx.f0 = cycles, f0
    tonal = _tonal(ctx, cycles, f0)
    t = np.arange(n) / sr
    rate = p.mod_rate * sf_
    rattle = _shaped_noise(n, sr, rng, _noise_gain(ctx))
    rattle *= 1.0 + 0.4 * np.cos(2 * np.pi * rate * t + rng.uniform(0, 2 * np.pi))
    x = _mix(tonal, rattle, p.tonal_db)
    times = _regular_times(rng, p.period / sf_, n / sr, 0.005)
    imp = _impacts(n, sr, times, rng.uniform(0.7, 1.0, len(times)), p.modes)
    return x + 10 ** (p.impact_db / 20) * 0.7 * _unit(imp)


def _render_normal(ctx: _Ctx) -> np.ndarray:
    mt = ctx.p.sound
    if mt in _ROTATING:
        return _render_rotating(ctx)
    return {"slider": _render_slider, "valve": _render_valve, "ToyConveyor": _render_conveyor}[mt](ctx)


# --------------------------------------------------------------------------- anomalies
def _orders(ctx: _Ctx, orders: Sequence[float], weights: Sequence[float]) -> np.ndarray:
    """Rotation-locked lines at (possibly fractional) orders of the running speed."""
    x = np.zeros(ctx.n)
    for o, w in zip(orders, weights):
        if o * ctx.f0 < 7600:
            x += np.sqrt(w) * np.cos(2 * np.pi * o * ctx.cycles + ctx.rng.uniform(0, 2 * np.pi))
    return x


def _anomaly_component(ctx: _Ctx) -> np.ndarray | None:
    """The additive anomalous component (any scale) of the clip's kind, or None."""
    kind, n, sr, rng, p = ctx.kind, ctx.n, ctx.sr, ctx.rng, ctx.p
    dur = n / sr
    if kind in (None, "speed_change", "belt_slip"):
        return None
    if kind == "imbalance":
        return _orders(ctx, [1, 2], [0.85, 0.15])
    if kind == "misalignment":
        return _orders(ctx, [2, 3, 4], [0.6, 0.25, 0.15])
    if kind == "looseness":
        return _orders(ctx, [0.5, 1.5, 2.5, 3.5], [0.4, 0.3, 0.2, 0.1])
    if kind == "gear_wear":
        z = p.special_order
        return _orders(ctx, [z - 1, z, z + 1], [0.25, 0.5, 0.25])
    if kind == "pulsation":
        z = p.special_order
        tone = _orders(ctx, [z], [1.0])
        t = np.arange(n) / sr
        low = _shaped_noise(n, sr, rng, band=(20, 500))
        low *= np.cos(2 * np.pi * rng.uniform(2, 6) * t + rng.uniform(0, 6.3))
        return 0.8 * _unit(tone) + 0.6 * _unit(low)
    if kind == "valve_pulsation":
        t = np.arange(n) / sr
        tone = np.cos(2 * np.pi * rng.uniform(20, 60) * t + rng.uniform(0, 6.3))
        low = _shaped_noise(n, sr, rng, band=(30, 500)) * np.cos(2 * np.pi * rng.uniform(3, 8) * t)
        return (0.8 * _unit(tone) + 0.6 * _unit(low)) * ctx.gate
    if kind in ("stroke_irregularity", "sticking", "wheel_flat"):
        if kind == "wheel_flat":
            times = _regular_times(rng, 1.0 / (ctx.f0 / rng.uniform(3, 6)), dur, 0.001)
        else:
            times = ctx.events + rng.uniform(0.0, 0.02, len(ctx.events))
        lo, hi = {"stroke_irregularity": (50, 350), "sticking": (40, 300), "wheel_flat": (60, 500)}[kind]
        modes = np.column_stack([np.exp(rng.uniform(np.log(lo), np.log(hi), 3)), rng.uniform(0.01, 0.04, 3),
                                 rng.uniform(0.5, 1.0, 3)])
        return _impacts(n, sr, times, rng.uniform(0.5, 1.0, len(times)), modes)
    if kind == "bearing_defect":
        order = rng.uniform(3.0, 5.5)
        rate = order * ctx.f0 if p.sound in (*_ROTATING, "ToyConveyor") else rng.uniform(40, 120)
        times = _regular_times(rng, 1.0 / rate, dur, 0.01 / rate)
        amps = rng.rayleigh(1.0, len(times))
        if ctx.gate is not None:
            amps *= np.interp(times, np.arange(n) / sr, ctx.gate)
        fr = rng.uniform(2500, 6500)
        modes = np.array([[fr, rng.uniform(0.0005, 0.0015), 1.0], [fr * rng.uniform(1.1, 1.3), 0.0007, 0.5]])
        return _impacts(n, sr, times, amps, modes)
    if kind in ("rubbing", "rail_friction"):
        x = _shaped_noise(n, sr, rng, band=(2000, 7000))
        if kind == "rubbing" and ctx.cycles is not None:
            g = (0.5 + 0.5 * np.cos(2 * np.pi * ctx.cycles + rng.uniform(0, 6.3))) ** 4
        else:
            g = ctx.gate if ctx.gate is not None else np.ones(n)
        slow = np.clip(_unit(_shaped_noise(n, sr, rng, band=(0.2, 2.0))) * 0.7 + 0.8, 0, None)
        return x * g * slow
    if kind in ("leak", "valve_leak"):
        x = _shaped_noise(n, sr, rng, band=(3000, 7000))
        if kind == "valve_leak":
            x *= 1.0 - ctx.gate
        return x
    if kind == "cavitation":
        rate = rng.uniform(200, 1000)
        times = np.sort(rng.uniform(0, dur, int(rate * dur)))
        amps = rng.exponential(1.0, len(times)) ** 2
        x = np.zeros(n)
        np.add.at(x, np.minimum((times * sr).astype(np.int64), n - 1), amps)
        return _band(x, sr, 2500, 7500)
    if kind == "chatter":
        rate = rng.uniform(40, 120)
        times = _regular_times(rng, 1.0 / rate, dur, 0.1 / rate)
        amps = rng.uniform(0.5, 1.0, len(times)) * np.interp(times, np.arange(n) / sr, ctx.gate)
        fr = rng.uniform(2500, 6500)
        return _impacts(n, sr, times, amps, np.array([[fr, rng.uniform(0.0003, 0.0008), 1.0]]))
    if kind == "squeal":
        t = np.arange(n) / sr
        fs = rng.uniform(2500, 5000)
        inst = fs * (1 + 0.01 * np.sin(2 * np.pi * rng.uniform(3, 8) * t))
        ph = 2 * np.pi * np.cumsum(inst) / sr
        gate = np.clip(_unit(_shaped_noise(n, sr, rng, band=(0.2, 1.5))) + 0.3, 0, None)
        return (np.sin(ph) + 0.2 * np.sin(2 * ph + 1.0) * (2 * fs < 7600)) * gate
    raise ValueError(f"unknown anomaly kind {kind!r}")


def _severity_range(machine_type: str, kind: str) -> tuple[float, float]:
    return _SEVERITY_TYPE.get((sound_model(machine_type), kind), _SEVERITY[kind])


def _background(ctx: _Ctx) -> np.ndarray:
    """Factory-like background: coloured noise with broad peaks, mains hum, distant transients."""
    p, n, sr, rng = ctx.p, ctx.n, ctx.sr, ctx.rng
    x = _shaped_noise(n, sr, rng, _env_gain(n, sr, p.bg_c, np.full(len(p.bg_c), 0.7), p.bg_g, p.bg_tilt))
    x += 10 ** (p.hum_db / 20) * _unit(_hum(n, sr, p.hum_hz, rng.uniform(0, 6.3, 3)))
    n_ev = rng.poisson(p.bg_events * n / sr)
    if n_ev:
        modes = np.column_stack([np.exp(rng.uniform(np.log(150), np.log(5000), 3)), rng.uniform(0.005, 0.05, 3),
                                 rng.uniform(0.3, 1.0, 3)])
        ev = _impacts(n, sr, rng.uniform(0, n / sr, n_ev), rng.uniform(0.2, 1.0, n_ev), modes)
        x = x + 10 ** (rng.uniform(-12, -4) / 20) * _unit(ev)
    return _unit(x)


@dataclass
class _Parts:
    """One clip before mixing (see `_render_parts`): machine sound with the anomaly, background, gain."""

    machine: np.ndarray
    bg: np.ndarray  # the background at the clip's SNR
    gain: float  # output gain: the machine part's RMS to the unit's level
    m_rms: float  # RMS of the normal machine part
    snr: float
    ctx: _Ctx
    info: dict[str, Any]


def _anomaly_of(machine_type: str, rng: np.random.Generator,
                anomaly: str | Mapping[str, Any] | None) -> tuple[str | None, float | None]:
    """The checked kind and severity of ``anomaly`` (see `synth_clip`); a missing severity is drawn from ``rng``."""
    kind, severity = None, None
    if anomaly is not None:
        if isinstance(anomaly, str):
            kind = anomaly
        else:
            kind = anomaly.get("kind")
            severity = anomaly.get("severity")
        kinds = ANOMALY_KINDS[sound_model(machine_type)]
        if kind not in kinds:
            raise ValueError(f"unknown anomaly kind {kind!r} for {machine_type}; choose from {sorted(kinds)}")
        if severity is None:
            severity = float(rng.uniform(0, 1))
        if not 0.0 <= float(severity) <= 1.0:
            raise ValueError(f"anomaly severity must be in [0, 1], got {severity}")
    return kind, severity


def _render_parts(machine_type: str, p: UnitParams, rng: np.random.Generator,
                  anomaly: str | Mapping[str, Any] | None, duration: float, sr: int) -> _Parts:
    """Render the parts of one clip: the machine sound (with the anomaly) and the background."""
    if machine_type != p.machine_type:
        raise ValueError(f"unit_params are for {p.machine_type!r}, not {machine_type!r}")
    if duration <= 0:
        raise ValueError(f"duration must be positive, got {duration}")
    if sr != SR:
        raise ValueError(f"sr must be {SR} (the sound models are built for 16 kHz), got {sr}")
    kind, severity = _anomaly_of(machine_type, rng, anomaly)
    n = int(round(duration * sr))
    effect = 0.0
    if kind is not None:
        lo, hi = _severity_range(machine_type, kind)
        effect = lo + (hi - lo) * float(severity)
    p = _clip_params(p, rng)
    ctx = _Ctx(n=n, sr=sr, rng=rng, p=p, kind=kind, effect=effect)
    machine = _render_normal(ctx)
    m_rms = _rms(machine)
    comp = _anomaly_component(ctx)
    if comp is not None:
        machine = machine + m_rms * 10 ** (effect / 20) * _unit(comp)
    snr = float(rng.uniform(*p.snr_db))
    bg = _background(ctx) * m_rms * 10 ** (-snr / 20)
    gain = p.level / m_rms
    info = {"anomaly_kind": kind or "", "severity": float(severity) if kind else 0.0, "snr_db": snr}
    return _Parts(machine, bg, gain, m_rms, snr, ctx, info)


def _render(machine_type: str, p: UnitParams, rng: np.random.Generator, anomaly: str | Mapping[str, Any] | None,
            duration: float, sr: int) -> tuple[np.ndarray, dict[str, Any]]:
    """Render one clip; returns the float32 signal and its metadata (kind, severity, SNR)."""
    q = _render_parts(machine_type, p, rng, anomaly, duration, sr)
    y = np.clip((q.machine + q.bg) * q.gain, -1.0, 1.0).astype(np.float32)
    return y, q.info


def _render_supplemental(content: str, machine_type: str, p: UnitParams, rng: np.random.Generator,
                         duration: float, sr: int) -> tuple[np.ndarray, dict[str, Any]]:
    """A DCASE 2025 supplemental clip: the normal machine sound alone (``machine``) or its background (``noise``)."""
    q = _render_parts(machine_type, p, rng, None, duration, sr)
    part = q.machine if content == "machine" else q.bg
    y = np.clip(part * q.gain, -1.0, 1.0).astype(np.float32)
    return y, {"anomaly_kind": "", "severity": 0.0, "snr_db": float("nan")}


# --------------------------------------------------------------------------- DCASE 2026: two microphones
@dataclass(frozen=True)
class FarMic:
    """Where the far microphone of a DCASE 2026 stand-in section is, and how it hears the machine.

    Drawn once per section by :func:`far_mic`; used by :func:`synth_clip_two_channel`.
    """

    delay_ms: float  # extra path from the machine: 2-6 ms (0.7-2 m)
    atten_db: float  # its direct sound is 4-8 dB weaker than at the near microphone
    lowpass_hz: float  # corner (-6 dB, then -12 dB/octave) of the far path's high-frequency loss
    rt60_s: float  # reverberation time of the room tail
    drr_db: float  # direct-to-reverberant energy ratio of the far path
    noise_db: float  # its background level re the near microphone's
    room_seed: int  # seed of the room tail (an exponentially decaying noise)


def far_mic(machine_type: str, unit: str = "section_00", seed: int = 0, layout: str = "dcase2026") -> FarMic:
    """The far microphone of one section (stable for every clip of it). Explained in docs/synthetic_data.md.

    Args:
        machine_type: the section's machine type.
        unit: the section.
        seed: the data set's seed.
        layout: the layout (seeds the draw).

    Returns:
        far: delay 2-6 ms, attenuation 4-8 dB, low-pass corner 1.5-3 kHz, reverberation time
            0.15-0.4 s, direct-to-reverberant ratio +2 to +8 dB, background 0-3 dB louder.
    """
    rng = _rng(seed, layout, machine_type, unit, "far-mic")
    return FarMic(delay_ms=float(rng.uniform(2.0, 6.0)), atten_db=float(rng.uniform(4.0, 8.0)),
                  lowpass_hz=float(rng.uniform(1500.0, 3000.0)), rt60_s=float(rng.uniform(0.15, 0.4)),
                  drr_db=float(rng.uniform(2.0, 8.0)), noise_db=float(rng.uniform(0.0, 3.0)),
                  room_seed=int(rng.integers(0, 2 ** 31)))


def _far_path(x: np.ndarray, bg: np.ndarray, sr: int, far: FarMic) -> np.ndarray:
    """The far channel: machine sound ``x`` delayed, with a room tail, weaker, plus ``bg``; all low-passed.

    One circular FFT filter (the delay and the room tail wrap around the clip).
    """
    n = len(x)
    f = _freqs(n, sr)
    length = min(n, int(far.rt60_s * sr))
    t = np.arange(length) / sr
    tail = _rng(far.room_seed, "room").standard_normal(length) * np.exp(-6.91 * t / far.rt60_s)
    tail[:int(0.002 * sr)] = 0.0  # the first reflections arrive 2 ms after the direct sound
    tail *= np.sqrt(10 ** (-far.drr_db / 10) / np.sum(tail ** 2))
    h = (1.0 + scipy.fft.rfft(tail, n)) * np.exp(-2j * np.pi * f * (far.delay_ms / 1000)) * 10 ** (-far.atten_db / 20)
    lowpass = 1.0 / (1.0 + (f / far.lowpass_hz) ** 2)  # zero-phase: the delay stays that of the path
    return scipy.fft.irfft((scipy.fft.rfft(x) * h + scipy.fft.rfft(bg)) * lowpass, n)


def _render_two_channel(machine_type: str, p: UnitParams, rng: np.random.Generator,
                        anomaly: str | Mapping[str, Any] | None, duration: float, sr: int, far: FarMic,
                        far_rng: np.random.Generator | None) -> tuple[np.ndarray, dict[str, Any]]:
    """Channel 0 as `_render`, channel 1 the far path of the same machine sound over its own background."""
    q = _render_parts(machine_type, p, rng, anomaly, duration, sr)
    near = np.clip((q.machine + q.bg) * q.gain, -1.0, 1.0)
    if far_rng is None:
        far_rng = np.random.default_rng(int(rng.integers(0, 2 ** 63)))
    far_ctx = _Ctx(n=q.ctx.n, sr=sr, rng=far_rng, p=q.ctx.p, kind=None, effect=0.0)
    bg_far = _background(far_ctx) * q.m_rms * 10 ** ((far.noise_db - q.snr) / 20)
    far_y = np.clip(_far_path(q.machine, bg_far, sr, far) * q.gain, -1.0, 1.0)
    return np.stack([near, far_y]).astype(np.float32), q.info


def synth_clip_two_channel(machine_type: str, unit_params: UnitParams, rng: np.random.Generator, far: FarMic,
                           anomaly: str | Mapping[str, Any] | None = None, duration: float = 10.0, sr: int = SR,
                           far_rng: np.random.Generator | None = None) -> np.ndarray:
    """A two-channel clip (DCASE 2026 stand-in): near and far microphone. Explained in docs/synthetic_data.md.

    Channel 0 is :func:`synth_clip` of the same arguments; channel 1 hears the same machine sound
    (anomaly included) through :class:`FarMic` over a background of its own, so its SNR is lower.

    Args:
        machine_type: the machine type of ``unit_params``.
        unit_params: from :func:`unit_params`.
        rng: the clip's random generator.
        far: from :func:`far_mic`.
        anomaly: as in :func:`synth_clip`.
        duration: length in seconds.
        sr: sample rate in Hz.
        far_rng: the far background's generator (None: drawn from ``rng`` after channel 0).

    Returns:
        x: float32 ``[2, round(duration * sr)]`` in [-1, 1].
    """
    return _render_two_channel(machine_type, unit_params, rng, anomaly, duration, sr, far, far_rng)[0]


def synth_clip(machine_type: str, unit_params: UnitParams, rng: np.random.Generator,
               anomaly: str | Mapping[str, Any] | None = None, duration: float = 10.0, sr: int = SR) -> np.ndarray:
    """Synthesise one clip of a machine with ``unit_params``. Explained in chapter 1.

    Args:
        machine_type: the machine type of ``unit_params``.
        unit_params: from :func:`unit_params`.
        rng: the clip's random generator.
        anomaly: None (normal), a kind name from ``ANOMALY_KINDS[machine_type]`` (severity drawn
            uniformly from ``rng``) or ``{"kind": ..., "severity": s}`` with ``s`` in [0, 1].
        duration: length in seconds.
        sr: sample rate in Hz.

    Returns:
        x: float32 mono signal in [-1, 1], ``round(duration * sr)`` samples.
    """
    return _render(machine_type, unit_params, rng, anomaly, duration, sr)[0]


# --------------------------------------------------------------------------- dataset layout
@dataclass(frozen=True)
class _ClipSpec:
    layout: str
    machine_type: str
    unit: str
    split: str
    domain: str
    label: str
    index: int  # counter within (unit, domain, split, label)
    duration: float
    seed: int
    kind: str | None
    rel_path: str
    attributes: str


def _check_layout(layout: str) -> None:
    check_layout(layout)


def _check_types(layout: str, machines: Iterable[str]) -> list[str]:
    machines = list(machines)
    bad = [m for m in machines if m not in SYNTH_TYPES[layout]]
    if bad:
        raise ValueError(f"unknown machine type(s) {bad} for {layout}; choose from {list(SYNTH_TYPES[layout])}")
    if not machines:
        raise ValueError("machines must name at least one machine type")
    return machines


def _units(layout: str, machine_type: str, spec: ScaleSpec) -> list[str]:
    if layout == "dcase2020":
        ids = DCASE2020_IDS[machine_type]
        return ids if spec.n_units_2020 is None else ids[:spec.n_units_2020]
    return ["section_00"] if layout in ONE_SECTION_LAYOUTS else list(DCASE2022_SECTIONS)


def _kind_for(machine_type: str, unit_i: int, domain_i: int, index: int) -> str:
    """Anomaly kinds drawn evenly: cyclic over the type's kinds, offset per unit and domain."""
    kinds = _KINDS_PER_TYPE[sound_model(machine_type)]
    return kinds[(index + 3 * unit_i + 2 * domain_i) % len(kinds)]


def _plan(layout: str, spec: ScaleSpec, machines: Sequence[str], seed: int) -> list[_ClipSpec]:
    """Every clip of a data set, in a fixed order."""
    out: list[_ClipSpec] = []
    for mt in machines:
        dur = spec.toycar_duration_2020 if (layout == "dcase2020" and mt == "ToyCar" and spec.toycar_duration_2020) \
            else spec.duration
        for ui, unit in enumerate(_units(layout, mt, spec)):
            if layout == "dcase2020":
                num = unit.split("_")[1]
                for split, label, count in (("train", "normal", spec.train_2020), ("test", "normal", spec.test_normal_2020),
                                            ("test", "anomaly", spec.test_anomaly_2020)):
                    for i in range(count):
                        kind = _kind_for(mt, ui, 0, i) if label == "anomaly" else None
                        rel = f"{mt}/{split}/{label}_id_{num}_{i:08d}.wav"
                        out.append(_ClipSpec(layout, mt, unit, split, "source", label, i, dur, seed, kind, rel, ""))
            else:
                out += _plan_section(layout, spec, mt, ui, unit, dur, seed)
        if layout in SUPPLEMENTAL_LAYOUTS:
            content = SUPPLEMENTAL_CONTENT[mt]
            for i in range(_SUPPLEMENTAL_CLIPS.get(spec, max(1, spec.train_target_2022))):
                rel = f"{mt}/{SUPPLEMENTAL}/section_00_{content}_{i:04d}.wav"
                out.append(_ClipSpec(layout, mt, "section_00", SUPPLEMENTAL, "", "", i, dur, seed, None, rel, ""))
    return out


def _plan_section(layout: str, spec: ScaleSpec, mt: str, ui: int, unit: str, dur: float,
                  seed: int) -> list[_ClipSpec]:
    """The clips of one section (2022+): source and target training clips, then the test clips.

    The manifest's ``attributes`` are the true ones, also where the name says ``noAttribute``.
    """
    out: list[_ClipSpec] = []
    for di, domain in enumerate(("source", "target")):
        attrs = format_attributes(_attributes_for(mt, unit, domain, seed)[0])
        named = NO_ATTRIBUTE if mt in NO_ATTRIBUTE_TYPES.get(layout, ()) else attrs
        n_train = spec.train_source_2022 if domain == "source" else spec.train_target_2022
        for split, label, count in (("train", "normal", n_train), ("test", "normal", spec.test_normal_2022),
                                    ("test", "anomaly", spec.test_anomaly_2022)):
            for i in range(count):
                kind = _kind_for(mt, ui, di, i) if label == "anomaly" else None
                rel = f"{mt}/{split}/{unit}_{domain}_{split}_{label}_{i:04d}_{named}.wav"
                out.append(_ClipSpec(layout, mt, unit, split, domain, label, i, dur, seed, kind, rel, attrs))
    return out


def plan_counts(layout: str = "dcase2020", scale: str | ScaleSpec = "book",
                machines: Sequence[str] | None = None, seed: int = 0) -> pd.DataFrame:
    """Clip counts that :func:`generate` would write; nothing is synthesised. Explained in chapter 1.

    Args:
        layout: one of :data:`asdlib.dcase.LAYOUTS`.
        scale: a scale name (:data:`SCALES`) or a :class:`ScaleSpec`.
        machines: machine types (None: all of the layout).
        seed: the data set's seed.

    Returns:
        counts: one row per (machine_type, unit, domain, split, label) with ``clips`` and
            ``duration`` (seconds per clip).
    """
    _check_layout(layout)
    plan = _plan(layout, _resolve_scale(scale), _check_types(layout, SYNTH_TYPES[layout] if machines is None
                                                             else machines), seed)
    df = pd.DataFrame([(c.machine_type, c.unit, c.domain, c.split, c.label, c.duration) for c in plan],
                      columns=["machine_type", "unit", "domain", "split", "label", "duration"])
    return df.groupby(["machine_type", "unit", "domain", "split", "label"], sort=False).agg(
        clips=("duration", "size"), duration=("duration", "first")).reset_index()


_PARAM_CACHE: dict[tuple, UnitParams] = {}


def _make_clip(c: _ClipSpec) -> tuple[np.ndarray, dict[str, Any]]:
    """The signal (``[n]``, or ``[2, n]`` in two-channel layouts) and metadata of one planned clip."""
    domain = c.domain or "source"  # supplemental clips: the source domain's machine and site
    key = (c.seed, c.layout, c.machine_type, c.unit, domain)
    if key not in _PARAM_CACHE:
        _PARAM_CACHE[key] = unit_params(c.machine_type, c.unit, c.seed, c.layout, domain)
    rng = _rng(c.seed, c.layout, c.machine_type, c.unit, c.domain, c.split, c.label, c.index)
    if c.split == SUPPLEMENTAL:
        return _render_supplemental(SUPPLEMENTAL_CONTENT[c.machine_type], c.machine_type, _PARAM_CACHE[key], rng,
                                    c.duration, SR)
    if c.layout in TWO_CHANNEL_LAYOUTS:
        far_rng = _rng(c.seed, c.layout, c.machine_type, c.unit, c.domain, c.split, c.label, c.index, "far")
        return _render_two_channel(c.machine_type, _PARAM_CACHE[key], rng, c.kind, c.duration, SR,
                                   far_mic(c.machine_type, c.unit, c.seed, c.layout), far_rng)
    return _render(c.machine_type, _PARAM_CACHE[key], rng, c.kind, c.duration, SR)


def _write_clip(args: tuple[str, _ClipSpec]) -> dict[str, Any]:
    """Worker: synthesise one clip and write it as 16-bit PCM WAV under ``root``."""
    root, c = args
    y, info = _make_clip(c)
    pcm = np.round(y.astype(np.float64) * 32767.0).astype(np.int16)
    sf.write(os.path.join(root, c.rel_path), pcm.T if pcm.ndim == 2 else pcm, SR, subtype="PCM_16", format="WAV")
    return info


def _manifest_row(c: _ClipSpec, info: Mapping[str, Any]) -> dict[str, Any]:
    kind = c.kind or ""
    meta = ANOMALY_KINDS[sound_model(c.machine_type)].get(kind, {"band": "", "band_hz": ""})
    return {"path": c.rel_path, "layout": c.layout, "machine_type": c.machine_type, "unit": c.unit,
            "split": c.split, "domain": c.domain, "label": c.label, "anomaly_kind": kind,
            "anomaly_band": meta["band"], "band_hz": meta["band_hz"],
            "severity": round(float(info["severity"]), 4) if kind else np.nan,
            "snr_db": round(float(info["snr_db"]), 2), "attributes": c.attributes}


def _resolve_scale(scale: str | ScaleSpec) -> ScaleSpec:
    if isinstance(scale, ScaleSpec):
        return scale
    if scale not in _SCALES:
        raise ValueError(f"scale must be one of {SCALES}, got {scale!r}")
    return _SCALES[scale]


def _is_nonempty_dir(path: Path) -> bool:
    return path.exists() and (not path.is_dir() or any(path.iterdir()))


def generate(out: str | os.PathLike, layout: str = "dcase2020", scale: str | ScaleSpec = "book",
             machines: Sequence[str] | str | None = None, seed: int = 0, workers: int | None = None,
             progress: bool = False, overwrite: bool = False) -> pd.DataFrame:
    """Generate a synthetic data set in the DCASE ``layout`` under ``out``. Explained in chapter 1.

    Writes ``<out>/<type>/{train,test}/<DCASE name>.wav`` (16 kHz 16-bit PCM, mono; two channels,
    near and far microphone, in ``dcase2026``), ``<type>/supplemental/`` clips in ``dcase2025``,
    ``attributes_XX.csv`` per section (2022+), ``manifest.csv`` and ``SYNTH_INFO.json``. The tree is
    built in a temporary sibling folder and moved into place at the end, so an interrupted run never
    leaves a complete-looking tree. The layouts: docs/synthetic_data.md.

    Args:
        out: the data set's root folder.
        layout: one of :data:`asdlib.dcase.LAYOUTS`.
        scale: a scale name (:data:`SCALES`) or a :class:`ScaleSpec`.
        machines: machine types, a list or ``"fan,valve"`` (None: all of the layout).
        seed: non-negative seed; the same seed gives byte-identical files.
        workers: worker processes (default: up to 2); does not change the files.
        progress: show a progress bar.
        overwrite: replace a non-empty ``out`` (else refused with ``FileExistsError``).

    Returns:
        manifest: one row per clip: ``path`` (relative), layout, machine type, unit, split, domain,
            label, ``anomaly_kind``, ``anomaly_band``, ``band_hz``, ``severity``, ``snr_db`` (of the
            near microphone), attributes (the true ones, also of ``noAttribute`` names); supplemental
            clips have split ``supplemental``, no domain, label or SNR.
    """
    _check_layout(layout)
    spec = _resolve_scale(scale)
    if isinstance(machines, str):
        machines = [m for m in machines.split(",") if m]
    machines = _check_types(layout, SYNTH_TYPES[layout] if machines is None else machines)
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    seed = int(seed)
    out = Path(out)
    if _is_nonempty_dir(out) and not overwrite:
        raise FileExistsError(f"output folder {out} is not empty; pass overwrite=True to replace it")
    if workers is None:
        workers = min(2, os.cpu_count() or 1)
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    out.parent.mkdir(parents=True, exist_ok=True)
    t_start = time.time()
    plan = _plan(layout, spec, machines, seed)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        for d in sorted({str(Path(c.rel_path).parent) for c in plan}):
            (tmp / d).mkdir(parents=True, exist_ok=True)
        jobs = [(str(tmp), c) for c in plan]
        if workers == 1:
            infos: Iterator[dict[str, Any]] = map(_write_clip, jobs)
            infos = _progress(infos, len(jobs), progress, layout)
            rows = [_manifest_row(c, i) for c, i in zip(plan, infos)]
        else:
            with ProcessPoolExecutor(max_workers=workers) as ex:
                it = _progress(ex.map(_write_clip, jobs, chunksize=8), len(jobs), progress, layout)
                rows = [_manifest_row(c, i) for c, i in zip(plan, it)]
        manifest = pd.DataFrame(rows)
        if layout in SECTION_LAYOUTS:
            _write_attribute_csvs(tmp, manifest, hidden=NO_ATTRIBUTE_TYPES.get(layout, ()))
        manifest.to_csv(tmp / "manifest.csv", index=False)
        info = _synth_info(layout, scale, seed, machines, manifest)
        info["seconds"] = round(time.time() - t_start, 1)
        (tmp / "SYNTH_INFO.json").write_text(json.dumps(info, indent=2))
        _move_into_place(tmp, out, overwrite)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return manifest


def _synth_info(layout: str, scale: str | ScaleSpec, seed: int, machines: list[str],
                manifest: pd.DataFrame) -> dict[str, Any]:
    """The contents of ``SYNTH_INFO.json`` but its ``seconds``; 2023+ sets also name channels and hidden attributes."""
    groups = (("train", "normal"), ("test", "normal"), ("test", "anomaly"))
    counts = {mt: {f"{s}_{lab}": int(((g.split == s) & (g.label == lab)).sum()) for s, lab in groups}
              for mt, g in manifest.groupby("machine_type")}
    if layout in SUPPLEMENTAL_LAYOUTS:
        for mt, g in manifest.groupby("machine_type"):
            counts[mt][SUPPLEMENTAL] = int((g.split == SUPPLEMENTAL).sum())
    info = {"generator": "asdlib.synth", "generator_version": GENERATOR_VERSION, "layout": layout,
            "scale": scale if isinstance(scale, str) else "custom", "seed": seed, "machines": machines,
            "sample_rate": SR, "n_clips": len(manifest), "counts": counts}
    if layout in ONE_SECTION_LAYOUTS:
        info["channels"] = 2 if layout in TWO_CHANNEL_LAYOUTS else 1
        info["no_attribute_types"] = [mt for mt in machines if mt in NO_ATTRIBUTE_TYPES[layout]]
        if layout in SUPPLEMENTAL_LAYOUTS:
            info["supplemental_content"] = {mt: SUPPLEMENTAL_CONTENT[mt] for mt in machines}
    return info


def _progress(it: Iterable, total: int, show: bool, desc: str) -> Iterable:
    if not show:
        return it
    from tqdm.auto import tqdm
    return tqdm(it, total=total, desc=f"synth {desc}", unit="clip")


def _move_into_place(tmp: Path, out: Path, overwrite: bool) -> None:
    """Atomically rename the finished tree onto ``out`` (an old tree is moved aside first)."""
    if out.exists():
        if _is_nonempty_dir(out) and not overwrite:
            raise FileExistsError(f"output folder {out} appeared while generating and is not empty")
    replace_tree(tmp, out)


def _write_attribute_csvs(root: Path, manifest: pd.DataFrame, hidden: Sequence[str] = ()) -> None:
    """``<type>/attributes_XX.csv`` per section: file_name + d1p, d1v, d2p, d2v, ... (as DCASE 2022).

    Args:
        root: the data set's root.
        manifest: its manifest (supplemental clips are left out of the tables).
        hidden: ``noAttribute`` types, whose tables hold the ``file_name`` column only.
    """
    clips = manifest[manifest.split != SUPPLEMENTAL]
    for (mt, unit), g in clips.groupby(["machine_type", "unit"], sort=True):
        rows = []
        for path, attrs in zip(g.path, g.attributes):
            parts = attrs.split("_") if attrs and mt not in hidden else []
            row: dict[str, str] = {"file_name": path}
            for j in range(0, len(parts), 2):
                row[f"d{j // 2 + 1}p"] = parts[j]
                row[f"d{j // 2 + 1}v"] = parts[j + 1]
            rows.append(row)
        pd.DataFrame(rows).to_csv(root / mt / f"attributes_{unit.split('_')[1]}.csv", index=False)


# --------------------------------------------------------------------------- cache helpers
def default_root(layout: str, scale: str = "book", seed: int = 0) -> Path:
    """The cache folder of a synthetic set.

    Args:
        layout: one of :data:`asdlib.dcase.LAYOUTS`.
        scale: a scale name.
        seed: the data set's seed.

    Returns:
        root: ``$ASD_CACHE/synth/<layout>-<scale>-<counts hash>-seed<seed>-v<GENERATOR_VERSION>``;
            the hash covers the scale's clip counts, so a changed scale never reuses another's set.
    """
    import hashlib

    _check_layout(layout)
    spec = _resolve_scale(scale)
    from .settings import cache_dir

    counts = hashlib.sha1(repr(spec).encode()).hexdigest()[:8]
    return cache_dir() / "synth" / f"{layout}-{scale}-{counts}-seed{seed}-v{GENERATOR_VERSION}"


def ensure(layout: str, scale: str = "book", seed: int = 0, workers: int | None = None,
           progress: bool = False) -> Path:
    """The cached synthetic set, generated on first use (safe across processes). Explained in chapter 1.

    A set is complete when its ``SYNTH_INFO.json`` exists (written last; the tree is renamed into
    place atomically).

    Args:
        layout: one of :data:`asdlib.dcase.LAYOUTS`.
        scale: a scale name.
        seed: the data set's seed.
        workers: worker processes for :func:`generate`.
        progress: show a progress bar.

    Returns:
        root: the set's folder (:func:`default_root`).
    """
    root = default_root(layout, scale, seed)
    if (root / "SYNTH_INFO.json").exists():
        return root
    root.parent.mkdir(parents=True, exist_ok=True)
    with locked(root.parent / f".{root.name}.lock", what=f"the synthetic set {root.name}"):
        if not (root / "SYNTH_INFO.json").exists():
            generate(root, layout=layout, scale=scale, seed=seed, workers=workers, progress=progress,
                     overwrite=True)
    return root


def describe() -> pd.DataFrame:
    """Table of the sound model and the anomaly kinds of every machine type (shown in the book)."""
    rows = []
    for mt in SOUND_MODELS:
        layouts = ",".join(lay for lay in LAYOUTS if mt in map(sound_model, SYNTH_TYPES[lay]))
        for kind, meta in ANOMALY_KINDS[mt].items():
            lo, hi = _severity_range(mt, kind)
            unit = "relative speed" if kind in ("speed_change", "belt_slip") else "dB re machine"
            rows.append({"machine_type": mt, "layouts": layouts, "sound_model": SOUND_MODELS[mt],
                         "anomaly_kind": kind, "band": meta["band"], "band_hz": meta["band_hz"],
                         "mechanism": meta["mechanism"], "severity_range": f"{lo:g} to {hi:g} ({unit})"})
    return pd.DataFrame(rows)
