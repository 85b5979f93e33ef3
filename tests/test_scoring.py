"""Tests of asdlib.scoring against hand-computed values (chapter 6)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from asdlib import embedding, scoring


# ------------------------------------------------------------------------------------ k-NN
def test_knn_cosine_hand_computed():
    train = np.array([[1.0, 0.0], [0.0, 1.0]])
    sc = scoring.KNNScorer(k=1).fit(train)
    got = sc.score(np.array([[1.0, 1.0], [2.0, 0.0], [3.0, 4.0]]))
    # [1,1]: cos = 1/sqrt(2) to both; [2,0]: parallel to [1,0]; [3,4]: cos 0.8 with [0,1]
    assert got == pytest.approx([1 - 1 / math.sqrt(2), 0.0, 0.2])


def test_knn_k2_averages_the_two_nearest():
    train = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    got = scoring.KNNScorer(k=2).fit(train).score(np.array([[3.0, 4.0], [1.0, 0.0]]))
    # [3,4]: distances 0.2 ([0,1]), 0.4 ([1,0]), 1.6 ([-1,0]) -> mean of two smallest 0.3
    # [1,0]: distances 0, 1, 2 -> 0.5
    assert got == pytest.approx([0.3, 0.5])


def test_knn_euclidean_metric():
    got = scoring.KNNScorer(k=1, metric="euclidean").fit([[0.0, 0.0], [10.0, 0.0]]).score([[3.0, 4.0]])
    assert got == pytest.approx([5.0])


def test_scores_use_only_the_own_units_memory():
    train = np.array([[1.0, 0.0], [0.0, 1.0]])
    sc = scoring.KNNScorer(k=1).fit(train, units=["id_00", "id_02"])
    test = np.array([[0.0, 1.0], [0.0, 1.0], [1.0, 0.0]])
    # the same point [0,1] is far from id_00's memory and on id_02's memory
    assert sc.score(test, units=["id_00", "id_02", "id_00"]) == pytest.approx([1.0, 0.0, 0.0])
    # a global memory holds both points
    glob = scoring.KNNScorer(k=1).fit(train)
    assert glob.score(test) == pytest.approx([0.0, 0.0, 0.0])
    assert glob.score(test, units=["x", "y", "z"]) == pytest.approx([0.0, 0.0, 0.0])


def test_unknown_test_unit_is_named():
    sc = scoring.KNNScorer().fit([[1.0, 0.0], [0.0, 1.0]], units=["section_00", "section_00"])
    with pytest.raises(ValueError, match="section_01.*no training memory"):
        sc.score([[1.0, 0.0]], units=["section_01"])
    with pytest.raises(ValueError, match="pass the test clips' units"):
        sc.score([[1.0, 0.0]])


def test_input_errors():
    with pytest.raises(ValueError, match="k must be"):
        scoring.KNNScorer(k=0)
    with pytest.raises(ValueError, match="id_00.*1 training embedding.*at least 2"):
        scoring.KNNScorer(k=2).fit([[1.0, 0.0], [0.0, 1.0]], units=["id_00", "id_02"])
    with pytest.raises(ValueError, match="units: expected 2"):
        scoring.KNNScorer().fit([[1.0, 0.0], [0.0, 1.0]], units=["id_00"])
    with pytest.raises(ValueError, match=r"emb: expected a non-empty \[N, D\]"):
        scoring.KNNScorer().fit([1.0, 2.0])
    with pytest.raises(ValueError, match="non-finite"):
        scoring.KNNScorer().fit([[1.0, np.nan]])
    with pytest.raises(RuntimeError, match="fit"):
        scoring.KNNScorer().score([[1.0, 0.0]])
    with pytest.raises(ValueError, match="dimension"):
        scoring.KNNScorer().fit([[1.0, 0.0]]).score([[1.0, 0.0, 0.0]])


# ----------------------------------------------------------------------------- Mahalanobis
@pytest.mark.parametrize("shrinkage", [False, True])
def test_mahalanobis_identity_covariance(shrinkage):
    # corners of a square: mean 0, covariance I (Ledoit-Wolf shrinks towards I: unchanged)
    train = np.array([[1.0, 1.0], [1.0, -1.0], [-1.0, 1.0], [-1.0, -1.0]])
    got = scoring.MahalanobisScorer(shrinkage=shrinkage).fit(train).score([[3.0, 4.0], [0.0, 0.0]])
    assert got == pytest.approx([5.0, 0.0])


def test_mahalanobis_scaled_axes():
    train = np.array([[2.0, 1.0], [2.0, -1.0], [-2.0, 1.0], [-2.0, -1.0]]) + [10.0, 0.0]
    # mean (10, 0), covariance diag(4, 1): (12, 1) -> sqrt((2/2)^2 + 1^2) = sqrt(2)
    got = scoring.MahalanobisScorer(shrinkage=False).fit(train).score([[12.0, 1.0]])
    assert got == pytest.approx([math.sqrt(2)])


# ------------------------------------------------------------------------------------ GMM
def test_gmm_one_component_matches_gaussian_nll():
    train = np.array([[1.0, 1.0], [1.0, -1.0], [-1.0, 1.0], [-1.0, -1.0]])
    sc = scoring.GMMScorer(n_components=1, covariance_type="diag").fit(train)
    got = sc.score([[3.0, 4.0]])
    var = 1.0 + 1e-6  # sklearn's reg_covar
    nll = 0.5 * (2 * math.log(2 * math.pi) + 2 * math.log(var) + 25.0 / var)
    assert got == pytest.approx([nll], rel=1e-6)


def test_gmm_far_points_score_higher_per_unit():
    rng = np.random.default_rng(0)
    a = rng.normal(0.0, 1.0, size=(200, 4))
    b = rng.normal(20.0, 1.0, size=(200, 4))
    sc = scoring.GMMScorer(n_components=2, seed=0).fit(np.vstack([a, b]), units=["a"] * 200 + ["b"] * 200)
    near_a, far = np.zeros((1, 4)), np.full((1, 4), 20.0)
    s = sc.score(np.vstack([near_a, far, far]), units=["a", "a", "b"])
    assert s[1] > s[0] + 100  # a point at b's centre is far from a's memory
    assert s[2] < s[1]
    again = scoring.GMMScorer(n_components=2, seed=0).fit(np.vstack([a, b]), units=["a"] * 200 + ["b"] * 200)
    assert np.array_equal(again.score(np.vstack([near_a, far, far]), units=["a", "a", "b"]), s)


def test_make_scorer():
    sc = scoring.make_scorer("knn", k=3, metric="euclidean")
    assert isinstance(sc, scoring.KNNScorer) and sc.k == 3 and sc.metric == "euclidean"
    assert isinstance(scoring.make_scorer("Mahalanobis"), scoring.MahalanobisScorer)
    assert isinstance(scoring.make_scorer("gmm", n_components=1), scoring.GMMScorer)
    with pytest.raises(ValueError, match=r"unknown scorer 'lof'.*\['gmm', 'knn', 'knn-auto', 'knn-domain', 'knn-rescale', "
                                         r"'knn-smote', 'knn-zscore', 'mahalanobis'\]"):
        scoring.make_scorer("lof")
    dom = scoring.make_scorer("knn-domain", k=2)
    assert isinstance(dom, scoring.DomainKNNScorer) and (dom.k, dom.k_target) == (2, 2)
    assert not dom.standardize and dom.smote_ratio == 0
    assert scoring.make_scorer("knn-smote").smote_ratio == 1.0
    assert scoring.make_scorer("knn-smote", smote_ratio=0.5).smote_ratio == 0.5
    z = scoring.make_scorer("knn-zscore", k_target=1, k=3)
    assert z.standardize and (z.k, z.k_target) == (3, 1)
    assert set(scoring.DOMAIN_SCORERS) <= set(scoring.SCORERS)


# ------------------------------------------------------------- domain shift (chapter 8)
def test_fit_accepts_training_domains_and_old_calls_still_work():
    train = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    test = np.array([[3.0, 4.0]])
    old = scoring.KNNScorer(k=1).fit(train, ["id_00"] * 3).score(test, ["id_00"])
    new = scoring.KNNScorer(k=1).fit(train, ["id_00"] * 3, ["source", "target", "source"]).score(test, ["id_00"])
    assert new == pytest.approx(old)
    with pytest.raises(ValueError, match="domains: expected 3"):
        scoring.KNNScorer().fit(train, None, ["source"])
    with pytest.raises(ValueError, match=r"domains: expected 'source' or 'target'.*'sorce'.*row\(s\) \[1\]"):
        scoring.KNNScorer().fit(train, None, ["source", "sorce", "target"])
    with pytest.raises(ValueError, match=r"needs the training clips' domains: fit\(emb, units, domains\)"):
        scoring.make_scorer("knn-domain").fit(train, ["id_00"] * 3)


# source memory: 3 clips near the x axis; target memory: 2 clips near the y axis (cosine distances)
_SRC = np.array([[1.0, 0.0], [1.0, 0.1], [1.0, -0.1]])
_TGT = np.array([[0.1, 1.0], [-0.1, 1.0]])
_EMB = np.vstack([_SRC, _TGT])
_DOM = ["source"] * 3 + ["target"] * 2


def test_separate_memories_target_normal_gets_a_low_score():
    point = np.array([[0.0, 1.0]])  # a target-domain normal clip, between the two target memories
    cos_t = 1.0 / np.hypot(0.1, 1.0)  # cos to [+-0.1, 1]
    sc = scoring.make_scorer("knn-domain", k=3, k_target=2).fit(_EMB, ["section_00"] * 5, _DOM)
    assert sc.score(point, ["section_00"]) == pytest.approx([1 - cos_t])  # mean of the 2 target distances
    # a source-only memory (what a scorer that ignores the 2 target clips sees): far away
    src_only = scoring.KNNScorer(k=3).fit(_SRC).score(point)
    assert src_only[0] > 0.9 and src_only[0] == pytest.approx(np.mean([1.0, 1 - 0.1 / np.hypot(1, 0.1),
                                                                       1 + 0.1 / np.hypot(1, 0.1)]))
    # a pooled 3-NN memory mixes one source clip into the mean
    pooled = scoring.KNNScorer(k=3).fit(_EMB).score(point)[0]
    assert pooled == pytest.approx((2 * (1 - cos_t) + 1 - 0.1 / np.hypot(1, 0.1)) / 3)
    # a source-domain normal clip is scored against the source memory: the smaller distance wins
    assert sc.score([[1.0, 0.0]], ["section_00"])[0] == pytest.approx((0 + 2 * (1 - 1 / np.hypot(1, 0.1))) / 3)


def test_domain_scorer_without_target_clips_is_plain_knn():
    rng = np.random.default_rng(1)
    train, test = rng.normal(size=(20, 4)), rng.normal(size=(7, 4))
    units = ["id_00"] * 10 + ["id_02"] * 10
    test_units = ["id_00"] * 4 + ["id_02"] * 3
    plain = scoring.KNNScorer(k=2).fit(train, units).score(test, test_units)
    dom = scoring.make_scorer("knn-domain", k=2).fit(train, units, ["source"] * 20).score(test, test_units)
    np.testing.assert_allclose(dom, plain, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(scoring.make_scorer("knn-domain", k=2).fit(train, units, ["source"] * 20).train_scores(),
                               scoring.KNNScorer(k=2).fit(train, units).train_scores(), rtol=1e-12, atol=1e-12)


def test_per_domain_standardisation_hand_computed():
    # euclidean on a line: source at 0, 1, 3 -> leave-one-out 1-NN distances 1, 1, 2 (mean 4/3, std sqrt(2)/3)
    # target at 100, 104, 110 -> 4, 4, 6 (mean 14/3, std 2 sqrt(2)/3)
    line = lambda *xs: np.array([[x, 0.0] for x in xs])  # noqa: E731
    emb = np.vstack([line(0, 1, 3), line(100, 104, 110)])
    dom = ["source"] * 3 + ["target"] * 3
    test = line(107, 5)  # a target clip 3 from its memory, a source clip 2 from its memory
    raw = scoring.make_scorer("knn-domain", metric="euclidean").fit(emb, None, dom)
    assert raw.score(test) == pytest.approx([3.0, 2.0])  # raw: the target normal looks MORE anomalous
    z = scoring.make_scorer("knn-zscore", metric="euclidean").fit(emb, None, dom)
    s_src, s_tgt = np.sqrt(2) / 3, 2 * np.sqrt(2) / 3
    assert z.score(test) == pytest.approx([(3 - 14 / 3) / s_tgt, (2 - 4 / 3) / s_src])
    # training clips: exact leave-one-out. Clip i's own distance is its 1-NN distance without
    # itself, and the mean and scale that standardise it come from the other clips of its domain
    # with clip i gone from the memory too. Three clips per domain leave two, whose leave-one-out
    # distances are equal (no spread), so the scale is their mean:
    #   source 0: own 1; {1, 3} -> 2, 2 -> (1 - 2) / 2      source 1: own 1; {0, 3} -> 3, 3 -> (1 - 3) / 3
    #   source 3: own 2; {0, 1} -> 1, 1 -> (2 - 1) / 1      target 100: own 4; {104, 110} -> 6 -> (4 - 6) / 6
    #   target 104: own 4; {100, 110} -> 10 -> (4 - 10) / 10   target 110: own 6; {100, 104} -> 4 -> (6 - 4) / 4
    # (the other domain's memory is 90+ away, so the own domain's z-score is the smaller)
    assert z.train_scores() == pytest.approx([-1 / 2, -2 / 3, 1.0, -1 / 3, -3 / 5, 1 / 2])
    # a domain whose leave-one-out distances have no spread is scaled by their mean
    two = scoring.make_scorer("knn-zscore", metric="euclidean").fit(
        np.vstack([line(0, 1, 3), line(100, 104)]), None, ["source"] * 3 + ["target"] * 2)
    assert two.score(line(106))[0] == pytest.approx((2 - 4) / 4)
    with pytest.raises(ValueError, match=r"unit '<global>'.*leave-one-out.*1 target clip.*at least 2"):
        scoring.make_scorer("knn-zscore", metric="euclidean").fit(
            np.vstack([line(0, 1, 3), line(100)]), None, ["source"] * 3 + ["target"])


def test_zscore_training_scores_equal_refitting_without_the_clip():
    # leave-one-out training scores of knn-zscore: scoring clip i with a scorer fitted on every
    # other training clip (its memory, and its per-domain means and scales) gives the same number
    rng = np.random.default_rng(0)
    x = np.vstack([rng.normal(0, 1, (12, 3)), rng.normal(2, 1.5, (5, 3)), rng.normal(5, 1, (10, 3)),
                   rng.normal(-3, 1, (6, 3))])
    units = np.array(["a"] * 17 + ["b"] * 16)
    dom = np.array(["source"] * 12 + ["target"] * 5 + ["source"] * 10 + ["target"] * 6)
    for k in (1, 2):
        loo = scoring.make_scorer("knn-zscore", k=k).fit(x, units, dom).train_scores()
        for i in range(len(x)):
            rest = np.arange(len(x)) != i
            refit = scoring.make_scorer("knn-zscore", k=k).fit(x[rest], units[rest], dom[rest])
            assert loo[i] == pytest.approx(refit.score(x[i:i + 1], units[i:i + 1])[0], rel=1e-9, abs=1e-12)


def test_zscore_with_smote_leaves_a_clip_and_its_smote_points_out_of_its_constants():
    # brute force: the target constants for clip i come from every other real target clip j,
    # each scored against the target memory without j, i and the SMOTE points made from either
    rng = np.random.default_rng(4)
    x = np.vstack([rng.normal(0, 1, (10, 2)), rng.normal(4, 1, (5, 2))])
    dom = ["source"] * 10 + ["target"] * 5
    sc = scoring.make_scorer("knn-zscore", metric="euclidean", smote_ratio=1.0, k_target=2).fit(x, None, dom)
    mem = sc.models_["<global>"]
    assert len(mem.target) == 10  # 5 real + 5 SMOTE points
    made = lambda c: (mem.parents[:, 0] == c) | (mem.parents[:, 1] == c)  # noqa: E731
    def dist(j, gone):  # mean of the 2 nearest memory points left
        d = np.linalg.norm(mem.target - mem.target[j], axis=1)
        return np.sort(d[~gone])[:2].mean()
    want = []
    for i in range(5):
        others = [dist(j, made(j) | made(i)) for j in range(5) if j != i]
        mean, std = np.mean(others), np.std(others)
        want.append((dist(i, made(i)) - mean) / std)
    far = sc._dist(mem, "source", mem.target[:5])
    mean_s, scale_s = mem.stats["source"]
    want = np.minimum(want, (far - mean_s) / scale_s)
    assert sc.train_scores()[10:] == pytest.approx(want, rel=1e-9)


def test_zscore_training_scores_need_two_clips_besides_each_one():
    # two target clips: each leaves one, whose own leave-one-out distance needs a third clip
    line = lambda *xs: np.array([[x, 0.0] for x in xs])  # noqa: E731
    sc = scoring.make_scorer("knn-zscore", metric="euclidean").fit(
        np.vstack([line(0, 1, 3), line(100, 104)]), None, ["source"] * 3 + ["target"] * 2)
    with pytest.raises(ValueError, match=r"unit '<global>'.*without each clip.*at least k \+ 2 = 3 target clips.*has 2"):
        sc.train_scores()


def test_smote_oversamples_target_clips_of_the_same_unit_only():
    # unit a: target clips at (0, 10) and (2, 10); unit b: target clips at (50, -5) and (50, -9)
    src_a = np.array([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0], [3.0, 0.0]])
    emb = np.vstack([src_a, [[0.0, 10.0], [2.0, 10.0]], src_a + 40, [[50.0, -5.0], [50.0, -9.0]]])
    units = ["a"] * 6 + ["b"] * 6
    dom = (["source"] * 4 + ["target"] * 2) * 2
    sc = scoring.make_scorer("knn-smote", metric="euclidean", smote_ratio=2.0, seed=3).fit(emb, units, dom)
    for unit, lo, hi, fixed, axis in (("a", 0.0, 2.0, 10.0, 0), ("b", -9.0, -5.0, 50.0, 1)):
        mem = sc.models_[unit]
        assert mem.target.shape == (8, 2)  # round(2.0 * 4 source clips) = 8 target points
        synth = mem.target[2:]
        assert np.all(synth[:, 1 - axis] == fixed)  # on the segment between the unit's two target clips
        assert np.all((synth[:, axis] >= lo) & (synth[:, axis] <= hi))
        assert np.ptp(synth[:, axis]) > 0  # really interpolated, not copies
    # the point midway between unit a's target clips is 1 from either real clip; SMOTE points are nearer
    plain = scoring.make_scorer("knn-domain", metric="euclidean").fit(emb, units, dom)
    assert plain.score([[1.0, 10.0]], ["a"])[0] == pytest.approx(1.0)
    assert sc.score([[1.0, 10.0]], ["a"])[0] < 1.0
    # seeded: the same fit gives the same memory; another seed another one
    again = scoring.make_scorer("knn-smote", metric="euclidean", smote_ratio=2.0, seed=3).fit(emb, units, dom)
    other = scoring.make_scorer("knn-smote", metric="euclidean", smote_ratio=2.0, seed=4).fit(emb, units, dom)
    assert np.array_equal(again.models_["a"].target, sc.models_["a"].target)
    assert not np.array_equal(other.models_["a"].target, sc.models_["a"].target)
    # leave-one-out for a target clip drops the SMOTE points made from it: only the other real clip is left
    assert sc.train_scores()[4:6] == pytest.approx([2.0, 2.0])
    with pytest.raises(ValueError, match=r"unit 'a' has 1 target training clip; SMOTE.*at least 2"):
        scoring.make_scorer("knn-smote").fit(emb[:5], ["a"] * 5, dom[:5])


def test_knn_train_scores_leave_one_out():
    sc = scoring.KNNScorer(k=1, metric="euclidean").fit([[0.0, 0.0], [1.0, 0.0], [3.0, 0.0], [3.0, 0.0]])
    assert sc.train_scores() == pytest.approx([1.0, 1.0, 0.0, 0.0])  # duplicates find each other, not themselves
    with pytest.raises(ValueError, match=r"unit 'id_00'.*leave-one-out.*at least 2"):
        scoring.KNNScorer(k=1).fit([[1.0, 0.0], [0.0, 1.0]], ["id_00", "id_02"]).train_scores()
    # Mahalanobis: in-sample (corners of a square: every corner at distance sqrt(2))
    m = scoring.MahalanobisScorer(shrinkage=False).fit([[1.0, 1.0], [1.0, -1.0], [-1.0, 1.0], [-1.0, -1.0]])
    assert m.train_scores() == pytest.approx([np.sqrt(2)] * 4)
    with pytest.raises(RuntimeError, match="fit"):
        scoring.KNNScorer().train_scores()


# -------------------------------------------------------------------------- clip embeddings
class MeanEncoder(nn.Module):
    """Embedding [mean of the window, 1]; records mode and grad state of each call."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[bool, bool, tuple[int, ...]]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls.append((self.training, torch.is_grad_enabled(), tuple(x.shape)))
        m = x.mean(dim=(1, 2, 3))
        return torch.stack([m, torch.ones_like(m)], dim=1)


