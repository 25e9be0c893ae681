"""The sample-quality maths (genmodels.evaluation.sample_quality): Fréchet distance against closed forms, its
bootstrap error, k-NN radii and precision/recall on sets small enough to check by hand, active units."""

from __future__ import annotations

import numpy as np
import pytest

from genmodels.evaluation.sample_quality import (
    ActiveUnits,
    Estimate,
    GaussianStatistics,
    PrecisionRecall,
    active_units,
    fid,
    fid_with_error,
    frechet_distance,
    knn_radii,
    manifold_coverage,
    precision_recall,
)


def column(values: list[float]) -> np.ndarray:
    """1-D points as feature rows (N, 1)."""
    return np.asarray(values, dtype=np.float64)[:, None]


def random_spd(rng: np.random.Generator, dim: int) -> np.ndarray:
    factor = rng.standard_normal((dim, dim))
    return factor @ factor.T + 0.1 * np.eye(dim)


def closed_form(mean_a: np.ndarray, cov_a: np.ndarray, mean_b: np.ndarray, cov_b: np.ndarray) -> float:
    """The Fréchet distance of two Gaussians, with SciPy's matrix square root (independent of the module)."""
    import scipy.linalg

    cross = scipy.linalg.sqrtm(cov_a @ cov_b)
    return float(np.sum((mean_a - mean_b) ** 2) + np.trace(cov_a) + np.trace(cov_b) - 2 * np.trace(cross).real)


# --------------------------------------------------------------------------- Gaussian statistics


def test_statistics_are_the_mean_and_the_unbiased_covariance():
    features = np.random.default_rng(0).standard_normal((50, 3))
    stats = GaussianStatistics.of(features)
    np.testing.assert_allclose(stats.mean, features.mean(axis=0))
    np.testing.assert_allclose(stats.covariance, np.cov(features, rowvar=False, ddof=1))
    assert stats.count == 50


def test_statistics_need_two_rows_of_a_two_dimensional_array():
    with pytest.raises(ValueError, match="at least 2 feature rows; received 1"):
        GaussianStatistics.of(np.zeros((1, 3)))
    with pytest.raises(ValueError, match=r"shape \(N, D\)"):
        GaussianStatistics.of(np.zeros(5))


# --------------------------------------------------------------------------- Fréchet distance


def test_a_feature_set_is_at_distance_zero_from_itself():
    features = np.random.default_rng(1).standard_normal((300, 16)) * 3 + 5
    stats = GaussianStatistics.of(features)
    assert abs(frechet_distance(stats, stats)) < 1e-6
    assert abs(fid(features, features)) < 1e-6


def test_frechet_distance_matches_scipy_for_full_covariances():
    rng = np.random.default_rng(2)
    for _ in range(5):
        mean_a, mean_b = rng.standard_normal(5), rng.standard_normal(5)
        cov_a, cov_b = random_spd(rng, 5), random_spd(rng, 5)
        got = frechet_distance(GaussianStatistics(mean_a, cov_a, 10), GaussianStatistics(mean_b, cov_b, 10))
        assert got == pytest.approx(closed_form(mean_a, cov_a, mean_b, cov_b), rel=1e-6)


def test_frechet_distance_of_diagonal_gaussians_is_the_sum_over_dimensions():
    mean_a, mean_b = np.array([0.0, 1.0, -2.0]), np.array([1.0, 1.0, 0.5])
    var_a, var_b = np.array([1.0, 4.0, 0.25]), np.array([9.0, 1.0, 0.25])
    # each dimension: (m1 - m2)^2 + s1 + s2 - 2 sqrt(s1 s2)
    expected = np.sum((mean_a - mean_b) ** 2) + np.sum(var_a + var_b - 2 * np.sqrt(var_a * var_b))
    # = (1 + 0 + 6.25) + (1 + 9 - 6) + (4 + 1 - 4) + (0.25 + 0.25 - 0.5) = 12.25
    assert expected == pytest.approx(12.25)
    a = GaussianStatistics(mean_a, np.diag(var_a), 10)
    b = GaussianStatistics(mean_b, np.diag(var_b), 10)
    assert frechet_distance(a, b) == pytest.approx(12.25, rel=1e-9)


