"""Plots for every chapter: spectrograms, "look and listen", ROC, training curves, embeddings.

Used in all chapters; the "look and listen" habit (:func:`show`) is introduced in chapter 1,
`book/01_listening.ipynb`, the ROC / pAUC picture in chapter 3,
`book/03_features_and_metrics.ipynb`, training curves in chapter 4,
`book/04_autoencoder_baseline.ipynb`, embedding maps in chapter 6,
`book/06_contrastive.ipynb`, and bars with error bars, paired differences and learning curves
(intervals from :mod:`asdlib.stats`) in chapters 7-9.

The module never selects a matplotlib backend: it draws with whatever backend the notebook
(inline) or the test run (Agg) gives. The log-mel front end comes from
:mod:`asdlib.features` (the DCASE defaults of ``ARCHITECTURE.md``).
"""

from __future__ import annotations

import html
import math
import textwrap
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import NullLocator

if TYPE_CHECKING:
    from .features import FrontEndConfig

__all__ = [
    "specshow",
    "show",
    "show_logmels",
    "players_html",
    "legible_font_size",
    "play",
    "plot_band_difference",
    "plot_roc",
    "plot_training_curve",
    "plot_grouped_bars",
    "plot_differences",
    "plot_learning_curve",
    "plot_embeddings",
    "log_hz_axis",
    "panel_grid",
    "outer_labels",
    "ShownFigure",
    "MIN_FONT_PT",
    "BOOK_COLUMN_IN",
]

#: Frequencies (Hz) that may label a spectrogram's frequency axis (only those up to sr / 2).
FREQ_TICKS_HZ = (0, 500, 1000, 2000, 4000, 8000, 16000, 22050)
#: Width (inches at the book's 80 dpi) of the book's text column at a 1280 px window (about
#: 690 px, measured in tests/test_browser.py's screenshots): a wider figure is shrunk to it, and
#: its text with it.
BOOK_COLUMN_IN = 8.5
#: Smallest font size (points, after that shrinking) of any text in a figure of this module.
MIN_FONT_PT = 10.0
#: Width (inches) a panel title of a look-and-listen row may take before it is wrapped (about a
#: panel of a 3-up row without its frequency labels).
PANEL_TITLE_IN = 3.6
#: Colours of the machine IDs in an embedding map (never used for normal / anomaly).
ID_COLOURS = ("#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#17becf")
#: Colours and markers of normal and anomalous clips in an embedding map (not ID colours).
ROLE_STYLES = {"anomaly": ("black", "x"), "normal": ("0.55", "o")}



def _front_end(config: Any = None, sr: int | None = None) -> FrontEndConfig:
    """The front end to analyse with: ``config`` itself (a :class:`~asdlib.features.FrontEndConfig`),
    the one front end of a :class:`~asdlib.methods.MethodConfig` (its ``frontend``), or the DCASE
    defaults at ``sr`` for ``None``."""
    from .features import FrontEndConfig

    if config is None:
        return FrontEndConfig(sr=int(sr or FrontEndConfig.sr))
    if isinstance(config, FrontEndConfig):
        return config
    if isinstance(getattr(config, "frontend", None), FrontEndConfig):
        return config.frontend
    raise TypeError(f"config: expected a FrontEndConfig or a MethodConfig, got {type(config).__name__}")


def _check_wave(wave: Any, name: str) -> np.ndarray:
    """Return ``wave`` as a 1-D float32 array, or raise naming ``name``."""
    arr = np.asarray(wave, dtype=np.float32)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name}: expected a non-empty 1-D waveform, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name}: waveform contains NaN or inf")
    return arr


def legible_font_size(fig_width_in: float, base: float = 10.0) -> float:
    """Font size (pt) that stays at least :data:`MIN_FONT_PT` after the book shrinks a figure
    of ``fig_width_in`` inches to its :data:`BOOK_COLUMN_IN`-inch column (``base`` when it fits)."""
    shrink = min(1.0, BOOK_COLUMN_IN / float(fig_width_in))
    return float(max(base, math.ceil(MIN_FONT_PT / shrink - 1e-9)))


def _new_ax(ax: Axes | None, figsize: tuple[float, float] = (6.0, 4.0)) -> tuple[Figure, Axes]:
    """Return (figure, axes): the given axes and its figure, or a fresh pair."""
    if ax is not None:
        return ax.figure, ax
    fig, new = plt.subplots(figsize=figsize, layout="constrained")
    return fig, new