def _unit(m: float) -> np.ndarray:
    return np.array([m, 1.0]) / math.hypot(m, 1.0)


def test_clip_embeddings_windows_tail_and_average():
    clip = np.tile(np.arange(5, dtype=np.float32), (2, 1))  # [M=2, T=5], value = frame index
    enc = MeanEncoder()
    out = embedding.clip_embeddings(enc, [clip], segment_frames=2, hop_frames=2)
    # windows [0,1], [2,3] from unfold + [3,4] aligned to the end: means 0.5, 2.5, 3.5
    expected = (_unit(0.5) + _unit(2.5) + _unit(3.5)) / 3
    assert out.shape == (1, 2) and out.dtype == np.float32
    assert out[0] == pytest.approx(expected, rel=1e-6)
    assert enc.calls == [(False, False, (3, 1, 2, 2))]  # eval mode, no grad, [B, 1, M, S]
    assert enc.training  # mode restored


def test_clip_embeddings_short_clip_is_repeated():
    clip = torch.tensor([[0.0, 1.0, 2.0]])  # T=3 < 8 -> 0,1,2,0,1,2,0,1: sum 7, mean 7/8
    out = embedding.clip_embeddings(MeanEncoder(), [clip], segment_frames=8, hop_frames=4)
    assert out[0] == pytest.approx(_unit(7 / 8), rel=1e-6)


