// E-divisive means and PELT change points with a Welch t-test pruning pass.
#include "perfstats/changepoints.hpp"

#include <algorithm>
#include <boost/math/distributions/fisher_f.hpp>
#include <boost/math/distributions/students_t.hpp>
#include <cmath>
#include <limits>
#include <numeric>
#include <queue>
#include <stdexcept>
#include <string>
#include <utility>

namespace perfstats {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

void check_inputs(const double* values, std::size_t n, const ChangePointOptions& o) {
  if (values == nullptr && n > 0) {
    throw std::invalid_argument("values must not be null");
  }
  if (o.min_size < 2) {
    throw std::invalid_argument("min_size must be >= 2, got " +
                                std::to_string(o.min_size));
  }
  if (!(o.pvalue > 0.0 && o.pvalue <= 1.0)) {
    throw std::invalid_argument("pvalue must be in (0, 1], got " +
                                std::to_string(o.pvalue));
  }
  if (o.model == SegmentModel::linear && o.method != ChangePointMethod::binseg) {
    throw std::invalid_argument("the linear model needs method binseg");
  }
  if (o.model == SegmentModel::linear && o.min_size < 3) {
    throw std::invalid_argument("min_size must be >= 3 for the linear model, got " +
                                std::to_string(o.min_size));
  }
  if (!(o.penalty > 0.0) || !std::isfinite(o.penalty)) {
    throw std::invalid_argument("penalty must be finite and > 0, got " +
                                std::to_string(o.penalty));
  }
  for (std::size_t i = 0; i < n; ++i) {
    if (!std::isfinite(values[i])) {
      throw std::invalid_argument("values[" + std::to_string(i) +
                                  "] is not finite: " + std::to_string(values[i]));
    }
  }
}

// Fenwick tree holding a count and a sum per rank.
class RankTree {
 public:
  explicit RankTree(std::size_t n) : count_(n + 1, 0.0), sum_(n + 1, 0.0) {}
  void add(std::size_t rank, double value) {
    for (std::size_t i = rank + 1; i < count_.size(); i += i & (~i + 1)) {
      count_[i] += 1.0;
      sum_[i] += value;
    }
  }
  // Count and sum of the entries with rank < `rank`.
  std::pair<double, double> below(std::size_t rank) const {
    double c = 0.0;
    double s = 0.0;
    for (std::size_t i = rank; i > 0; i -= i & (~i + 1)) {
      c += count_[i];
      s += sum_[i];
    }
    return {c, s};
  }