def _hz_ticks_up_to(ax: Axes, fmin: float, fmax: float) -> None:
    """Round-number frequency ticks between ``fmin`` and ``fmax`` (the top band edge, at most sr/2).

    librosa's mel axis puts ticks at powers of two and its top bin edge can lie above ``fmax``,
    which showed a tick at 8192 Hz on a 16 kHz (Nyquist 8 kHz) spectrogram; the axis now ends
    at ``fmax`` and every tick is a frequency the spectrogram contains.
    """
    ticks = [t for t in FREQ_TICKS_HZ if fmin <= t <= fmax]
    if not ticks or fmax - ticks[-1] > 0.25 * fmax:
        ticks.append(fmax)
    ax.set_ylim(max(ax.get_ylim()[0], 0.0), fmax)
    ax.set_yticks(ticks, [f"{t / 1000:g}k" if t >= 1000 else f"{t:g}" for t in ticks])
    ax.yaxis.set_minor_locator(NullLocator())


def log_hz_axis(ax: Axes, ticks: Sequence[float] = (100, 1000, 2000, 8000), labels: Sequence[str] | None = None,
                xlim: tuple[float, float] | None = None, rotation: float | None = None) -> None:
    """A logarithmic frequency x axis with a few round ticks and no minor ticks.

    Args:
        ax: the axes.
        ticks: tick positions (Hz).
        labels: tick labels (default: ``"100"``, ``"500"``, ``"2k"``: kHz from 1000 Hz on).
        xlim: the axis limits (Hz); ``None`` leaves them.
        rotation: tick label rotation (degrees); ``None`` leaves it.
    """
    ticks = list(ticks)
    if labels is None:
        labels = [f"{t / 1000:g}k" if t >= 1000 else f"{t:g}" for t in ticks]
    if len(labels) != len(ticks):
        raise ValueError(f"labels: expected {len(ticks)} labels (one per tick), got {len(labels)}")
    ax.set_xscale("log")
    if xlim is not None:
        ax.set_xlim(*xlim)
    kw = {} if rotation is None else {"rotation": rotation}
    ax.set_xticks(ticks, list(labels), **kw)
    ax.minorticks_off()


def panel_grid(n: int, ncols: int = 3, width: float = 12.0, height: float = 7.0,
               sharex: bool = True) -> tuple[Figure, np.ndarray]:
    """A grid of ``n`` panels (e.g. one per machine type), the unused ones hidden.

    Args:
        n: number of panels.
        ncols: panels per row.
        width, height: figure size (inches).
        sharex: share the x axis between panels.

    Returns:
        The figure and its axes as a 2-D array ``[rows, ncols]``.
    """
    if n < 1 or ncols < 1:
        raise ValueError(f"n and ncols: expected at least 1, got n={n}, ncols={ncols}")
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(width, height), sharex=sharex, squeeze=False,
                             layout="constrained")
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    return fig, axes


def outer_labels(axes: np.ndarray) -> None:
    """Keep the axis labels of the left column and the bottom row only (tick labels stay).

    Args:
        axes: a 2-D array of axes, e.g. from :func:`panel_grid`.
    """
    axes = np.asarray(axes)
    if axes.ndim != 2:
        raise ValueError(f"axes: expected a 2-D array of axes, got {axes.ndim} dimension(s)")
    for (r, c), ax in np.ndenumerate(axes):
        if c:
            ax.set_ylabel("")
        if r < axes.shape[0] - 1:
            ax.set_xlabel("")