def test_clip_embeddings_batches_normalize_and_many_clips():
    rng = np.random.default_rng(0)
    feats = [rng.normal(size=(4, t)).astype(np.float32) for t in (40, 64, 100)]
    enc = MeanEncoder()
    big = embedding.clip_embeddings(enc, feats, segment_frames=16, hop_frames=8, batch_size=256)
    small = embedding.clip_embeddings(enc, feats, segment_frames=16, hop_frames=8, batch_size=3)
    assert big.shape == (3, 2)
    np.testing.assert_allclose(big, small, rtol=1e-6)
    const = [np.full((4, 20), 7.0, dtype=np.float32)]
    shifted = embedding.clip_embeddings(enc, const, segment_frames=8, hop_frames=4, normalize=lambda x: x - 10.0)
    assert shifted[0] == pytest.approx(_unit(-3.0), rel=1e-6)


def test_clip_embeddings_errors():
    enc = MeanEncoder()
    with pytest.raises(ValueError, match="empty"):
        embedding.clip_embeddings(enc, [])
    with pytest.raises(ValueError, match=r"features\[1\]"):
        embedding.clip_embeddings(enc, [np.zeros((4, 10)), np.zeros(10)])
    with pytest.raises(ValueError, match="mel bins"):
        embedding.clip_embeddings(enc, [np.zeros((4, 10)), np.zeros((5, 10))], segment_frames=4)

    class Bad(nn.Module):
        def forward(self, x):
            return x

    with pytest.raises(ValueError, match=r"encoder: expected an output of shape \[B, D\]"):
        embedding.clip_embeddings(Bad(), [np.zeros((4, 10))], segment_frames=4)