 private:
  std::vector<double> count_;
  std::vector<double> sum_;
};

// within[t] = sum over pairs i < j < t of |x_i - x_j|, visiting `order` (indices into x
// in the order points are added).
void pairwise_sums(const double* x, const std::vector<std::size_t>& rank,
                   bool from_right, std::vector<double>& within) {
  const std::size_t n = rank.size();
  RankTree tree(n);
  within.assign(n + 1, 0.0);
  double total_sum = 0.0;
  double acc = 0.0;
  for (std::size_t step = 0; step < n; ++step) {
    const std::size_t i = from_right ? n - 1 - step : step;
    const double v = x[i];
    const auto [cl, sl] = tree.below(rank[i]);
    const double inserted = static_cast<double>(step);
    acc += (v * cl - sl) + ((total_sum - sl) - v * (inserted - cl));
    tree.add(rank[i], v);
    total_sum += v;
    if (from_right) {
      within[i] = acc;  // pairs inside [i, n)
    } else {
      within[i + 1] = acc;  // pairs inside [0, i + 1)
    }
  }
  if (from_right) within[n] = 0.0;
}

// Centre and scale so the sums below stay well conditioned; the argmax is unchanged.
std::vector<double> standardized(const double* values, std::size_t n) {
  std::vector<double> x(values, values + n);
  if (n == 0) return x;
  double lo = x[0];
  double hi = x[0];
  double mean = 0.0;
  for (std::size_t i = 0; i < n; ++i) {
    lo = std::min(lo, x[i]);
    hi = std::max(hi, x[i]);
    mean += (x[i] - mean) / static_cast<double>(i + 1);
  }
  const double scale = hi > lo ? hi - lo : 1.0;
  for (double& v : x) v = (v - mean) / scale;
  return x;
}

struct Moments {
  double n = 0.0;
  double mean = 0.0;
  double m2 = 0.0;  // sum of squared deviations
};

Moments moments(const double* x, std::size_t a, std::size_t b) {
  Moments m;
  for (std::size_t i = a; i < b; ++i) {
    m.n += 1.0;
    const double d = x[i] - m.mean;
    m.mean += d / m.n;
    m.m2 += d * (x[i] - m.mean);
  }
  return m;
}

// Welch's t-test on the means of two parts, each with `neff` effective observations.
double welch(const Moments& l, double neff_l, const Moments& r, double neff_r,
             double* statistic) {
  const double vl = l.m2 / (l.n - 1.0) / neff_l;
  const double vr = r.m2 / (r.n - 1.0) / neff_r;
  const double diff = r.mean - l.mean;
  const double se2 = vl + vr;
  if (!(se2 > 0.0)) {
    if (statistic) *statistic = diff == 0.0 ? 0.0 : std::copysign(kInf, diff);
    return diff == 0.0 ? 1.0 : 0.0;
  }
  const double t = diff / std::sqrt(se2);
  if (statistic) *statistic = t;
  const double df = se2 * se2 / (vl * vl / (neff_l - 1.0) + vr * vr / (neff_r - 1.0));
  if (!std::isfinite(t)) return 0.0;
  if (!(df > 0.0) || !std::isfinite(df)) return t == 0.0 ? 1.0 : 0.0;
  const boost::math::students_t dist(df);
  return std::min(1.0,
                  2.0 * boost::math::cdf(boost::math::complement(dist, std::fabs(t))));
}

// Two-sided p-value for a change in mean at b between x[a, b) and x[b, c), each part
// counting n (1 - rho) / (1 + rho) effective observations (at least 2): the variance
// inflation of the mean of an AR(1) series with lag-1 autocorrelation rho.
double segment_pvalue(const double* x, std::size_t a, std::size_t b, std::size_t c,
                      double rho, double* statistic) {
  const Moments l = moments(x, a, b);
  const Moments r = moments(x, b, c);
  const double shrink = (1.0 - rho) / (1.0 + rho);
  const double nl = std::max(2.0, l.n * shrink);
  const double nr = std::max(2.0, r.n * shrink);
  return welch(l, nl, r, nr, statistic);
}

// Best split of x[s, e) by the energy statistic; returns (tau, q) with tau = 0 when the
// segment cannot be split into two parts of at least min_size.
std::pair<std::size_t, double> best_energy_split(const double* x, std::size_t s,
                                                 std::size_t e, std::size_t min_size) {
  const std::size_t len = e - s;
  if (len < 2 * min_size) return {0, -kInf};
  const std::vector<double> q = energy_statistic(x + s, len);
  std::size_t best = 0;
  double best_q = -kInf;
  for (std::size_t t = min_size; t + min_size <= len; ++t) {
    if (q[t] > best_q) {
      best_q = q[t];
      best = t;
    }
  }
  return {s + best, best_q};
}

// Best split of x[s, e) for a change in mean: the largest between-part sum of squares
// m*k/(m+k) * (mean_left - mean_right)^2, from prefix sums in O(e - s).
std::pair<std::size_t, double> best_mean_split(const double* x, std::size_t s,
                                               std::size_t e, std::size_t min_size) {
  const std::size_t len = e - s;
  if (len < 2 * min_size) return {0, -kInf};
  double total = 0.0;
  for (std::size_t i = s; i < e; ++i) total += x[i];
  double left = 0.0;
  for (std::size_t i = s; i < s + min_size; ++i) left += x[i];
  std::size_t best = 0;
  double best_q = -kInf;
  for (std::size_t t = min_size; t + min_size <= len; ++t) {
    const double m = static_cast<double>(t);
    const double k = static_cast<double>(len - t);
    const double d = left / m - (total - left) / k;
    const double q = m * k / (m + k) * d * d;
    if (q > best_q) {
      best_q = q;
      best = t;
    }
    left += x[s + t];
  }
  return {s + best, best_q};
}

// Binary segmentation: split the segment whose best split scores highest, as long as
// the Welch test of its two parts is significant; each segment is scored once.
std::vector<std::size_t> binary_segmentation(const double* x, std::size_t n,
                                             const ChangePointOptions& o, double rho) {
  const auto split = o.method == ChangePointMethod::binseg ? best_mean_split
                                                           : best_energy_split;
  struct Segment {
    std::size_t start, end, tau;
    double q;
    bool done;
  };
  std::vector<Segment> segments;
  auto make = [&](std::size_t s, std::size_t e) {
    const auto [tau, q] = split(x, s, e, o.min_size);
    segments.push_back({s, e, tau, q, tau == 0});
  };
  make(0, n);
  std::vector<std::size_t> cps;
  for (;;) {
    std::size_t pick = segments.size();
    for (std::size_t i = 0; i < segments.size(); ++i) {
      if (segments[i].done) continue;
      if (pick == segments.size() || segments[i].q > segments[pick].q) pick = i;
    }
    if (pick == segments.size()) break;
    const Segment seg = segments[pick];
    const double p =
        segment_pvalue(x, seg.start, seg.tau, seg.end, rho, nullptr);
    if (!(p < o.pvalue)) {
      segments[pick].done = true;
      continue;
    }
    cps.push_back(seg.tau);
    segments.erase(segments.begin() + static_cast<std::ptrdiff_t>(pick));
    make(seg.start, seg.tau);
    make(seg.tau, seg.end);
  }
  std::sort(cps.begin(), cps.end());
  return cps;
}

double median_of(std::vector<double> v) {
  if (v.empty()) return 0.0;
  const auto mid = v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2);
  std::nth_element(v.begin(), mid, v.end());
  double m = *mid;
  if (v.size() % 2 == 0) m = (m + *std::max_element(v.begin(), mid)) / 2.0;
  return m;
}