def specshow(
    logmel: np.ndarray,
    config: Any = None,
    ax: Axes | None = None,
    title: str | None = None,
    vmin: float | None = None,
    vmax: float | None = None,
    colorbar: bool = True,
) -> Figure:
    """Draw a log-mel spectrogram [M, T]: time in s, frequency in Hz on a mel axis, dB colour bar.

    ``config`` (e.g. ``asdlib.features.FrontEndConfig``) supplies sample rate, hop and band
    edges; without it the DCASE defaults (16 kHz, hop 512) are assumed. ``colorbar=False``
    leaves the colour bar out (panels that share one colour scale share one bar).
    """
    import librosa.display

    spec = np.asarray(logmel, dtype=np.float32)
    if spec.ndim != 2 or min(spec.shape) == 0:
        raise ValueError(f"logmel: expected a non-empty [M, T] array, got shape {spec.shape}")
    if not np.all(np.isfinite(spec)):
        raise ValueError("logmel: contains NaN or inf")
    fe = _front_end(config)
    fig, ax = _new_ax(ax)
    img = librosa.display.specshow(
        spec, sr=fe.sr, hop_length=fe.hop_length, n_fft=fe.n_fft, x_axis="time", y_axis="mel",
        fmin=fe.fmin, fmax=fe.f_max, ax=ax,
        vmin=vmin, vmax=vmax, cmap="magma",
    )
    _hz_ticks_up_to(ax, fe.fmin, fe.f_max)
    ax.set_xlabel("Time (s)")
    ax.set_ylabel("Frequency (Hz, mel scale)")
    if title:
        ax.set_title(title)
    if colorbar:
        cbar = fig.colorbar(img, ax=ax, format="%+.0f")
        cbar.set_label("Level (dB)")
    return fig


def play(wave: np.ndarray, sr: int = 16000, seconds: float | None = 4.0) -> Any:
    """Return an ``IPython.display.Audio`` player of the first ``seconds`` of ``wave`` (normalised)."""
    try:
        from IPython.display import Audio
    except ImportError as err:  # pragma: no cover - IPython ships with the book extra
        raise ImportError("play() needs IPython: pip install 'asdlib[book]'") from err
    arr = _check_wave(wave, "wave")
    if sr <= 0:
        raise ValueError(f"sr: must be positive, got {sr}")
    if seconds is not None:
        if seconds <= 0:
            raise ValueError(f"seconds: must be positive or None, got {seconds}")
        arr = arr[: max(1, int(round(seconds * sr)))]
    silent = not np.any(arr)
    return Audio(arr, rate=sr, normalize=not silent)


def show(
    items: Mapping[str, np.ndarray],
    sr: int = 16000,
    config: Any = None,
    seconds: float | None = 4.0,
) -> Figure:
    """Look and listen: spectrograms side by side, each with an audio player below it.

    Draws the log-mel of the first ``seconds`` of each wave in one row of panels (shared
    colour scale, three panels a row), displays the figure, then a row of titled players in
    the same order (:func:`players_html`, wrapping on narrow pages). The figure is closed after
    display and returned as a :class:`ShownFigure`, which IPython does not display again: a
    cell may end with ``show(...)``.
    """
    if not isinstance(items, Mapping) or len(items) == 0:
        raise ValueError("items: expected a non-empty dict of title -> waveform")
    fe = _front_end(config, sr)
    if config is not None and fe.sr != sr:
        raise ValueError(f"sr={sr} disagrees with the config's sample rate {fe.sr}")
    waves = {}
    for title, wave in items.items():
        arr = _check_wave(wave, f"items[{title!r}]")
        waves[str(title)] = arr[: int(round(seconds * sr))] if seconds else arr
    from .features import logmel

    specs = {t: logmel(w, fe) for t, w in waves.items()}
    return _panels_and_players(specs, waves, fe, sr)