# ------------------------------------------------------------------- knn-rescale (local density)
def test_knn_rescale_hand_computed():
    # memory 0, 1, 3 on a line, k_ref = 1: c = (1, 1, 2); a clip at 2 is 2, 1, 1 away -> 2, 1, 0.5
    mem = np.array([[0.0], [1.0], [3.0]])
    sc = scoring.make_scorer("knn-rescale", k_ref=1, metric="euclidean").fit(mem, ["a"] * 3, ["source"] * 3)
    assert np.allclose(sc.models_["a"]["c"], [1.0, 1.0, 2.0])
    assert np.allclose(sc.score(np.array([[2.0], [5.0]]), ["a", "a"]), [0.5, 1.0])  # 5: 5, 4, 2 -> 5, 4, 1
    # leave-one-out, by hand: without 0 the memory is {1, 3}: c = (2, 2), clip 0 -> min(1/2, 3/2) = 0.5;
    # without 1: {0, 3}, c = (3, 3), clip 1 -> 1/3; without 3: {0, 1}, c = (1, 1), clip 3 -> 2
    assert np.allclose(sc.train_scores(), [0.5, 1 / 3, 2.0])


def test_knn_rescale_leave_one_out_equals_refitting_without_the_clip():
    rng = np.random.default_rng(4)
    x = np.vstack([rng.normal(0, 0.1, (25, 4)), rng.normal(1, 1.0, (6, 4))])
    units = ["a"] * 31
    for kw in ({}, {"k": 2, "k_ref": 3}):
        loo = scoring.make_scorer("knn-rescale", **kw).fit(x, units).train_scores()
        want = [scoring.make_scorer("knn-rescale", **kw).fit(np.delete(x, i, 0), units[1:]).score(x[i:i + 1], ["a"])[0]
                for i in range(len(x))]
        assert np.allclose(loo, want)
    with pytest.raises(ValueError, match="at least 3"):
        scoring.make_scorer("knn-rescale").fit(x[:2], ["a"] * 2).train_scores()
    with pytest.raises(ValueError, match="k_ref"):
        scoring.make_scorer("knn-rescale", k_ref=0)


