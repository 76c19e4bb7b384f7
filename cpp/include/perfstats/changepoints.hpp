// Change points in the mean of a series: E-divisive means and PELT, both with a
// deterministic Welch t-test between adjacent segments deciding which changes to keep.
//
// E-divisive means (Matteson and James, 2014, as used by Apache Otava/Hunter and
// MongoDB's signal processing for CI performance data) splits a segment where the
// energy statistic between the left and right part peaks, recursively, strongest
// candidate first. For one-dimensional data the statistic is computed for every split
// of a segment in O(n log n) (sorted ranks and Fenwick trees) instead of the usual
// O(n^2) distance matrix. PELT (Killick et al., 2012) minimises the squared-error cost
// of a piecewise-constant mean plus a penalty per change, in expected linear time.
//
// The t-test counts n (1 - rho) / (1 + rho) effective observations per segment, rho the
// lag-1 autocorrelation of the noise estimated once from the first differences.
// After either search every change point is tested against its neighbours: the
// segment since the previous change against the segment up to the next one. The least
// significant change is dropped while its p-value exceeds the threshold, then the
// neighbours are tested again (Hunter's approach). There is no randomness anywhere.
//
// The piecewise-linear model (SegmentModel::linear) fits a least-squares line to every
// segment, so a change of slope (a leak, a growing backlog) is a change point too.
// Binary segmentation on that cost gives a nested path of 0..K changes; the number of
// changes is the one with the smallest BIC under Gaussian noise of unknown variance,
// n log(RSS_k / n) + k * penalty * log n, with penalty 3 per change (location,
// intercept and slope of the new segment). Its p-values are Chow F-tests.
#pragma once

#include <cstddef>
#include <vector>

namespace perfstats {

enum class ChangePointMethod {
  edivisive,  // exact E-divisive means, binary segmentation on the energy statistic
  binseg,     // binary segmentation on the between-segment sum of squares (CUSUM)
  pelt,       // PELT on a change in mean with a BIC-type penalty
};

enum class SegmentModel {
  mean,    // piecewise-constant mean (every method)
  linear,  // piecewise-linear: level and slope (binary segmentation with BIC only)
};

struct ChangePointOptions {
  ChangePointMethod method = ChangePointMethod::edivisive;
  SegmentModel model = SegmentModel::mean;
  // Fewest observations in a segment; at least 2.
  std::size_t min_size = 10;
  // A change is kept when the Welch t-test of its two adjacent segments gives a
  // two-sided p-value below this; in (0, 1].
  double pvalue = 0.001;
  // Correct the test for the lag-1 autocorrelation of the noise (effective sample
  // sizes, see noise_autocorrelation); without it drifting or autocorrelated series are
  // split far too often.
  bool autocorrelation = true;
  // PELT: penalty per change in units of sigma^2 * log(n), where sigma is a robust
  // noise scale (MAD of first differences / sqrt 2). Linear model: penalty per change
  // in the BIC, in units of log(n) (3 = the parameters a change adds). Must be > 0.
  double penalty = 2.0;
  // Most change points reported (0: no limit). The strongest (smallest p-value) win.
  std::size_t max_changepoints = 0;
};

struct ChangePoint {
  std::size_t index = 0;         // first observation of the new segment
  double mean_before = 0.0;      // mean of the segment that ends at `index`
  double mean_after = 0.0;       // mean of the segment that starts at `index`
  double relative_change = 0.0;  // (after - before) / |before|; +-inf when before = 0
  double pvalue = 1.0;           // Welch t-test, two-sided, of the two segments
  double statistic = 0.0;        // Welch t (mean model) or Chow F (linear model)
  double slope_before = 0.0;     // least-squares slope per step of the segment before
  double slope_after = 0.0;      // and after (linear model; 0 for the mean model)
};

// Change points of `values[0..n)`, ascending by index. Throws std::invalid_argument on
// a non-finite value (naming its index) or invalid options. Series shorter than
// 2 * min_size have no change points. The linear model needs method binseg and
// min_size >= 3 (std::invalid_argument otherwise); it ignores `pvalue` and
// `autocorrelation` (the BIC decides) and reports Chow-test p-values.
std::vector<ChangePoint> detect_changepoints(const double* values, std::size_t n,
                                             const ChangePointOptions& options);

// The E-divisive energy statistic q(tau) = m*k/(m+k) * e_hat for every split of
// `values[0..n)` into [0, tau) and [tau, n), tau = 0..n (0 where either part has fewer
// than 2 points). e_hat = 2/(m k) sum|x-y| - 2/(m(m-1)) sum_{i<j}|x_i-x_j|
// - 2/(k(k-1)) sum_{i<j}|y_i-y_j| with m = tau, k = n - tau.
std::vector<double> energy_statistic(const double* values, std::size_t n);

// Lag-1 autocorrelation rho of the noise of a series with level shifts, from the first
// differences d: for AR(1) noise corr(d_t, d_{t-1}) = -(1 - rho) / 2. The correlation
// is the robust Gnanadesikan-Kettenring one, (s+^2 - s-^2) / (s+^2 + s-^2) with s+- the
// MADs of d_t +- d_{t-1}, so a level shift (one outlying difference) does not move it.
// Clamped to [0, 0.999]; 0 for fewer than 4 values. Smooth trends and random walks
// give ~1 (nothing in them is a significant shift in mean).
double noise_autocorrelation(const double* values, std::size_t n);

// Two-sided p-value of Welch's t-test between values[a, b) and values[b, c), each part
// counting n (1 - rho) / (1 + rho) effective observations (at least 2). rho in [0, 1).
// Returns 1 when both parts are constant and equal, 0 when constant and different.
// `statistic` receives t (after minus before).
double change_pvalue(const double* values, std::size_t a, std::size_t b, std::size_t c,
                     double rho, double* statistic = nullptr);

// Residual sum of squares of the least-squares line through (t, values[t]) for t in
// [a, b); 0 for fewer than 3 points. Throws std::invalid_argument unless a <= b.
double linear_segment_cost(const double* values, std::size_t a, std::size_t b);

}  // namespace perfstats