def _panels_and_players(specs: Mapping[str, np.ndarray], waves: Mapping[str, np.ndarray], config: FrontEndConfig,
                        sr: int, ncols: int = 3) -> Figure:
    """One row of log-mel panels (shared colour scale) and a table of players aligned with them."""
    from IPython.display import HTML, display

    vmax = max(float(s.max()) for s in specs.values())
    vmin = max(min(float(s.min()) for s in specs.values()), vmax - 80.0)
    ncols = min(len(specs), ncols)
    nrows = -(-len(specs) // ncols)
    width = 4.2 * ncols
    size = legible_font_size(width)
    with plt.rc_context({"font.size": size, "axes.titlesize": "medium"}):
        fig, axes = plt.subplots(
            nrows, ncols, figsize=(width, 3.2 * nrows), squeeze=False, layout="constrained"
        )
        for k, (ax, (title, spec)) in enumerate(zip(axes.flat, specs.items())):
            specshow(spec, config, ax=ax, title=_wrap_title(title, PANEL_TITLE_IN, size),
                     vmin=vmin, vmax=vmax, colorbar=False)
            if k % ncols:
                ax.set_ylabel("")  # the frequency axis is named once per row
        shown = list(axes.flat)[: len(specs)]
        cbar = fig.colorbar(shown[0].collections[0], ax=shown, format="%+.0f", shrink=0.9)
        cbar.set_label("Level (dB)")  # one bar: the panels share one colour scale
    for ax in list(axes.flat)[len(specs):]:
        ax.set_visible(False)
    display(fig)
    plt.close(fig)
    display(HTML(players_html(waves, sr)))
    fig.__class__ = ShownFigure  # already displayed: a cell ending in show(...) must not draw it again
    return fig


def _wrap_title(title: str, width_in: float, size_pt: float) -> str:
    """``title`` broken at spaces into lines that fit ``width_in`` inches at ``size_pt`` points.

    A panel title wider than its panel ran into the neighbouring panel in the book's 3-up
    look-and-listen rows; the estimate takes an average character as 0.6 em wide. The lines are
    kept about equally long (no single word left on a line of its own).
    """
    chars = max(8, int(width_in * 72.0 / (0.6 * size_pt)))
    lines = textwrap.wrap(str(title), width=chars, break_long_words=False, break_on_hyphens=False)
    for width in range(-(-len(str(title)) // max(1, len(lines))), chars):  # lines of similar length
        even = textwrap.wrap(str(title), width=width, break_long_words=False, break_on_hyphens=False)
        if len(even) == len(lines):
            return "\n".join(even)
    return "\n".join(lines)


class ShownFigure(Figure):
    """A figure that :func:`show` has already displayed.

    IPython displays the value of a cell's last expression; for a plain figure that drew every
    look-and-listen figure twice when a cell ended with ``show(...)`` (chapter 5). This class
    tells IPython that there is nothing more to display; ``savefig`` and the axes work as usual.
    """

    def _ipython_display_(self) -> None:
        return None


def players_html(waves: Mapping[str, np.ndarray], sr: int) -> str:
    """Titled audio players that wrap onto the next line instead of overflowing the page.

    A flex row (``div.asd-players``) of boxes 12em wide or wider, each with its title and a
    player as wide as its box; inline styles keep it right in Jupyter and Colab too.
    """
    boxes = []
    for title, wave in waves.items():
        player = play(wave, sr, None)._repr_html_().replace(
            "<audio ", "<audio style='width:100%;max-width:100%' ", 1)
        boxes.append(
            "<div class='asd-player' style='flex:1 1 12em;min-width:0;max-width:100%;text-align:center'>"
            f"<b style='overflow-wrap:anywhere'>{html.escape(str(title))}</b><br>{player}</div>")
    return ("<div class='asd-players' style='display:flex;flex-wrap:wrap;gap:0.5em 1em;max-width:100%'>"
            + "".join(boxes) + "</div>")


def show_logmels(
    items: Mapping[str, tuple[Any, np.ndarray]],
    config: Any = None,
    seconds: float | None = 4.0,
    ncols: int = 3,
) -> Figure:
    """Look and listen when the thing to look at is a log-mel, not audio (chapter 5's views).

    ``items`` maps a title to ``(logmel [M, T] in dB, wave)``: the panel shows the log-mel
    exactly as given (no re-analysis) and the player plays ``wave`` (its rendering, e.g.
    :func:`asdlib.listen.apply_to_audio` or Griffin-Lim).
    """
    if not isinstance(items, Mapping) or len(items) == 0:
        raise ValueError("items: expected a non-empty dict of title -> (logmel, wave)")
    fe = _front_end(config, None)
    specs, waves = {}, {}
    for title, pair in items.items():
        if not (isinstance(pair, tuple) and len(pair) == 2):
            raise ValueError(f"items[{title!r}]: expected a (logmel, wave) pair")
        spec = np.asarray(pair[0].detach().cpu() if hasattr(pair[0], "detach") else pair[0], dtype=np.float32)
        spec = spec.squeeze()
        if spec.ndim != 2:
            raise ValueError(f"items[{title!r}]: the log-mel must be 2-D [M, T] after squeezing, got {spec.shape}")
        wave = _check_wave(pair[1], f"items[{title!r}] wave")
        specs[str(title)] = spec
        waves[str(title)] = wave[: int(round(seconds * fe.sr))] if seconds else wave
    return _panels_and_players(specs, waves, fe, fe.sr, ncols)


def plot_band_difference(
    freqs_hz: np.ndarray,
    mean_diff: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    ax: Axes | None = None,
    label: str | None = None,
    log_freq: bool = False,
) -> Figure:
    """Plot a mean log-mel difference (dB) per band with its confidence band [lower, upper]."""
    arrays = {"freqs_hz": freqs_hz, "mean_diff": mean_diff, "lower": lower, "upper": upper}
    arrs = {k: np.asarray(v, dtype=float).ravel() for k, v in arrays.items()}
    n = arrs["freqs_hz"].size
    for key, arr in arrs.items():
        if arr.size != n or n == 0:
            raise ValueError(f"{key}: expected {n} values (one per band), got {arr.size}")
    if np.any(arrs["lower"] > arrs["upper"]):
        raise ValueError("lower: must not exceed upper in any band")
    fig, ax = _new_ax(ax, (7.0, 3.5))
    line = ax.plot(arrs["freqs_hz"], arrs["mean_diff"], label=label)[0]
    ax.fill_between(arrs["freqs_hz"], arrs["lower"], arrs["upper"], alpha=0.25,
                    color=line.get_color(), linewidth=0)
    ax.axhline(0.0, color="0.4", linewidth=0.8)
    if log_freq:
        ax.set_xscale("log")
    ax.set_xlabel("Frequency (Hz)")
    ax.set_ylabel("Log-mel difference (dB)")
    if label:
        ax.legend()
    return fig


def plot_roc(
    y_true: Sequence[Any] | np.ndarray,
    score: Sequence[float] | np.ndarray,
    max_fpr: float = 0.1,
    ax: Axes | None = None,
) -> Figure:
    """ROC curve (anomaly = positive, higher score = more anomalous), pAUC region shaded."""
    from sklearn.metrics import roc_auc_score, roc_curve

    from .metrics import labels_to_binary

    try:
        y = labels_to_binary(y_true)
    except ValueError as err:
        raise ValueError(f"y_true: {err}") from None
    s = np.asarray(score, dtype=float).ravel()
    if s.size != y.size:
        raise ValueError(f"score: expected {y.size} values to match y_true, got {s.size}")
    if len(np.unique(y)) != 2:
        raise ValueError("y_true: needs both normal (0) and anomalous (1) clips for a ROC curve")
    if not 0.0 < max_fpr <= 1.0:
        raise ValueError(f"max_fpr: must be in (0, 1], got {max_fpr}")
    fpr, tpr, _ = roc_curve(y, s)
    auc = roc_auc_score(y, s)
    pauc = roc_auc_score(y, s, max_fpr=max_fpr) if max_fpr < 1.0 else auc
    fig, ax = _new_ax(ax, (4.5, 4.5))
    ax.plot(fpr, tpr, label=f"AUC {100 * auc:.1f} %, pAUC {100 * pauc:.1f} %")
    grid = np.linspace(0.0, max_fpr, 200)
    ax.fill_between(grid, 0.0, np.interp(grid, fpr, tpr), alpha=0.3,
                    label=f"pAUC region (FPR ≤ {max_fpr:g})")
    ax.plot([0, 1], [0, 1], linestyle="--", color="0.5", linewidth=0.8)
    ax.axvline(max_fpr, color="0.3", linewidth=0.8, linestyle=":")
    ax.set(xlim=(0, 1), ylim=(0, 1.01), xlabel="False positive rate (normal flagged)",
           ylabel="True positive rate (anomaly caught)")
    ax.legend(loc="lower right")
    return fig


def plot_training_curve(
    history: pd.DataFrame | Mapping[str, pd.DataFrame],
    ax: Axes | None = None,
    columns: Sequence[str] | None = None,
    x: str = "epoch",
    by: str | None = None,
    one_based: bool = True,
    logy: bool = False,
    ylabel: str | None = None,
    title: str | None = None,
) -> Figure:
    """Plot training history columns (default: every numeric column but ``x``) against ``x``.

    ``history`` is one run's ``history.csv`` (columns ``epoch, loss, seconds``), several runs
    stacked with a column ``by`` naming the run (e.g. ``machine_type``), or a dict
    ``{run name: history}``: one line per (run, column). ``history.csv`` counts epochs from 0;
    with ``one_based`` the axis counts them from 1 (``x == "epoch"`` only). ``x`` falls back to
    the row index when absent. ``seconds`` is never plotted unless named in ``columns``.
    """
    if isinstance(history, Mapping):
        if not history:
            raise ValueError("history: expected a non-empty dict of run name -> history table")
        by = by or "run"
        history = pd.concat([h.assign(**{by: name}) for name, h in history.items()], ignore_index=True)
    if not isinstance(history, pd.DataFrame) or history.empty:
        raise ValueError("history: expected a non-empty pandas DataFrame")
    if by is not None and by not in history.columns:
        raise ValueError(f"by: no column {by!r} in history (has {list(history.columns)})")
    if columns is None:
        skip = {x, "seconds", by}
        columns = [c for c in history.select_dtypes("number").columns if c not in skip]
    missing = [c for c in columns if c not in history.columns]
    if missing or not columns:
        raise ValueError(f"columns: not in history (has {list(history.columns)}): {missing}")
    fig, ax = _new_ax(ax, (7.0, 3.5))
    groups = [(None, history)] if by is None else list(history.groupby(by, sort=False))
    for name, h in groups:
        xs = h[x] if x in h.columns else pd.Series(np.arange(len(h)), index=h.index)
        if x == "epoch" and x in h.columns and one_based:
            xs = xs + 1
        for col in columns:
            label = str(col) if name is None else (str(name) if len(columns) == 1 else f"{name}: {col}")
            ax.plot(xs, h[col], marker="o" if len(h) < 30 else None, label=label)
    ax.set_xlabel(("epoch" if one_based else "epoch (from 0)") if x == "epoch" and x in history.columns
                  else (x if x in history.columns else "step"))
    ax.set_ylabel(ylabel or ("loss" if all("loss" in str(c) for c in columns) else "value"))
    if logy:
        ax.set_yscale("log")
    if title:
        ax.set_title(title)
    ax.legend(ncol=2 if len(groups) * len(columns) > 4 else 1)
    return fig


def _check_table(table: pd.DataFrame, needed: Sequence[str], name: str = "table") -> pd.DataFrame:
    """``table`` as a DataFrame holding the ``needed`` columns, or a ValueError naming the missing ones."""
    if not isinstance(table, pd.DataFrame) or table.empty:
        raise ValueError(f"{name}: expected a non-empty pandas DataFrame")
    missing = [c for c in needed if c is not None and c not in table.columns]
    if missing:
        raise ValueError(f"{name}: missing column(s) {missing}; has {list(table.columns)}")
    return table


def _interval_bars(ax: Axes, xs: np.ndarray, lo: np.ndarray, hi: np.ndarray, **kw: Any) -> None:
    """Error bars drawn from exactly ``lo`` to ``hi`` (the interval need not be centred on the value)."""
    lo, hi = np.asarray(lo, dtype=float), np.asarray(hi, dtype=float)
    if np.any(lo > hi):
        raise ValueError("lo: an interval's lower bound exceeds its upper bound")
    ax.errorbar(xs, (lo + hi) / 2, yerr=(hi - lo) / 2, fmt="none", capsize=3, **kw)


def _label_groups(ax: Axes, x: np.ndarray, groups: Sequence[Any], group: str, ylabel: str,
                  title: str | None) -> None:
    """Ticks at the groups (tilted when many), axis labels and title of a per-group chart.

    A tilted label ends at its tick (right-aligned, rotated about that end): centred tilted labels
    ran into each other ("ToyConveyor" into "all" in chapter 7).
    """
    if len(groups) > 4:
        ax.set_xticks(x, [str(g) for g in groups], rotation=30, ha="right", rotation_mode="anchor")
    else:
        ax.set_xticks(x, [str(g) for g in groups])
    ax.set_xlabel(group.replace("_", " "))
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)


def plot_grouped_bars(
    table: pd.DataFrame,
    value: str = "estimate",
    lo: str | None = "lo",
    hi: str | None = "hi",
    group: str = "machine_type",
    hue: str = "method",
    ax: Axes | None = None,
    order: Sequence[Any] | None = None,
    hue_order: Sequence[Any] | None = None,
    scale: float = 1.0,
    reference: float | None = None,
    ylabel: str | None = None,
    title: str | None = None,
) -> Figure:
    """Grouped bars with error bars from a long table (one row per ``group`` x ``hue``).

    E.g. the ``unit == "mean"`` rows of :meth:`asdlib.stats.Bootstrap.intervals`: one group of
    bars per machine type, one bar per method, each with its interval ``[lo, hi]``. Values are
    multiplied by ``scale`` (100: fractions -> %); ``reference`` draws a dashed line (e.g. 50 for
    chance, 0 for differences).
    ``lo=None`` / ``hi=None`` draws bars without error bars.
    """
    _check_table(table, [value, lo, hi, group, hue])
    if (lo is None) != (hi is None):
        raise ValueError("lo, hi: give both interval columns or neither")
    dup = table.duplicated([group, hue])
    if dup.any():
        raise ValueError(f"table: {int(dup.sum())} duplicate ({group}, {hue}) row(s); filter to one metric first")
    groups = list(order) if order is not None else list(dict.fromkeys(table[group]))
    hues = list(hue_order) if hue_order is not None else list(dict.fromkeys(table[hue]))
    fig, ax = _new_ax(ax, (max(6.0, 0.35 * len(groups) * len(hues) + 2), 3.8))
    width = 0.8 / len(hues)
    x = np.arange(len(groups))
    for i, h in enumerate(hues):
        sub = table[table[hue] == h].set_index(group).reindex(groups)
        xs = x + (i - (len(hues) - 1) / 2) * width
        ax.bar(xs, sub[value].to_numpy(dtype=float) * scale, width, label=str(h))
        if lo is not None:
            ok = sub[lo].notna().to_numpy()
            _interval_bars(ax, xs[ok], sub[lo].to_numpy(dtype=float)[ok] * scale,
                           sub[hi].to_numpy(dtype=float)[ok] * scale, color="0.15", linewidth=1)
    if reference is not None:
        ax.axhline(reference, color="k", lw=0.8, ls="--")
    _label_groups(ax, x, groups, group, ylabel or value, title)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1))
    return fig