def test_knn_rescale_puts_a_sparse_and_a_dense_domain_on_one_scale():
    # the same relative position scores alike in a dense and in a sparse cluster; raw 1-NN does not
    rng = np.random.default_rng(5)
    dense, sparse = rng.normal(0.0, 0.1, (40, 2)), rng.normal(10.0, 1.0, (40, 2))
    mem = np.vstack([dense, sparse])
    q = np.vstack([dense[:5] + 0.05, sparse[:5] + 0.5])
    raw = scoring.make_scorer("knn", metric="euclidean").fit(mem, ["a"] * 80).score(q, ["a"] * 10)
    res = scoring.make_scorer("knn-rescale", metric="euclidean").fit(mem, ["a"] * 80).score(q, ["a"] * 10)
    assert raw[5:].mean() > 5 * raw[:5].mean()
    assert 0.5 < res[5:].mean() / res[:5].mean() < 2.0


# ------------------------------------------------------------------- knn-auto (domain balance)
def _two_domain_unit(rng, centre_t=3.0, n_s=30, n_t=6):
    """A dense source cluster at 0 and a few, spread-out target clips at ``centre_t``."""
    xs = rng.normal(0.0, 0.1, size=(n_s, 2))
    xt = rng.normal(centre_t, 1.0, size=(n_t, 2))
    return np.vstack([xs, xt]), ["source"] * n_s + ["target"] * n_t


