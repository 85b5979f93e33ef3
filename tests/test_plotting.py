"""Tests for asdlib.plotting: every function returns a figure with labelled axes."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from asdlib import plotting  # noqa: E402

SR = 16000


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _tone(freq: float, seconds: float = 1.0, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def test_logmel_follows_the_contract_and_matches_librosa() -> None:
    import librosa

    wave = np.random.default_rng(0).uniform(-0.1, 0.1, 10 * SR).astype(np.float32)
    from asdlib.features import logmel

    fe = plotting._front_end(None, SR)  # what show() analyses with when no config is given
    spec = logmel(wave, fe)
    assert spec.shape == (128, 313)  # 10 s clip: 1 + 160000 // 512 frames, 128 mels
    mel = librosa.feature.melspectrogram(y=wave, sr=SR, n_fft=1024, hop_length=512, n_mels=128, power=2.0)
    reference = 10.0 * np.log10(mel + np.finfo(float).eps)
    np.testing.assert_allclose(reference, spec, atol=1e-3)
    silent = logmel(np.zeros(SR, dtype=np.float32), fe)
    assert np.allclose(silent, 10 * np.log10(np.finfo(float).eps), atol=1e-3)


def test_specshow_labels_time_and_frequency_axes() -> None:
    spec = np.random.default_rng(0).normal(-40, 10, size=(128, 313)).astype(np.float32)
    fig = plotting.specshow(spec, title="noise")
    ax, cbar = fig.axes
    assert isinstance(fig, Figure)
    assert ax.get_xlabel() == "Time (s)"
    assert "Hz" in ax.get_ylabel() and "mel" in ax.get_ylabel()
    assert cbar.get_ylabel() == "Level (dB)"
    assert ax.get_title() == "noise"
    assert ax.get_xlim()[1] == pytest.approx(313 * 512 / SR, abs=0.05)  # about 10 s
    assert SR / 2 <= ax.get_ylim()[1] < 1.05 * SR / 2  # mel axis up to Nyquist (bin edge)


def test_specshow_draws_into_a_given_axes_and_rejects_bad_input() -> None:
    fig, ax = plt.subplots()
    assert plotting.specshow(np.zeros((64, 20)), ax=ax) is fig
    with pytest.raises(ValueError, match="logmel"):
        plotting.specshow(np.zeros(10))
    with pytest.raises(ValueError, match="NaN"):
        plotting.specshow(np.full((4, 4), np.nan))


def test_play_trims_to_seconds_and_handles_silence() -> None:
    audio = plotting.play(_tone(440, seconds=2.0), sr=SR, seconds=0.5)
    assert int.from_bytes(audio.data[24:28], "little") == SR  # WAV header sample rate
    assert len(audio.data) == 44 + 2 * 8000  # WAV header + 0.5 s of 16-bit samples
    silent = plotting.play(np.zeros(SR, dtype=np.float32), sr=SR, seconds=None)
    assert len(silent.data) == 44 + 2 * SR
    with pytest.raises(ValueError, match="wave"):
        plotting.play(np.zeros((2, 10)), sr=SR)


def test_show_puts_one_titled_spectrogram_per_item(capsys: pytest.CaptureFixture) -> None:
    items = {"low hum": _tone(200, 5.0), "whine": _tone(3000, 5.0), "quiet": _tone(500, 5.0, 0.01)}
    fig = plotting.show(items, sr=SR, seconds=2.0)
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in panels] == list(items)
    assert all(ax.get_xlabel() == "Time (s)" for ax in panels)
    assert panels[0].get_xlim()[1] == pytest.approx(2.0, abs=0.05)  # only the first 2 s
    assert "HTML" in capsys.readouterr().out  # the players were displayed (plain repr here)
    with pytest.raises(ValueError, match="items"):
        plotting.show({}, sr=SR)
    with pytest.raises(ValueError, match="'bad'"):
        plotting.show({"bad": np.zeros((2, 2))}, sr=SR)


def test_plot_band_difference_plots_mean_and_band() -> None:
    freqs = np.array([100.0, 1000.0, 4000.0])
    mean = np.array([0.0, 1.0, 6.0])
    fig = plotting.plot_band_difference(freqs, mean, mean - 1, mean + 1, label="whine - hum",
                                        log_freq=True)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "Frequency (Hz)" and "dB" in ax.get_ylabel()
    assert ax.get_xscale() == "log"
    np.testing.assert_allclose(ax.lines[0].get_ydata(), mean)
    assert len(ax.collections) == 1  # the confidence band
    with pytest.raises(ValueError, match="upper"):
        plotting.plot_band_difference(freqs, mean, mean - 1, mean[:2])


def test_plot_roc_reports_hand_computed_auc() -> None:
    # pairs (anomaly, normal): 0.35 beats 0.1 but not 0.4; 0.8 beats both -> AUC 3/4
    fig = plotting.plot_roc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    ax = fig.axes[0]
    assert "False positive rate" in ax.get_xlabel() and "True positive rate" in ax.get_ylabel()
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[0].startswith("AUC 75.0 %")
    assert "FPR ≤ 0.1" in labels[1]
    perfect = plotting.plot_roc(["normal", "normal", "anomaly"], [0.0, 0.1, 0.9])
    assert perfect.axes[0].get_legend().get_texts()[0].get_text() == "AUC 100.0 %, pAUC 100.0 %"
    with pytest.raises(ValueError, match="both"):
        plotting.plot_roc([0, 0], [0.1, 0.2])
    # one label parser: metrics.labels_to_binary (bools and 0.0/1.0 too; anything else rejected)
    assert plotting.plot_roc([False, True], [0.1, 0.9]).axes[0].get_legend().get_texts()[0].get_text() \
        .startswith("AUC 100.0 %")
    for bad in (["normal", "broken"], [0, 2], [None, 1]):
        with pytest.raises(ValueError, match="y_true: .*unrecognised label"):
            plotting.plot_roc(bad, [0.1, 0.9])


def test_plot_training_curve_plots_numeric_columns_against_epoch() -> None:
    # history.csv counts epochs from 0; the plot counts them from 1; seconds is not a curve
    history = pd.DataFrame({"epoch": [0, 1, 2], "loss": [1.0, 0.5, 0.25], "seconds": [3.0, 3.1, 2.9],
                            "val_loss": [1.1, 0.7, 0.6], "note": ["a", "b", "c"]})
    fig = plotting.plot_training_curve(history)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "epoch" and ax.get_ylabel() == "loss"
    assert [line.get_label() for line in ax.lines] == ["loss", "val_loss"]
    np.testing.assert_allclose(ax.lines[0].get_xdata(), [1, 2, 3])
    np.testing.assert_allclose(ax.lines[1].get_ydata(), [1.1, 0.7, 0.6])
    zero = plotting.plot_training_curve(history, columns=["loss"], one_based=False).axes[0]
    np.testing.assert_allclose(zero.lines[0].get_xdata(), [0, 1, 2])
    with pytest.raises(ValueError, match="columns"):
        plotting.plot_training_curve(history, columns=["auc"])


def test_plot_training_curve_draws_one_line_per_run() -> None:
    # what chapters 4 and 6 draw: the loss of every machine type's run, log scale
    runs = {"fan": pd.DataFrame({"epoch": [0, 1], "loss": [4.0, 2.0], "seconds": [1.0, 1.0]}),
            "valve": pd.DataFrame({"epoch": [0, 1, 2], "loss": [8.0, 3.0, 1.0], "seconds": [1.0, 1.0, 1.0]})}
    stacked = pd.concat([h.assign(machine_type=k) for k, h in runs.items()], ignore_index=True)
    for hist, by in ((runs, None), (stacked, "machine_type")):
        fig = plotting.plot_training_curve(hist, by=by, logy=True, ylabel="MSE (dB²)", title="AE loss")
        ax = fig.axes[0]
        assert [line.get_label() for line in ax.lines] == ["fan", "valve"]
        np.testing.assert_allclose(ax.lines[1].get_xdata(), [1, 2, 3])
        np.testing.assert_allclose(ax.lines[1].get_ydata(), [8.0, 3.0, 1.0])
        assert ax.get_yscale() == "log" and ax.get_ylabel() == "MSE (dB²)" and ax.get_title() == "AE loss"
    with pytest.raises(ValueError, match="by"):
        plotting.plot_training_curve(stacked, by="method")


def _error_segments(ax) -> list[np.ndarray]:
    """The [x, y] end points of every error bar drawn on ``ax``, container by container."""
    from matplotlib.container import ErrorbarContainer

    out = []
    for c in ax.containers:
        if isinstance(c, ErrorbarContainer):
            out.extend(np.asarray(seg) for seg in c.lines[2][0].get_segments())
    return out


def _interval_long_table() -> pd.DataFrame:
    return pd.DataFrame({
        "machine_type": ["fan", "fan", "valve", "valve", "all", "all"],
        "method": ["ae", "contrastive"] * 3,
        "estimate": [0.60, 0.70, 0.55, 0.52, 0.575, 0.61],
        "lo": [0.50, 0.66, 0.40, 0.50, 0.53, 0.60],   # not centred on the estimate
        "hi": [0.65, 0.80, 0.70, 0.56, 0.60, 0.64],
    })


def test_plot_grouped_bars_error_bars_span_the_interval() -> None:
    table = _interval_long_table()
    fig = plotting.plot_grouped_bars(table, scale=100, reference=50, ylabel="AUC (%)",
                                     hue_order=["contrastive", "ae"])
    ax = fig.axes[0]
    from matplotlib.container import BarContainer

    bars = [c for c in ax.containers if isinstance(c, BarContainer)]
    assert [b.get_label() for b in bars] == ["contrastive", "ae"]
    heights = [[p.get_height() for p in b.patches] for b in bars]
    np.testing.assert_allclose(heights, [[70, 52, 61], [60, 55, 57.5]])
    segs = _error_segments(ax)
    assert len(segs) == 6
    for seg, (_, row) in zip(segs, pd.concat([table[table["method"] == "contrastive"],
                                                   table[table["method"] == "ae"]]).iterrows()):
        assert seg[0, 1] == pytest.approx(100 * row["lo"]) and seg[1, 1] == pytest.approx(100 * row["hi"])
    # each error bar stands on its own bar
    centres = [p.get_x() + p.get_width() / 2 for b in bars for p in b.patches]
    np.testing.assert_allclose([s[0, 0] for s in segs], centres)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["fan", "valve", "all"]
    assert ax.get_ylabel() == "AUC (%)"
    assert any(np.allclose(line.get_ydata(), 50.0) for line in ax.lines)  # the chance line
    with pytest.raises(ValueError, match="missing column"):
        plotting.plot_grouped_bars(table.drop(columns="hi"))
    with pytest.raises(ValueError, match="duplicate"):
        plotting.plot_grouped_bars(pd.concat([table, table]))
    with pytest.raises(ValueError, match="lower bound"):
        plotting.plot_grouped_bars(table.assign(lo=table["hi"] + 0.1))
    plain = plotting.plot_grouped_bars(table, lo=None, hi=None).axes[0]
    assert _error_segments(plain) == []


def test_plot_differences_marks_resolved_intervals_and_zero() -> None:
    diff = pd.DataFrame({"machine_type": ["fan", "valve", "all"], "estimate": [0.05, -0.01, 0.02],
                         "lo": [0.01, -0.04, 0.0], "hi": [0.09, 0.02, 0.04]})
    ax = plotting.plot_differences(diff, scale=100, ylabel="AUC difference (points)").axes[0]
    assert any(np.allclose(line.get_ydata(), 0.0) for line in ax.lines)  # the zero line
    segs = _error_segments(ax)
    np.testing.assert_allclose([s[:, 1] for s in segs], [[1, 9], [-4, 2], [0, 4]])
    filled, hollow = ax.collections[-2], ax.collections[-1]
    np.testing.assert_allclose(filled.get_offsets(), [[0, 5]])       # only fan excludes zero
    np.testing.assert_allclose(hollow.get_offsets(), [[1, -1], [2, 2]])  # lo == 0 is not resolved


def test_plot_learning_curve_band_is_the_interval() -> None:
    lc = pd.DataFrame({"method": ["ae"] * 3 + ["knn"] * 3, "n_train": [16, 64, 256] * 2,
                       "estimate": [0.6, 0.65, 0.7, 0.7, 0.72, 0.73],
                       "lo": [0.55, 0.6, 0.66, 0.65, 0.7, 0.71], "hi": [0.65, 0.7, 0.74, 0.75, 0.74, 0.75]})
    ax = plotting.plot_learning_curve(lc.sample(frac=1, random_state=0), scale=100).axes[0]
    assert sorted(line.get_label() for line in ax.lines) == ["ae", "knn"]
    i = [ln.get_label() for ln in ax.lines].index("ae")
    line = ax.lines[i]
    np.testing.assert_allclose(line.get_xdata(), [16, 64, 256])
    np.testing.assert_allclose(line.get_ydata(), [60, 65, 70])
    verts = np.concatenate([p.vertices for p in ax.collections[i].get_paths()])  # the band of "ae"
    assert verts[:, 1].min() == pytest.approx(55) and verts[:, 1].max() == pytest.approx(74)
    assert ax.get_xscale() == "log"


@pytest.mark.parametrize("projection, xlabel", [("pca", "PC 1"), ("tsne", "t-SNE 1")])
def test_plot_embeddings_separates_two_clusters(projection: str, xlabel: str) -> None:
    rng = np.random.default_rng(0)
    emb = np.vstack([rng.normal(0, 0.1, (15, 8)), rng.normal(5, 0.1, (15, 8))])
    labels = np.array(["id_00"] * 15 + ["id_02"] * 15)
    fig = plotting.plot_embeddings(emb, labels, projection=projection)
    ax = fig.axes[0]
    assert ax.get_xlabel() == xlabel and ax.get_ylabel().endswith("2")
    a, b = (c.get_offsets() for c in ax.collections)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["id_00", "id_02"]
    gap = np.linalg.norm(a.mean(0) - b.mean(0))
    assert gap > 3 * max(a.std(0).max(), b.std(0).max())  # the clusters stay apart
    with pytest.raises(ValueError, match="projection"):
        plotting.plot_embeddings(emb, labels, projection="umap")


def test_show_logmels_draws_given_logmels_with_players(capsys):
    pytest.importorskip("IPython")
    rng = np.random.default_rng(0)
    spec = rng.normal(-40, 5, size=(64, 30)).astype(np.float32)
    wave = (0.1 * rng.standard_normal(16000)).astype(np.float32)
    fig = plotting.show_logmels({"a": (spec, wave), "b": (spec - 10, wave)}, seconds=0.5)
    axes = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in axes] == ["a", "b"]
    assert axes[0].get_xlabel() and axes[0].get_ylabel()
    with pytest.raises(ValueError, match="expected a \\(logmel, wave\\) pair"):
        plotting.show_logmels({"a": spec})


# --- issue 13: figures that render once, legibly, with honest axes -------------------------


def _visible_text_sizes(fig: Figure) -> list[float]:
    """Font sizes of every visible, non-empty text of ``fig`` (titles, labels, tick labels)."""
    fig.canvas.draw()
    return [t.get_fontsize() for t in fig.findobj(matplotlib.text.Text)
            if t.get_visible() and t.get_text().strip() and (t.axes is None or t.axes.get_visible())]


def test_show_returns_a_figure_ipython_does_not_display_twice() -> None:
    from IPython.core.formatters import DisplayFormatter

    fig = plotting.show({"hum": _tone(200, 1.0)}, sr=SR)
    assert isinstance(fig, plotting.ShownFigure) and isinstance(fig, Figure)
    data, _ = DisplayFormatter().format(fig)  # what IPython shows for a cell ending in show(...)
    assert data == {}, f"show()'s figure would be displayed again: {list(data)}"
    plain, _ = DisplayFormatter().format(plt.figure())
    assert plain, "a plain figure is displayed (the check above can fail)"
    spec = np.full((64, 20), -40.0, dtype=np.float32)
    fig2 = plotting.show_logmels({"a": (spec, _tone(300, 1.0))}, seconds=0.5)
    assert DisplayFormatter().format(fig2)[0] == {}


@pytest.mark.parametrize("n_mels", [64, 128])
def test_spectrogram_frequency_ticks_stay_at_or_below_nyquist(n_mels: int) -> None:
    from asdlib.features import FrontEndConfig

    fe = FrontEndConfig(n_mels=n_mels)
    fig = plotting.specshow(np.zeros((n_mels, 40), dtype=np.float32), fe)
    ax = fig.axes[0]
    fig.canvas.draw()
    lo, hi = ax.get_ylim()
    assert hi == pytest.approx(SR / 2)  # the axis ends at the Nyquist frequency, 8 kHz
    ticks = [t for t in ax.get_yticks() if lo <= t <= hi]
    assert max(ticks) == pytest.approx(SR / 2) and all(t <= SR / 2 for t in ticks)  # no 8192 Hz
    assert [lab.get_text() for lab in ax.get_yticklabels()][-1] == "8k"


def test_three_panel_look_and_listen_keeps_text_legible_in_the_book_column() -> None:
    items = {f"clip {i}": _tone(300 * (i + 1), 1.0) for i in range(3)}
    fig = plotting.show(items, sr=SR)
    shrink = min(1.0, plotting.BOOK_COLUMN_IN / fig.get_figwidth())
    assert shrink < 1.0  # three panels are wider than the column: their text is shrunk
    sizes = _visible_text_sizes(fig)
    assert sizes and min(sizes) * shrink >= plotting.MIN_FONT_PT, (min(sizes), shrink)
    assert plotting.legible_font_size(6.0) == 10.0  # a figure that fits keeps the default size
    assert (plotting.BOOK_COLUMN_IN, plotting.MIN_FONT_PT) == (8.5, 10.0)  # the column measured at 1280 px
    assert plotting.legible_font_size(17.0) == 20.0  # shrunk by half: 10 pt needs 20 pt
    assert plotting.legible_font_size(12.6) == 15.0  # three 4.2-in panels: 14.8 pt, rounded up


def test_embedding_maps_use_different_colours_for_ids_and_for_normal_anomaly() -> None:
    from matplotlib.colors import to_hex

    rng = np.random.default_rng(0)
    emb = rng.normal(size=(40, 8))
    ids = np.repeat(["id_00", "id_02", "id_04", "id_06"], 10)
    roles = np.repeat(["train (normal)", "test normal", "test anomaly", "test anomaly"], 10)
    fig, (a, b) = plt.subplots(1, 2)
    plotting.plot_embeddings(emb, ids, ax=a)
    plotting.plot_embeddings(emb, roles, ax=b)
    colours = lambda ax: {to_hex(c.get_facecolor()[0]) for c in ax.collections}  # noqa: E731
    assert len(colours(a)) == 4 and len(colours(b)) == 3
    assert not colours(a) & colours(b), "one colour means a machine ID in one panel and a role in the other"
    anomaly = next(c for c in b.collections if c.get_label() == "test anomaly")
    assert to_hex(anomaly.get_facecolor()[0]) == "#000000"


def test_players_wrap_instead_of_overflowing() -> None:
    pytest.importorskip("IPython")
    page = plotting.players_html({"a <b>": _tone(200, 0.2), "b": _tone(300, 0.2), "c": _tone(400, 0.2)}, SR)
    assert page.startswith("<div class='asd-players' style='display:flex;flex-wrap:wrap")
    assert page.count("<audio style='width:100%;max-width:100%'") == 3
    assert "a &lt;b&gt;" in page and "<table" not in page


def test_front_end_is_read_from_one_place() -> None:
    from asdlib.features import FrontEndConfig
    from asdlib.methods import method_config

    cfg = method_config("ae", n_mels=32)
    assert plotting._front_end(cfg) is cfg.frontend and plotting._front_end(cfg.frontend) is cfg.frontend
    assert plotting._front_end(None, 8000) == FrontEndConfig(sr=8000)
    with pytest.raises(TypeError, match="expected a FrontEndConfig or a MethodConfig, got dict"):
        plotting._front_end({"sr": 16000})


def test_look_and_listen_titles_stay_over_their_own_panel_and_share_one_colour_bar() -> None:
    # chapter 1's titles ran into the neighbouring panel (and its colour bar) at 1280 px (issue 13)
    titles = ["fan id_00: normal", "imbalance (low, 15-400 Hz)", "MIMII valve id06 normal, mic 0",
              "caught anomaly (id_02), scored above every normal clip of its ID"]
    fig = plotting.show({t: _tone(300 * (i + 1), 1.0) for i, t in enumerate(titles)}, sr=SR)
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)  # show() closed the figure: draw it on a canvas of its own
    canvas.draw()
    renderer = canvas.get_renderer()
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title().replace("\n", " ") for ax in panels] == titles  # wrapped at spaces, nothing lost
    assert len(fig.axes) == 6 + 1  # 2 rows of 3 panels (one hidden) and one shared colour bar
    assert [bool(ax.get_ylabel()) for ax in panels] == [True, False, False, True]  # once per row
    for ax in panels:  # wrapped lines of similar length: no word left alone on a line ("mic" / "0")
        lengths = [len(line) for line in ax.get_title().split("\n")]
        assert min(lengths) >= max(lengths) / 2, ax.get_title()
    for ax in panels:
        box = ax.title.get_window_extent(renderer)
        assert box.width <= 1.1 * ax.get_window_extent(renderer).width, ax.get_title()  # was up to 3.5x
        for other in fig.axes:
            if other is not ax and other.get_visible():
                assert not box.overlaps(other.get_tightbbox(renderer)), (ax.get_title(), other.get_title())


def test_every_chart_keeps_its_legend_at_the_minimum_font_size() -> None:
    # legends were drawn "small" (8.3 pt at the book's 10 pt): below MIN_FONT_PT (issue 13)
    history = pd.DataFrame({"epoch": [0, 1, 2], "loss": [3.0, 2.0, 1.5]})
    lc = pd.DataFrame({"method": ["ae"] * 2 + ["knn"] * 2, "n_train": [16, 64] * 2, "estimate": [0.6, 0.7, 0.7, 0.72],
                       "lo": [0.5, 0.6, 0.6, 0.7], "hi": [0.7, 0.8, 0.8, 0.75]})
    diff = pd.DataFrame({"machine_type": ["fan", "all"], "estimate": [0.05, 0.02], "lo": [0.01, -0.01],
                         "hi": [0.09, 0.04]})
    emb = np.random.default_rng(0).normal(size=(12, 4))
    figures = {
        "roc": plotting.plot_roc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]),
        "training curve": plotting.plot_training_curve({"a": history, "b": history}),
        "grouped bars": plotting.plot_grouped_bars(_interval_long_table()),
        "differences": plotting.plot_differences(diff),
        "learning curve": plotting.plot_learning_curve(lc),
        "embeddings": plotting.plot_embeddings(emb, np.repeat(["id_00", "id_02", "test anomaly"], 4)),
    }
    assert plt.rcParams["font.size"] == 10.0  # matplotlib's default and the book's (book.setup)
    for name, fig in figures.items():
        shrink = min(1.0, plotting.BOOK_COLUMN_IN / fig.get_figwidth())
        legend = fig.axes[0].get_legend()
        assert legend is not None, name
        assert min(t.get_fontsize() for t in legend.get_texts()) * shrink >= plotting.MIN_FONT_PT, name


def test_tilted_group_labels_end_at_their_ticks() -> None:
    # centred tilted labels ran into each other ("ToyConveyor" into "all", chapter 7); labels that end
    # at their ticks are parallel lines one tick spacing x sin(30 deg) apart, clear of each other
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    groups = ["fan", "pump", "slider", "valve", "ToyCar", "ToyConveyor", "all"]  # chapter 7's order
    table = pd.DataFrame({"machine_type": groups * 2, "method": ["ae"] * 7 + ["contrastive"] * 7,
                          "estimate": 0.6, "lo": 0.5, "hi": 0.7})
    with plt.rc_context({"font.size": 13.0}):  # chapter 7's enlarged font
        fig, ax = plt.subplots(figsize=(5.5, 4.6), layout="constrained")
        plotting.plot_grouped_bars(table, ax=ax)
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    font_px = 13.0 * fig.dpi / 72
    ticks = [ax.transData.transform((x, 0))[0] for x in ax.get_xticks()]
    assert [t.get_text() for t in ax.get_xticklabels()] == groups
    for label, tick in zip(ax.get_xticklabels(), ticks):
        assert abs(label.get_window_extent(renderer).x1 - tick) <= font_px, label.get_text()
    assert min(np.diff(ticks)) * np.sin(np.radians(30)) >= font_px  # room between the parallel labels