// Robust noise scale of x: MAD of first differences, scaled to sigma.
double noise_scale(const std::vector<double>& x) {
  if (x.size() < 3) return 0.0;
  std::vector<double> d(x.size() - 1);
  for (std::size_t i = 1; i < x.size(); ++i) d[i - 1] = x[i] - x[i - 1];
  const double med = median_of(d);
  std::vector<double> dev(d.size());
  for (std::size_t i = 0; i < d.size(); ++i) dev[i] = std::fabs(d[i] - med);
  double sigma = 1.482602218505602 * median_of(dev) / std::sqrt(2.0);
  if (!(sigma > 0.0)) {  // mostly constant steps: fall back to the standard deviation
    const Moments m = moments(d.data(), 0, d.size());
    sigma = std::sqrt(m.m2 / static_cast<double>(d.size())) / std::sqrt(2.0);
  }
  return sigma;
}

std::vector<std::size_t> pelt_candidates(const std::vector<double>& raw,
                                         const ChangePointOptions& o) {
  const std::size_t n = raw.size();
  const double sigma = noise_scale(raw);
  if (!(sigma > 0.0)) return {};
  std::vector<double> s1(n + 1, 0.0);
  std::vector<double> s2(n + 1, 0.0);
  for (std::size_t i = 0; i < n; ++i) {
    const double v = raw[i] / sigma;
    s1[i + 1] = s1[i] + v;
    s2[i + 1] = s2[i] + v * v;
  }
  auto cost = [&](std::size_t a, std::size_t b) {
    const double s = s1[b] - s1[a];
    return (s2[b] - s2[a]) - s * s / static_cast<double>(b - a);
  };
  const double beta = o.penalty * std::log(static_cast<double>(n));
  std::vector<double> f(n + 1, kInf);
  std::vector<std::size_t> last(n + 1, 0);
  f[0] = -beta;
  std::vector<std::size_t> candidates;
  std::vector<double> scored;
  for (std::size_t t = o.min_size; t <= n; ++t) {
    const std::size_t fresh = t - o.min_size;
    if (std::isfinite(f[fresh])) candidates.push_back(fresh);
    double best = kInf;
    std::size_t arg = 0;
    scored.resize(candidates.size());
    for (std::size_t k = 0; k < candidates.size(); ++k) {
      const double v = f[candidates[k]] + cost(candidates[k], t);
      scored[k] = v;
      if (v < best) {
        best = v;
        arg = candidates[k];
      }
    }
    if (candidates.empty()) continue;
    f[t] = best + beta;
    last[t] = arg;
    std::size_t keep = 0;
    for (std::size_t k = 0; k < candidates.size(); ++k) {
      if (scored[k] <= f[t]) candidates[keep++] = candidates[k];
    }
    candidates.resize(keep);
  }
  std::vector<std::size_t> cps;
  if (!std::isfinite(f[n])) return cps;
  for (std::size_t t = last[n]; t > 0; t = last[t]) cps.push_back(t);
  std::reverse(cps.begin(), cps.end());
  return cps;
}