def test_knn_auto_picks_the_candidate_whose_training_scores_balance_the_domains():
    rng = np.random.default_rng(0)
    xa, da = _two_domain_unit(rng)
    xb, db = _two_domain_unit(rng, centre_t=-3.0)
    x, d = np.vstack([xa, xb]), da + db
    units = ["a"] * len(xa) + ["b"] * len(xb)
    auto = scoring.make_scorer("knn-auto", metric="euclidean").fit(x, units, d)
    # the imbalance of each candidate, by hand: |AUC(target LOO scores vs source LOO scores) - 0.5| per unit
    from sklearn.metrics import roc_auc_score
    for name in scoring.BalancedDomainScorer.CANDIDATES:
        loo = scoring.make_scorer(name, metric="euclidean").fit(x, units, d).train_scores()
        u, dd = np.array(units), np.array(d)
        want = np.mean([abs(roc_auc_score(dd[u == k] == "target", loo[u == k]) - 0.5) for k in ("a", "b")])
        assert auto.imbalance_[name] == pytest.approx(want)
    # sparse, spread-out target clips have far larger raw leave-one-out distances than the dense
    # source clips: the raw memories tell the domains apart, the per-domain z-scores do not
    assert auto.imbalance_["knn-domain"] > 0.4
    assert auto.choice_ == "knn-zscore"
    test = rng.normal(0.0, 2.0, size=(10, 2))
    tu = ["a"] * 5 + ["b"] * 5
    want = scoring.make_scorer("knn-zscore", metric="euclidean").fit(x, units, d).score(test, tu)
    assert np.allclose(auto.score(test, tu), want)
    assert np.allclose(auto.train_scores(), scoring.make_scorer("knn-zscore", metric="euclidean")
                       .fit(x, units, d).train_scores())