def plot_differences(
    table: pd.DataFrame,
    estimate: str = "estimate",
    lo: str = "lo",
    hi: str = "hi",
    group: str = "machine_type",
    ax: Axes | None = None,
    order: Sequence[Any] | None = None,
    scale: float = 1.0,
    ylabel: str | None = None,
    title: str | None = None,
) -> Figure:
    """Paired differences A - B: a point and its interval per ``group``, and a line at zero.

    E.g. the ``unit == "mean"`` rows of :meth:`asdlib.stats.Bootstrap.difference`. A filled
    marker means :func:`asdlib.stats.verdict` resolves the direction (the interval excludes
    zero), an open marker that it does not.
    """
    from .stats import verdict

    _check_table(table, [estimate, lo, hi, group])
    dup = table.duplicated([group])
    if dup.any():
        raise ValueError(f"table: {int(dup.sum())} duplicate {group!r} row(s); filter to one metric first")
    groups = list(order) if order is not None else list(dict.fromkeys(table[group]))
    sub = table.set_index(group).reindex(groups)
    est = sub[estimate].to_numpy(dtype=float) * scale
    los, his = sub[lo].to_numpy(dtype=float) * scale, sub[hi].to_numpy(dtype=float) * scale
    fig, ax = _new_ax(ax, (max(5.0, 0.7 * len(groups) + 2), 3.5))
    x = np.arange(len(groups))
    ax.axhline(0.0, color="k", lw=0.8)
    _interval_bars(ax, x, los, his, color="tab:blue", linewidth=1.2)
    resolved = np.array([verdict(a, b) != "not resolved" for a, b in zip(los, his)], dtype=bool)
    ax.scatter(x[resolved], est[resolved], color="tab:blue", zorder=3, label="interval excludes 0")
    ax.scatter(x[~resolved], est[~resolved], facecolors="white", edgecolors="tab:blue", zorder=3,
               label="interval includes 0")
    _label_groups(ax, x, groups, group, ylabel or f"difference ({estimate})", title)
    ax.legend()
    return fig