double segment_slope(const double* x, std::size_t a, std::size_t b);

// O(1) least-squares line fits on any x[a, b) from prefix sums of x, t*x and x^2. Time
// is counted from the start of the segment (u = t - a), so the sums of u and u^2 are
// exact closed forms and only the data sums can lose digits; x is standardized first.
class LinearFits {
 public:
  explicit LinearFits(const std::vector<double>& x)
      : sx_(x.size() + 1, 0.0), stx_(x.size() + 1, 0.0), sxx_(x.size() + 1, 0.0) {
    for (std::size_t i = 0; i < x.size(); ++i) {
      sx_[i + 1] = sx_[i] + x[i];
      stx_[i + 1] = stx_[i] + static_cast<double>(i) * x[i];
      sxx_[i + 1] = sxx_[i] + x[i] * x[i];
    }
  }
  // Residual sum of squares of the line through x[a, b); 0 for fewer than 3 points.
  double rss(std::size_t a, std::size_t b) const {
    if (b < a + 3) return 0.0;
    const double m = static_cast<double>(b - a);
    const double sx = sx_[b] - sx_[a];
    const double sxx = (sxx_[b] - sxx_[a]) - sx * sx / m;
    const double sux =
        (stx_[b] - stx_[a]) - static_cast<double>(a) * sx - (m - 1.0) / 2.0 * sx;
    const double suu = m * (m * m - 1.0) / 12.0;
    return std::max(0.0, sxx - sux * sux / suu);
  }

 private:
  std::vector<double> sx_;
  std::vector<double> stx_;
  std::vector<double> sxx_;
};

struct LinearSplit {
  double gain = -kInf;  // drop in the residual sum of squares
  std::size_t start = 0, end = 0, tau = 0;
};

// Best split of x[s, e) into two lines: the largest drop in residual sum of squares.
LinearSplit best_linear_split(const LinearFits& fits, std::size_t s, std::size_t e,
                              std::size_t min_size) {
  LinearSplit best;
  best.start = s;
  best.end = e;
  if (e - s < 2 * min_size) return best;
  const double whole = fits.rss(s, e);
  for (std::size_t t = s + min_size; t + min_size <= e; ++t) {
    const double gain = whole - fits.rss(s, t) - fits.rss(t, e);
    if (gain > best.gain) {
      best.gain = gain;
      best.tau = t;
    }
  }
  return best;
}

// The BIC of k changes with residual sum of squares `rss` (up to a constant), floored
// so a perfect fit is finite: below 1e-12 of the one-line fit, every fit is exact.
struct LinearBic {
  double n, per_change, floor;
  double operator()(std::size_t k, double rss) const {
    return n * std::log(std::max(rss, floor)) + static_cast<double>(k) * per_change;
  }
};

double total_linear_rss(const LinearFits& fits, const std::vector<std::size_t>& cps,
                        std::size_t n) {
  double total = 0.0;
  for (std::size_t i = 0; i <= cps.size(); ++i) {
    total += fits.rss(i == 0 ? 0 : cps[i - 1], i == cps.size() ? n : cps[i]);
  }
  return total;
}