def test_knn_auto_without_target_clips_scores_as_plain_knn():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(20, 3))
    units = ["a"] * 10 + ["b"] * 10
    auto = scoring.make_scorer("knn-auto").fit(x, units, ["source"] * 20)
    assert auto.choice_ == "knn-domain" and auto.imbalance_ == {}
    test = rng.normal(size=(6, 3))
    tu = ["a", "b"] * 3
    assert np.allclose(auto.score(test, tu), scoring.KNNScorer(k=1).fit(x, units).score(test, tu))


def test_knn_auto_needs_the_training_domains():
    with pytest.raises(ValueError, match="domains"):
        scoring.make_scorer("knn-auto").fit(np.ones((4, 2)), ["a"] * 4)
    with pytest.raises(RuntimeError, match="fit"):
        scoring.make_scorer("knn-auto").score(np.ones((1, 2)))


def test_knn_auto_leaves_out_candidates_that_cannot_fit_one_target_clip():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(9, 2))
    auto = scoring.make_scorer("knn-auto").fit(x, ["a"] * 9, ["source"] * 8 + ["target"])
    assert set(auto.skipped_) == {"knn-smote", "knn-zscore"} and "2" in auto.skipped_["knn-smote"]
    assert list(auto.imbalance_) == ["knn-domain", "knn-rescale"]  # knn-rescale needs no second target clip
    assert auto.choice_ == min(auto.imbalance_, key=lambda n: (auto.imbalance_[n], n != "knn-domain"))


def test_scorer_setting_reaches_knn_stats_runs_and_named_scorers_keep_the_method_distance():
    from asdlib import methods

    auto, plain = methods.method_config("knn-stats"), methods.method_config("knn-stats", scorer="knn")
    assert auto.scorer == "knn-auto" and auto.key() != plain.key()  # a cached run of one is not the other's
    assert isinstance(methods.method_for(auto).scorer(), scoring.BalancedDomainScorer)
    named = methods.method_for(auto).scorer("knn-zscore")
    assert isinstance(named, scoring.DomainKNNScorer) and named.metric == "euclidean" and named.standardize
    assert methods.method_for(methods.method_config("contrastive")).scorer("knn").metric == "cosine"
    with pytest.raises(ValueError, match="unknown scorer 'lof'"):
        methods.method_for(auto).scorer("lof")