def plot_learning_curve(
    table: pd.DataFrame,
    x: str = "n_train",
    value: str = "estimate",
    lo: str = "lo",
    hi: str = "hi",
    hue: str = "method",
    ax: Axes | None = None,
    scale: float = 1.0,
    logx: bool = True,
    ylabel: str | None = None,
    title: str | None = None,
) -> Figure:
    """One line per ``hue`` of ``value`` against ``x`` with its interval as a shaded band.

    E.g. one metric's rows of :func:`asdlib.stats.learning_curve`; ``logx`` uses a base-2 axis
    with the ``x`` values as ticks.
    """
    _check_table(table, [x, value, lo, hi, hue])
    dup = table.duplicated([hue, x])
    if dup.any():
        raise ValueError(f"table: {int(dup.sum())} duplicate ({hue}, {x}) row(s); filter to one metric first")
    fig, ax = _new_ax(ax, (6.5, 4.0))
    for h, sub in table.groupby(hue, sort=False):
        sub = sub.sort_values(x)
        xs = sub[x].to_numpy(dtype=float)
        line = ax.plot(xs, sub[value].to_numpy(dtype=float) * scale, marker="o", label=str(h))[0]
        ax.fill_between(xs, sub[lo].to_numpy(dtype=float) * scale, sub[hi].to_numpy(dtype=float) * scale,
                        color=line.get_color(), alpha=0.2, linewidth=0)
    if logx:
        ax.set_xscale("log", base=2)
        ticks = sorted(table[x].unique())
        ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
        ax.minorticks_off()
    ax.set_xlabel(x.replace("_", " "))
    ax.set_ylabel(ylabel or value)
    if title:
        ax.set_title(title)
    ax.legend()
    return fig