// Moves change i to the best position between its neighbours; true when it moved.
bool move_to_best(const LinearFits& fits, std::vector<std::size_t>& cps, std::size_t i,
                  std::size_t n, std::size_t min_size) {
  const std::size_t a = i == 0 ? 0 : cps[i - 1];
  const std::size_t c = i + 1 == cps.size() ? n : cps[i + 1];
  const LinearSplit best = best_linear_split(fits, a, c, min_size);
  const double now = fits.rss(a, c) - fits.rss(a, cps[i]) - fits.rss(cps[i], c);
  if (best.tau == 0 || best.tau == cps[i] || !(best.gain > now)) return false;
  cps[i] = best.tau;
  return true;
}

// Moves every change to the best position between its neighbours (coordinate descent
// on the residual sum of squares) until none moves; returns the new total.
double refine_linear(const LinearFits& fits, std::vector<std::size_t>& cps,
                     std::size_t n, std::size_t min_size) {
  for (int pass = 0; pass < 20; ++pass) {
    bool moved = false;
    for (std::size_t i = 0; i < cps.size(); ++i) {
      moved = move_to_best(fits, cps, i, n, min_size) || moved;
    }
    if (!moved) break;
  }
  return total_linear_rss(fits, cps, n);
}

// Lag-1 autocorrelation of the residuals of the segment lines, clamped to [0, 0.999].
double residual_autocorrelation(const std::vector<double>& x,
                                const std::vector<std::size_t>& cps) {
  const std::size_t n = x.size();
  std::vector<double> e(n);
  for (std::size_t i = 0; i <= cps.size(); ++i) {
    const std::size_t a = i == 0 ? 0 : cps[i - 1];
    const std::size_t b = i == cps.size() ? n : cps[i];
    if (b == a) continue;
    const double m = static_cast<double>(b - a);
    double xbar = 0.0;
    for (std::size_t t = a; t < b; ++t) xbar += x[t];
    xbar /= m;
    const double slope = segment_slope(x.data(), a, b);
    const double ubar = (m - 1.0) / 2.0;
    for (std::size_t t = a; t < b; ++t) {
      e[t] = x[t] - xbar - slope * (static_cast<double>(t - a) - ubar);
    }
  }
  double lag = 0.0;
  double var = 0.0;
  for (std::size_t t = 0; t < n; ++t) {
    var += e[t] * e[t];
    if (t > 0) lag += e[t] * e[t - 1];
  }
  return var > 0.0 ? std::clamp(lag / var, 0.0, 0.999) : 0.0;
}