def test_frechet_distance_refuses_statistics_of_different_dimensions():
    a = GaussianStatistics(np.zeros(3), np.eye(3), 10)
    b = GaussianStatistics(np.zeros(4), np.eye(4), 10)
    with pytest.raises(ValueError, match="3 and 4"):
        frechet_distance(a, b)


def test_fid_of_large_samples_approaches_the_distance_of_the_true_gaussians():
    mean_a, mean_b = np.zeros(4), np.array([1.0, 0.5, 0.0, -0.5])
    cov_a = np.diag([1.0, 2.0, 0.5, 1.5])
    factor = np.array([[1, 0.3, 0, 0], [0.3, 1, 0.2, 0], [0, 0.2, 1, 0.1], [0, 0, 0.1, 1]])
    cov_b = factor @ factor.T
    truth = closed_form(mean_a, cov_a, mean_b, cov_b)  # about 2.07
    rng = np.random.default_rng(3)
    real = rng.multivariate_normal(mean_a, cov_a, size=20_000)
    fake = rng.multivariate_normal(mean_b, cov_b, size=20_000)
    # over 200 seeds the error of this estimate had standard deviation 0.028 (bias -0.002): 0.12 is ~4 sigma
    assert fid(real, fake) == pytest.approx(truth, abs=0.12)


def test_fid_is_symmetric():
    rng = np.random.default_rng(4)
    real, fake = rng.standard_normal((400, 6)), rng.standard_normal((300, 6)) * 2 + 1
    assert fid(real, fake) == pytest.approx(fid(fake, real), rel=1e-9)
    assert fid(real, fake) > 1.0


def test_a_shifted_copy_is_at_the_squared_length_of_the_shift():
    features = np.random.default_rng(5).standard_normal((500, 8))
    shift = np.arange(1.0, 9.0)
    assert fid(features, features + shift) == pytest.approx(float(shift @ shift), rel=1e-6)


def test_fid_refuses_sets_of_different_dimensions():
    with pytest.raises(ValueError, match="3 and 4"):
        fid(np.zeros((10, 3)) + np.arange(10)[:, None], np.ones((10, 4)) + np.arange(10)[:, None])


# --------------------------------------------------------------------------- bootstrap error


def two_gaussian_sets(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 8)), rng.standard_normal((n, 8)) * 1.5 + 0.5


def test_fid_with_error_reports_the_fid_and_a_positive_standard_error():
    real, fake = two_gaussian_sets(500, seed=6)
    estimate = fid_with_error(real, fake, rounds=20, seed=0)
    assert isinstance(estimate, Estimate)
    assert estimate.value == fid(real, fake)
    assert estimate.standard_error > 0
    assert estimate.rounds == 20


def test_the_standard_error_shrinks_with_more_rows():
    small = fid_with_error(*two_gaussian_sets(500, seed=7), rounds=30, seed=0)
    large = fid_with_error(*two_gaussian_sets(5000, seed=7), rounds=30, seed=0)
    # ten times the rows should divide the error by about sqrt(10) ~ 3.2
    assert large.standard_error < small.standard_error / 2


def test_the_standard_error_is_reproducible_with_the_same_seed():
    real, fake = two_gaussian_sets(300, seed=8)
    first = fid_with_error(real, fake, rounds=10, seed=3)
    assert fid_with_error(real, fake, rounds=10, seed=3) == first
    assert fid_with_error(real, fake, rounds=10, seed=4).standard_error != first.standard_error