def _label_style(label: str, index: int) -> tuple[str, str]:
    """(colour, marker) of one label of an embedding map.

    Labels naming a role ("anomaly", "normal", e.g. ``test anomaly``, ``train (normal)``) get
    :data:`ROLE_STYLES` (anomalies black crosses, normal clips grey, training ones lighter);
    any other label (a machine ID) gets the next of :data:`ID_COLOURS`, which contains neither.
    So two panels of the same points, by ID and by role, never use one colour for two meanings.
    """
    low = label.lower()
    if "anomal" in low:
        return ROLE_STYLES["anomaly"]
    if "normal" in low:
        colour, marker = ROLE_STYLES["normal"]
        return ("0.75" if "train" in low else colour), marker
    return ID_COLOURS[index % len(ID_COLOURS)], "o"


def plot_embeddings(
    emb: np.ndarray,
    labels: Sequence[Any] | np.ndarray,
    projection: str = "pca",
    ax: Axes | None = None,
    random_state: int = 0,
) -> Figure:
    """Scatter a 2-D map of embeddings [N, D] (``projection``: ``pca`` or ``tsne``), one colour per label.

    Machine IDs take colours from :data:`ID_COLOURS`; normal / anomaly labels take the greys and
    black crosses of :data:`ROLE_STYLES` (see :func:`_label_style`).
    """
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    x = np.asarray(emb, dtype=float)
    lab = np.asarray(labels)
    if x.ndim != 2 or x.shape[0] < 3 or x.shape[1] < 2:
        raise ValueError(f"emb: expected [N >= 3, D >= 2] embeddings, got shape {x.shape}")
    if lab.shape != (x.shape[0],):
        raise ValueError(f"labels: expected {x.shape[0]} labels, got shape {lab.shape}")
    if projection == "pca":
        xy = PCA(n_components=2, random_state=random_state).fit_transform(x)
        names = ("PC 1", "PC 2")
    elif projection == "tsne":
        perplexity = float(min(30.0, max(1.0, (x.shape[0] - 1) / 3)))
        xy = TSNE(n_components=2, perplexity=perplexity, init="pca",
                  random_state=random_state).fit_transform(x)
        names = ("t-SNE 1", "t-SNE 2")
    else:
        raise ValueError(f"projection: expected 'pca' or 'tsne', got {projection!r}")
    fig, ax = _new_ax(ax, (5.0, 4.5))
    for i, value in enumerate(pd.unique(lab)):
        mask = lab == value
        colour, marker = _label_style(str(value), i)
        ax.scatter(xy[mask, 0], xy[mask, 1], s=14 if marker == "o" else 22, alpha=0.8, label=str(value),
                   color=colour, marker=marker)
    ax.set_xlabel(names[0])
    ax.set_ylabel(names[1])
    ax.legend(markerscale=1.5)
    return fig