// Piecewise-linear segmentation minimising the BIC of Gaussian noise with unknown
// variance, n log(RSS_k) + k * penalty * log(n). Forward: binary segmentation makes the
// best available split (largest drop of the residual sum of squares over all segments)
// while it lowers the BIC, the classic stopping rule. Backward: every change is moved
// to its best place between its neighbours, and the change whose removal costs least
// is dropped while dropping it lowers the BIC (binary segmentation's first splits of a
// series with several kinks can land between them and leave spare changes). With
// `autocorrelation`, the backward BIC counts n (1 - rho) / (1 + rho) effective
// observations, rho the lag-1 autocorrelation of the forward fit's residuals: AR(1)
// noise inflates the likelihood ratio of a spurious split by (1 + rho) / (1 - rho).
// The forward fit assumes white noise and so has every change worth testing; its
// residuals are the least autocorrelated, which keeps rho on the low side.
std::vector<std::size_t> linear_binary_segmentation(const std::vector<double>& x,
                                                    const ChangePointOptions& o) {
  const std::size_t n = x.size();
  const LinearFits fits(x);
  double rss = fits.rss(0, n);
  std::vector<std::size_t> cps;
  if (!(rss > 0.0)) return cps;
  const double nd = static_cast<double>(n);
  const LinearBic bic{nd, o.penalty * std::log(nd), 1e-12 * rss};
  auto weaker = [](const LinearSplit& a, const LinearSplit& b) {
    return a.gain < b.gain || (a.gain == b.gain && a.start > b.start);
  };
  std::priority_queue<LinearSplit, std::vector<LinearSplit>, decltype(weaker)> queue(
      weaker);
  queue.push(best_linear_split(fits, 0, n, o.min_size));
  while (!queue.empty()) {
    const LinearSplit top = queue.top();
    if (!(top.gain > 0.0) || top.tau == 0) break;
    const double after = std::max(rss - top.gain, 0.0);
    if (!(bic(cps.size() + 1, after) < bic(cps.size(), rss))) break;
    queue.pop();
    cps.push_back(top.tau);
    rss = after;
    if (o.max_changepoints > 0 && cps.size() >= o.max_changepoints) break;
    queue.push(best_linear_split(fits, top.start, top.tau, o.min_size));
    queue.push(best_linear_split(fits, top.tau, top.end, o.min_size));
  }
  std::sort(cps.begin(), cps.end());
  rss = refine_linear(fits, cps, n, o.min_size);
  LinearBic backward = bic;
  // With autocorrelation, rho is re-estimated from the residuals of the reduced fit
  // until the set of changes stops shrinking (a fixed point; rho only grows as changes
  // go, so this ends after at most as many rounds as there were changes).
  for (;;) {
    const std::size_t before = cps.size();
    if (o.autocorrelation) {
      const double rho = residual_autocorrelation(x, cps);
      backward.n = nd * (1.0 - rho) / (1.0 + rho);
    }
    while (!cps.empty()) {
      std::size_t drop = 0;
      double cheapest = kInf;
      for (std::size_t i = 0; i < cps.size(); ++i) {
        const std::size_t a = i == 0 ? 0 : cps[i - 1];
        const std::size_t c = i + 1 == cps.size() ? n : cps[i + 1];
        const double cost = fits.rss(a, c) - fits.rss(a, cps[i]) - fits.rss(cps[i], c);
        if (cost < cheapest) {
          cheapest = cost;
          drop = i;
        }
      }
      const double merged = rss + std::max(cheapest, 0.0);
      if (!(backward(cps.size() - 1, merged) <= backward(cps.size(), rss))) break;
      cps.erase(cps.begin() + static_cast<std::ptrdiff_t>(drop));
      // Only the new neighbours' best places can have changed.
      if (drop > 0) move_to_best(fits, cps, drop - 1, n, o.min_size);
      if (drop < cps.size()) move_to_best(fits, cps, drop, n, o.min_size);
      rss = total_linear_rss(fits, cps, n);
    }
    if (!o.autocorrelation || cps.size() == before) break;
  }
  refine_linear(fits, cps, n, o.min_size);
  return cps;
}

// Index, means and relative change of a change at b between x[a, b) and x[b, c).
ChangePoint describe(const double* x, std::size_t a, std::size_t b, std::size_t c) {
  ChangePoint cp;
  cp.index = b;
  const Moments l = moments(x, a, b);
  const Moments r = moments(x, b, c);
  cp.mean_before = l.mean;
  cp.mean_after = r.mean;
  const double diff = r.mean - l.mean;
  if (l.mean != 0.0) {
    cp.relative_change = diff / std::fabs(l.mean);
  } else {
    cp.relative_change = diff == 0.0 ? 0.0 : std::copysign(kInf, diff);
  }
  return cp;
}

// Least-squares slope per step of values[a, b), two-pass for accuracy on offset data.
double segment_slope(const double* x, std::size_t a, std::size_t b) {
  if (b < a + 2) return 0.0;
  const double m = static_cast<double>(b - a);
  const double ubar = (m - 1.0) / 2.0;
  double xbar = 0.0;
  for (std::size_t i = a; i < b; ++i) xbar += x[i];
  xbar /= m;
  double sux = 0.0;
  for (std::size_t i = a; i < b; ++i) {
    sux += (static_cast<double>(i - a) - ubar) * (x[i] - xbar);
  }
  return sux / (m * (m * m - 1.0) / 12.0);
}