def test_the_bootstrap_needs_at_least_two_rounds():
    real, fake = two_gaussian_sets(50, seed=9)
    with pytest.raises(ValueError, match="rounds >= 2; received 1"):
        fid_with_error(real, fake, rounds=1)


# --------------------------------------------------------------------------- k-NN radii


def test_knn_radii_of_points_on_a_line():
    points = column([0, 1, 3, 6, 10])
    # k=1: nearest other point of 0 is 1, of 1 is 0, of 3 is 1, of 6 is 3, of 10 is 6
    np.testing.assert_array_equal(knn_radii(points, k=1), [1, 1, 2, 3, 4])
    # k=2: second nearest other point of 0 is 3, of 1 is 3, of 3 is 6 (or 0), of 6 is 10, of 10 is 3
    np.testing.assert_array_equal(knn_radii(points, k=2), [3, 2, 3, 4, 7])


def test_a_duplicate_row_is_a_neighbour_at_distance_zero():
    np.testing.assert_array_equal(knn_radii(column([0, 0, 5]), k=1), [0, 0, 5])
    np.testing.assert_array_equal(knn_radii(column([0, 0, 5]), k=2), [5, 5, 5])


def test_knn_radii_do_not_depend_on_the_chunk_size():
    features = np.random.default_rng(10).standard_normal((200, 5))
    np.testing.assert_allclose(knn_radii(features, k=3, chunk=7), knn_radii(features, k=3, chunk=1024))


def test_knn_radii_in_two_dimensions():
    # a 3-4-5 right triangle plus a far point: each corner's nearest other corner is 3 or 4 away
    points = np.array([[0.0, 0.0], [3.0, 0.0], [0.0, 4.0], [100.0, 100.0]])
    np.testing.assert_allclose(knn_radii(points, k=1), [3, 3, 4, np.hypot(100, 96)])


def test_knn_radii_need_more_rows_than_k():
    with pytest.raises(ValueError, match="more than k=3 rows"):
        knn_radii(column([0, 1, 2]), k=3)
    with pytest.raises(ValueError, match="k must be at least 1; received 0"):
        knn_radii(column([0, 1, 2]), k=0)


# --------------------------------------------------------------------------- coverage and precision/recall


def test_a_point_at_exactly_the_radius_is_covered():
    centres = np.zeros((1, 2))
    point = np.array([[3.0, 4.0]])  # distance 5
    assert manifold_coverage(point, centres, np.array([5.0])).tolist() == [True]
    assert manifold_coverage(point, centres, np.array([4.999])).tolist() == [False]


def test_coverage_checks_each_point_against_each_ball():
    centres = column([0, 10])
    radii = np.array([1.0, 3.0])
    points = column([-1, 1.5, 7, 8, 13.5])
    # -1 is within 1 of 0; 1.5 is outside both balls; 7 and 8 are within 3 of 10; 13.5 is 3.5 from 10
    assert manifold_coverage(points, centres, radii, chunk=2).tolist() == [True, False, True, True, False]


def test_precision_and_recall_of_a_hand_checked_example():
    real, fake = column([0, 1, 2, 3]), column([0.5, 2.5, 10])
    # real radii (k=1) are all 1, so the real manifold is [-1, 4]:
    #   0.5 and 2.5 are inside, 10 is not -> precision 2/3.
    # fake radii (k=1): 0.5 -> 2 (to 2.5), 2.5 -> 2 (to 0.5), 10 -> 7.5 (to 2.5),
    # so the fake manifold is [-1.5, 2.5] u [0.5, 4.5] u [2.5, 17.5] = [-1.5, 17.5]:
    #   every real point is inside -> recall 1 (the outlier's wide ball alone would cover 3).
    result = precision_recall(real, fake, k=1)
    assert result == PrecisionRecall(precision=2 / 3, recall=1.0, k=1)