// Chow test of one line on x[a, c) against two lines split at b: F with (2, c - a - 4)
// degrees of freedom. Returns the p-value; `statistic` receives F.
double chow_pvalue(const LinearFits& fits, std::size_t a, std::size_t b, std::size_t c,
                   double* statistic) {
  const double pooled = fits.rss(a, c);
  const double separate = fits.rss(a, b) + fits.rss(b, c);
  const double df = static_cast<double>(c - a) - 4.0;
  const double drop = std::max(0.0, pooled - separate);
  if (!(df > 0.0) || !(separate > 1e-12 * pooled)) {
    const bool differs = drop > 1e-12 * std::max(pooled, 1e-300);
    if (statistic) *statistic = differs ? kInf : 0.0;
    return differs ? 0.0 : 1.0;
  }
  const double f = (drop / 2.0) / (separate / df);
  if (statistic) *statistic = f;
  const boost::math::fisher_f dist(2.0, df);
  return std::min(1.0, boost::math::cdf(boost::math::complement(dist, f)));
}

}  // namespace

double linear_segment_cost(const double* values, std::size_t a, std::size_t b) {
  if (values == nullptr || b < a) {
    throw std::invalid_argument("linear_segment_cost needs values and a <= b, got " +
                                std::to_string(a) + ", " + std::to_string(b));
  }
  if (b < a + 3) return 0.0;
  const double m = static_cast<double>(b - a);
  double xbar = 0.0;
  for (std::size_t i = a; i < b; ++i) xbar += values[i];
  xbar /= m;
  const double slope = segment_slope(values, a, b);
  const double ubar = (m - 1.0) / 2.0;
  double rss = 0.0;
  for (std::size_t i = a; i < b; ++i) {
    const double r = values[i] - xbar - slope * (static_cast<double>(i - a) - ubar);
    rss += r * r;
  }
  return rss;
}

double noise_autocorrelation(const double* values, std::size_t n) {
  if (values == nullptr || n < 4) return 0.0;
  // corr(d_t, d_{t-1}) of the first differences d is -(1 - rho) / 2 for AR(1) noise.
  // It is estimated robustly (Gnanadesikan-Kettenring with MADs): a level shift is one
  // outlying difference, which would otherwise dominate the variance and push the
  // estimate to rho ~ 1, hiding exactly the large, clean shifts we look for.
  std::vector<double> sum(n - 2);
  std::vector<double> diff(n - 2);
  for (std::size_t i = 2; i < n; ++i) {
    const double u = values[i] - values[i - 1];
    const double v = values[i - 1] - values[i - 2];
    sum[i - 2] = u + v;
    diff[i - 2] = u - v;
  }
  auto mad = [](std::vector<double>& w) {
    const double m = median_of(w);
    for (double& z : w) z = std::fabs(z - m);
    return median_of(w);
  };
  const double a = mad(sum);
  const double b = mad(diff);
  const double r = a > 0.0 || b > 0.0 ? (a * a - b * b) / (a * a + b * b) : 0.0;
  return std::clamp(1.0 + 2.0 * r, 0.0, 0.999);
}

std::vector<double> energy_statistic(const double* values, std::size_t n) {
  std::vector<double> q(n + 1, 0.0);
  if (n < 4) return q;
  const std::vector<double> x = standardized(values, n);
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return x[a] < x[b]; });
  std::vector<std::size_t> rank(n);
  for (std::size_t r = 0; r < n; ++r) rank[order[r]] = r;
  std::vector<double> left;
  std::vector<double> right;
  pairwise_sums(x.data(), rank, false, left);
  pairwise_sums(x.data(), rank, true, right);
  const double total = left[n];
  for (std::size_t t = 2; t + 2 <= n; ++t) {
    const double m = static_cast<double>(t);
    const double k = static_cast<double>(n - t);
    const double cross = std::max(0.0, total - left[t] - right[t]);
    const double e = 2.0 * cross / (m * k) - 2.0 * left[t] / (m * (m - 1.0)) -
                     2.0 * right[t] / (k * (k - 1.0));
    q[t] = m * k / (m + k) * e;
  }
  // Undo the scaling so q is in the units of the data.
  double lo = values[0];
  double hi = values[0];
  for (std::size_t i = 0; i < n; ++i) {
    lo = std::min(lo, values[i]);
    hi = std::max(hi, values[i]);
  }
  if (hi > lo) {
    for (double& v : q) v *= hi - lo;
  }
  return q;
}

double change_pvalue(const double* values, std::size_t a, std::size_t b, std::size_t c,
                     double rho, double* statistic) {
  if (values == nullptr || !(a < b && b < c) || b - a < 2 || c - b < 2) {
    throw std::invalid_argument(
        "change_pvalue needs a < b < c with >= 2 points a side, got " +
        std::to_string(a) + ", " + std::to_string(b) + ", " + std::to_string(c));
  }
  if (!(rho >= 0.0 && rho < 1.0)) {
    throw std::invalid_argument("rho must be in [0, 1), got " + std::to_string(rho));
  }
  return segment_pvalue(values, a, b, c, rho, statistic);
}

std::vector<ChangePoint> detect_changepoints(const double* values, std::size_t n,
                                             const ChangePointOptions& options) {
  check_inputs(values, n, options);
  std::vector<ChangePoint> out;
  if (n < 2 * options.min_size) return out;
  const std::vector<double> x = standardized(values, n);
  if (options.model == SegmentModel::linear) {
    const std::vector<std::size_t> cps = linear_binary_segmentation(x, options);
    const LinearFits fits(x);
    out.reserve(cps.size());
    for (std::size_t i = 0; i < cps.size(); ++i) {
      const std::size_t a = i == 0 ? 0 : cps[i - 1];
      const std::size_t c = i + 1 == cps.size() ? n : cps[i + 1];
      ChangePoint cp = describe(values, a, cps[i], c);
      cp.pvalue = chow_pvalue(fits, a, cps[i], c, &cp.statistic);
      cp.slope_before = segment_slope(values, a, cps[i]);
      cp.slope_after = segment_slope(values, cps[i], c);
      out.push_back(cp);
    }
    return out;
  }
  const double rho = options.autocorrelation ? noise_autocorrelation(x.data(), n) : 0.0;
  std::vector<std::size_t> cps = options.method == ChangePointMethod::pelt
                                     ? pelt_candidates(x, options)
                                     : binary_segmentation(x.data(), n, options, rho);

  // Prune: drop the least significant change while it fails the threshold (or while
  // there are more than max_changepoints), then re-test its former neighbours.
  std::vector<double> p(cps.size());
  auto test = [&](std::size_t i) {
    const std::size_t a = i == 0 ? 0 : cps[i - 1];
    const std::size_t c = i + 1 == cps.size() ? n : cps[i + 1];
    p[i] = segment_pvalue(x.data(), a, cps[i], c, rho, nullptr);
  };
  for (std::size_t i = 0; i < cps.size(); ++i) test(i);
  while (!cps.empty()) {
    const auto worst = static_cast<std::size_t>(
        std::max_element(p.begin(), p.end()) - p.begin());
    const bool too_many =
        options.max_changepoints > 0 && cps.size() > options.max_changepoints;
    if (p[worst] < options.pvalue && !too_many) break;
    cps.erase(cps.begin() + static_cast<std::ptrdiff_t>(worst));
    p.erase(p.begin() + static_cast<std::ptrdiff_t>(worst));
    if (worst > 0) test(worst - 1);
    if (worst < cps.size()) test(worst);
  }

  out.reserve(cps.size());
  for (std::size_t i = 0; i < cps.size(); ++i) {
    const std::size_t a = i == 0 ? 0 : cps[i - 1];
    const std::size_t c = i + 1 == cps.size() ? n : cps[i + 1];
    ChangePoint cp = describe(values, a, cps[i], c);
    cp.pvalue = segment_pvalue(values, a, cps[i], c, rho, &cp.statistic);
    out.push_back(cp);
  }
  return out;
}

}  // namespace perfstats