def test_precision_and_recall_count_points_on_a_balls_boundary_as_inside():
    real, fake = column([0, 1, 2]), column([3, 5])
    # real radii (k=1) are all 1: 3 is exactly 1 from 2 (inside), 5 is 3 away -> precision 1/2.
    # fake radii (k=1) are both 2: real 2 is 1 from 3, real 1 is exactly 2 from 3 (inside),
    # real 0 is 3 from 3 and 5 from 5 -> recall 2/3. With strict inequalities they would be 0 and 1/3.
    assert precision_recall(real, fake, k=1) == PrecisionRecall(precision=0.5, recall=2 / 3, k=1)


def test_identical_sets_have_full_precision_and_recall():
    features = np.random.default_rng(11).standard_normal((300, 6))
    result = precision_recall(features, features.copy(), k=3, chunk=64)
    assert (result.precision, result.recall) == (1.0, 1.0)


def test_a_far_away_fake_set_has_no_precision_and_no_recall():
    rng = np.random.default_rng(12)
    real = rng.standard_normal((200, 4))
    fake = rng.standard_normal((150, 4)) + 100.0
    result = precision_recall(real, fake, k=3)
    assert (result.precision, result.recall) == (0.0, 0.0)


def test_mode_collapse_has_high_precision_and_low_recall():
    real = column(list(range(10)))  # 0, 1, ..., 9: real radii (k=1) all 1
    fake = column([4.0, 4.25, 4.5])  # a collapsed mode around 4: fake radii (k=1) all 0.25
    # every fake point is within 1 of the real point 4 -> precision 1;
    # the fake manifold is [3.75, 4.75], holding only the real point 4 -> recall 1/10
    result = precision_recall(real, fake, k=1)
    assert result.precision == 1.0
    assert result.recall == 0.1


def test_precision_recall_does_not_depend_on_the_chunk_size():
    rng = np.random.default_rng(13)
    real, fake = rng.standard_normal((150, 3)), rng.standard_normal((120, 3)) * 1.3 + 0.3
    assert precision_recall(real, fake, k=3, chunk=16) == precision_recall(real, fake, k=3, chunk=1024)


def test_precision_recall_refuses_too_few_rows_and_mismatched_dimensions():
    with pytest.raises(ValueError, match="fake needs more than k=3 rows"):
        precision_recall(np.zeros((10, 2)), np.zeros((3, 2)), k=3)
    with pytest.raises(ValueError, match="real needs more than k=3 rows"):
        precision_recall(np.zeros((2, 2)), np.zeros((10, 2)), k=3)
    with pytest.raises(ValueError, match="2 feature dimensions but fake has 3"):
        precision_recall(np.zeros((10, 2)), np.zeros((10, 3)), k=3)
    with pytest.raises(ValueError, match="points has 2 feature dimensions but centres has 3"):
        manifold_coverage(np.zeros((5, 2)), np.zeros((5, 3)), np.ones(5))


# --------------------------------------------------------------------------- active units


def columns_with_variances(variances: list[float], n: int = 1000) -> np.ndarray:
    """(n, D) posterior means whose columns have exactly the given population variances."""
    signs = np.where(np.arange(n) % 2 == 0, 1.0, -1.0)  # mean 0, variance 1 (n even)
    return signs[:, None] * np.sqrt(np.asarray(variances))[None, :] + 7.0


def test_active_units_count_the_dimensions_above_the_threshold():
    means = columns_with_variances([1.0, 0.5, 1e-4, 0.0])
    result = active_units(means)
    assert isinstance(result, ActiveUnits)
    assert result.count == 2
    assert result.threshold == 0.01
    np.testing.assert_allclose(result.variances, [1.0, 0.5, 1e-4, 0.0], atol=1e-12)


def test_active_units_respect_the_threshold():
    means = columns_with_variances([1.0, 0.5, 1e-4, 0.0])
    assert active_units(means, threshold=0.6).count == 1
    assert active_units(means, threshold=1e-5).count == 3
    assert active_units(means, threshold=2.0).count == 0
