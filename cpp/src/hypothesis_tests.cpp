// t-tests, Mann-Whitney U, SRM chi-square and t-test power on Boost.Math distributions.
#include "perfstats/hypothesis_tests.hpp"

#include <algorithm>
#include <boost/math/distributions/chi_squared.hpp>
#include <boost/math/distributions/non_central_t.hpp>
#include <boost/math/distributions/normal.hpp>
#include <boost/math/distributions/students_t.hpp>
#include <boost/math/tools/roots.hpp>
#include <boost/math/tools/toms748_solve.hpp>
#include <cmath>
#include <cstdint>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <utility>
#include <vector>

namespace perfstats {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::string fmt(double x) {
  std::ostringstream out;
  out.precision(17);
  out << x;
  return out.str();
}

void check_confidence(double confidence) {
  if (!(confidence > 0.0 && confidence < 1.0)) {
    throw std::invalid_argument("confidence must be in (0, 1), got " + fmt(confidence));
  }
}

void check_count(const Moments& m, const char* name) {
  if (!(m.count() >= 2.0)) {
    throw std::invalid_argument(std::string(name) + " needs a count of at least 2, got " +
                                fmt(m.count()));
  }
}

// p-value of statistic `t` under `dist` for the alternative, from complements only.
template <class Dist>
double tail_pvalue(const Dist& dist, double t, Alternative alternative) {
  using boost::math::cdf;
  using boost::math::complement;
  switch (alternative) {
    case Alternative::less:
      return cdf(dist, t);
    case Alternative::greater:
      return cdf(complement(dist, t));
    case Alternative::two_sided:
      break;
  }
  return std::min(1.0, 2.0 * cdf(complement(dist, std::fabs(t))));
}

// Fills the test statistic, p-value and confidence interval of `r.mean_difference`
// given its standard error and degrees of freedom; returns the critical value.
double finish_t(TTestResult& r, Alternative alternative, double confidence) {
  if (!(r.std_error > 0.0) || !std::isfinite(r.std_error)) {
    throw std::invalid_argument(
        "the standard error of the difference is " + fmt(r.std_error) +
        " (every value equal within each sample?): the t statistic is undefined");
  }
  const boost::math::students_t dist(r.df);
  r.statistic = r.mean_difference / r.std_error;
  r.pvalue = tail_pvalue(dist, r.statistic, alternative);
  const double tail = alternative == Alternative::two_sided ? (1.0 - confidence) / 2.0
                                                            : 1.0 - confidence;
  const double crit = boost::math::quantile(boost::math::complement(dist, tail));
  const double half = crit * r.std_error;
  r.ci_low = alternative == Alternative::less ? -kInf : r.mean_difference - half;
  r.ci_high = alternative == Alternative::greater ? kInf : r.mean_difference + half;
  return crit;
}

// Lift and its interval: exact transform on the log scale, else a delta-method interval
// with standard error `lift_se` and the test's critical value.
void finish_lift(TTestResult& r, Alternative alternative, double crit, double lift,
                 double lift_se, bool log_scale) {
  if (log_scale) {
    r.relative_lift = std::expm1(r.mean_difference);
    r.relative_lift_ci_low = std::expm1(r.ci_low);
    r.relative_lift_ci_high = std::expm1(r.ci_high);
    return;
  }
  r.relative_lift = lift;
  if (!std::isfinite(lift) || !std::isfinite(lift_se)) {
    r.relative_lift = kNaN;
    r.relative_lift_ci_low = kNaN;
    r.relative_lift_ci_high = kNaN;
    return;
  }
  const double half = crit * lift_se;
  r.relative_lift_ci_low = alternative == Alternative::less ? -kInf : lift - half;
  r.relative_lift_ci_high = alternative == Alternative::greater ? kInf : lift + half;
}

double hedges_correction(double df) { return 1.0 - 3.0 / (4.0 * df - 1.0); }

TTestResult two_sample(const Moments& a, const Moments& b, Alternative alternative,
                       double confidence, bool log_scale, bool pooled) {
  check_confidence(confidence);
  check_count(a, "sample a");
  check_count(b, "sample b");
  const double na = a.count();
  const double nb = b.count();
  const double va = a.variance(1.0);
  const double vb = b.variance(1.0);
  const double ma = a.mean();
  const double mb = b.mean();
  TTestResult r;
  r.mean_difference = a.mean_minus(b);
  const double pooled_var = (a.m2() + b.m2()) / (na + nb - 2.0);
  if (pooled) {
    r.df = na + nb - 2.0;
    r.std_error = std::sqrt(pooled_var * (1.0 / na + 1.0 / nb));
  } else {
    const double sa = va / na;
    const double sb = vb / nb;
    r.std_error = std::sqrt(sa + sb);
    r.df = (sa + sb) * (sa + sb) / (sa * sa / (na - 1.0) + sb * sb / (nb - 1.0));
  }
  const double crit = finish_t(r, alternative, confidence);
  const double lift = r.mean_difference / mb;
  const double lift_var = va / (na * mb * mb) + vb * ma * ma / (nb * mb * mb * mb * mb);
  finish_lift(r, alternative, crit, lift, std::sqrt(lift_var), log_scale);
  r.hedges_g = r.mean_difference / std::sqrt(pooled_var) * hedges_correction(na + nb - 2.0);
  return r;
}

}  // namespace

Alternative parse_alternative(const std::string& name) {
  if (name == "two-sided") return Alternative::two_sided;
  if (name == "less") return Alternative::less;
  if (name == "greater") return Alternative::greater;
  throw std::invalid_argument("alternative must be 'two-sided', 'less' or 'greater', got '" +
                              name + "'");
}

TTestResult welch_t_test(const Moments& a, const Moments& b, Alternative alternative,
                         double confidence, bool log_scale) {
  return two_sample(a, b, alternative, confidence, log_scale, false);
}

TTestResult student_t_test(const Moments& a, const Moments& b, Alternative alternative,
                           double confidence, bool log_scale) {
  return two_sample(a, b, alternative, confidence, log_scale, true);
}

TTestResult one_sample_t_test(const Moments& a, double mu, Alternative alternative,
                              double confidence, bool log_scale) {
  check_confidence(confidence);
  check_count(a, "sample a");
  if (!std::isfinite(mu)) throw std::invalid_argument("mu must be finite, got " + fmt(mu));
  const double n = a.count();
  TTestResult r;
  r.mean_difference = a.mean_minus(mu);
  r.df = n - 1.0;
  r.std_error = a.std(1.0) / std::sqrt(n);
  const double crit = finish_t(r, alternative, confidence);
  if (log_scale) {
    finish_lift(r, alternative, crit, 0.0, 0.0, true);
  } else if (mu != 0.0) {
    // Dividing by the constant mu maps the interval exactly (flipping it when mu < 0).
    r.relative_lift = r.mean_difference / mu;
    double lo = r.ci_low / mu;
    double hi = r.ci_high / mu;
    if (lo > hi) std::swap(lo, hi);
    r.relative_lift_ci_low = lo;
    r.relative_lift_ci_high = hi;
  } else {
    r.relative_lift = r.relative_lift_ci_low = r.relative_lift_ci_high = kNaN;
  }
  r.hedges_g = r.mean_difference / a.std(1.0) * hedges_correction(r.df);
  return r;
}

TTestResult paired_t_test(const double* a, const double* b, std::size_t n,
                          Alternative alternative, double confidence, bool log_scale) {
  check_confidence(confidence);
  if (n < 2) {
    throw std::invalid_argument("paired test needs at least 2 pairs, got " +
                                std::to_string(n));
  }
  for (std::size_t i = 0; i < n; ++i) {
    if (!std::isfinite(a[i])) {
      throw std::invalid_argument("a[" + std::to_string(i) + "] must be finite, got " + fmt(a[i]));
    }
    if (!std::isfinite(b[i])) {
      throw std::invalid_argument("b[" + std::to_string(i) + "] must be finite, got " + fmt(b[i]));
    }
  }
  Moments ma;
  Moments mb;
  ma.add(a, n);
  mb.add(b, n);
  std::vector<double> d(n);
  for (std::size_t i = 0; i < n; ++i) d[i] = a[i] - b[i];
  Moments md;
  md.add(d.data(), n);
  const double cn = static_cast<double>(n);
  TTestResult r;
  r.mean_difference = md.mean();
  r.df = cn - 1.0;
  r.std_error = md.std(1.0) / std::sqrt(cn);
  const double crit = finish_t(r, alternative, confidence);
  const double xa = ma.mean();
  const double xb = mb.mean();
  const double va = ma.variance(1.0);
  const double vb = mb.variance(1.0);
  const double cov = (va + vb - md.variance(1.0)) / 2.0;
  const double lift = r.mean_difference / xb;
  const double lift_var = (va / (xb * xb) + xa * xa * vb / (xb * xb * xb * xb) -
                           2.0 * xa * cov / (xb * xb * xb)) /
                          cn;
  finish_lift(r, alternative, crit, lift, std::sqrt(std::max(0.0, lift_var)), log_scale);
  r.hedges_g = r.mean_difference / md.std(1.0) * hedges_correction(r.df);
  return r;
}

MannWhitneyResult mann_whitney_u(const double* a, std::size_t na, const double* b,
                                 std::size_t nb, Alternative alternative, bool continuity) {
  if (na == 0 || nb == 0) {
    throw std::invalid_argument("Mann-Whitney U needs non-empty samples, got sizes " +
                                std::to_string(na) + " and " + std::to_string(nb));
  }
  std::vector<std::pair<double, bool>> all;  // (value, belongs to a)
  all.reserve(na + nb);
  for (std::size_t i = 0; i < na; ++i) {
    if (std::isnan(a[i])) throw std::invalid_argument("a[" + std::to_string(i) + "] is NaN");
    all.emplace_back(a[i], true);
  }
  for (std::size_t i = 0; i < nb; ++i) {
    if (std::isnan(b[i])) throw std::invalid_argument("b[" + std::to_string(i) + "] is NaN");
    all.emplace_back(b[i], false);
  }
  std::sort(all.begin(), all.end(),
            [](const auto& x, const auto& y) { return x.first < y.first; });
  double rank_sum_a = 0.0;
  double tie_term = 0.0;
  const std::size_t n = all.size();
  for (std::size_t i = 0; i < n;) {
    std::size_t j = i + 1;
    while (j < n && all[j].first == all[i].first) ++j;
    const double t = static_cast<double>(j - i);
    const double midrank = (static_cast<double>(i + 1) + static_cast<double>(j)) / 2.0;
    std::size_t in_a = 0;
    for (std::size_t k = i; k < j; ++k) in_a += all[k].second ? 1U : 0U;
    rank_sum_a += midrank * static_cast<double>(in_a);
    tie_term += t * t * t - t;
    i = j;
  }
  const double n1 = static_cast<double>(na);
  const double n2 = static_cast<double>(nb);
  const double nn = n1 + n2;
  MannWhitneyResult r;
  const double u1 = rank_sum_a - n1 * (n1 + 1.0) / 2.0;
  const double u2 = n1 * n2 - u1;
  r.statistic = u1;
  double u = std::max(u1, u2);
  if (alternative == Alternative::greater) u = u1;
  if (alternative == Alternative::less) u = u2;
  const double s = std::sqrt(n1 * n2 / 12.0 * ((nn + 1.0) - tie_term / (nn * (nn - 1.0))));
  if (!(s > 0.0)) {
    throw std::invalid_argument("Mann-Whitney U is undefined when every value is tied");
  }
  r.z = (u - n1 * n2 / 2.0 - (continuity ? 0.5 : 0.0)) / s;
  const boost::math::normal standard;
  const double p = boost::math::cdf(boost::math::complement(standard, r.z));
  r.pvalue = std::clamp(alternative == Alternative::two_sided ? 2.0 * p : p, 0.0, 1.0);
  return r;
}

ChiSquareResult srm_test(const double* observed, const double* expected_weights,
                         std::size_t k) {
  if (k < 2) {
    throw std::invalid_argument("srm_test needs at least 2 groups, got " + std::to_string(k));
  }
  double total = 0.0;
  double weight_total = 0.0;
  for (std::size_t i = 0; i < k; ++i) {
    if (!std::isfinite(observed[i]) || observed[i] < 0.0) {
      throw std::invalid_argument("observed_counts[" + std::to_string(i) +
                                  "] must be finite and >= 0, got " + fmt(observed[i]));
    }
    if (!std::isfinite(expected_weights[i]) || !(expected_weights[i] > 0.0)) {
      throw std::invalid_argument("expected_weights[" + std::to_string(i) +
                                  "] must be finite and > 0, got " +
                                  fmt(expected_weights[i]));
    }
    total += observed[i];
    weight_total += expected_weights[i];
  }
  if (!(total > 0.0)) throw std::invalid_argument("observed_counts must not all be 0");
  ChiSquareResult r;
  for (std::size_t i = 0; i < k; ++i) {
    const double expected = total * expected_weights[i] / weight_total;
    const double diff = observed[i] - expected;
    r.statistic += diff * diff / expected;
  }
  r.df = static_cast<double>(k - 1);
  const boost::math::chi_squared dist(r.df);
  r.pvalue = boost::math::cdf(boost::math::complement(dist, r.statistic));
  return r;
}

double t_test_power(double effect, double sd, double n_a, double n_b, double alpha,
                    Alternative alternative) {
  if (!std::isfinite(effect)) {
    throw std::invalid_argument("effect must be finite, got " + fmt(effect));
  }
  if (!(sd > 0.0) || !std::isfinite(sd)) {
    throw std::invalid_argument("sd must be finite and > 0, got " + fmt(sd));
  }
  if (!(n_a >= 2.0) || !std::isfinite(n_a)) {
    throw std::invalid_argument("n_a must be finite and >= 2, got " + fmt(n_a));
  }
  if (!(n_b >= 2.0) || !std::isfinite(n_b)) {
    throw std::invalid_argument("n_b must be finite and >= 2, got " + fmt(n_b));
  }
  if (!(alpha > 0.0 && alpha < 1.0)) {
    throw std::invalid_argument("alpha must be in (0, 1), got " + fmt(alpha));
  }
  const double df = n_a + n_b - 2.0;
  const double nc = effect / sd * std::sqrt(1.0 / (1.0 / n_a + 1.0 / n_b));
  const boost::math::students_t central(df);
  const boost::math::non_central_t shifted(df, nc);
  const double tail = alternative == Alternative::two_sided ? alpha / 2.0 : alpha;
  // P(T' > c) for a noncentral t with |nc| >= 40 max(|c|, 1): T' = (Z + nc) / S with
  // S = sqrt(chi2_df / df) falls on the other side of c only if |Z| > |nc| / 2 or
  // S > |nc| / (2 |c|) >= 20, each below 1e-80 for df >= 2: the tail is exactly 0 or 1
  // in double. Boost's series fails for such |nc| (near-constant data, sd ~ 1e-16).
  const auto decided = [nc](double c) { return std::abs(nc) >= 40.0 * std::max(std::abs(c), 1.0); };
  double result = 0.0;
  if (alternative != Alternative::less) {
    const double upper = boost::math::quantile(boost::math::complement(central, tail));
    result += decided(upper) ? (nc > 0.0 ? 1.0 : 0.0)
                             : boost::math::cdf(boost::math::complement(shifted, upper));
  }
  if (alternative != Alternative::greater) {
    const double lower = boost::math::quantile(central, tail);
    result += decided(lower) ? (nc < 0.0 ? 1.0 : 0.0) : boost::math::cdf(shifted, lower);
  }
  return result;
}

double required_sample_size(double effect, double sd, double alpha, double power,
                            double ratio, Alternative alternative) {
  if (!(ratio > 0.0) || !std::isfinite(ratio)) {
    throw std::invalid_argument("ratio must be finite and > 0, got " + fmt(ratio));
  }
  if (!(power > 0.0 && power < 1.0)) {
    throw std::invalid_argument("power must be in (0, 1), got " + fmt(power));
  }
  if (effect == 0.0) throw std::invalid_argument("effect must be nonzero, got 0");
  if ((alternative == Alternative::greater && effect < 0.0) ||
      (alternative == Alternative::less && effect > 0.0)) {
    throw std::invalid_argument("power " + fmt(power) + " is not reached with any sample size: " +
                                "effect " + fmt(effect) + " points against the alternative");
  }
  auto gap = [&](double n_a) {
    return t_test_power(effect, sd, n_a, ratio * n_a, alpha, alternative) - power;
  };
  double lo = std::max(2.0, 2.0 / ratio);
  // 2 / ratio * ratio can round below 2; step up until group b really has 2 observations.
  while (ratio * lo < 2.0) lo = std::nextafter(lo, std::numeric_limits<double>::infinity());
  const double at_lo = gap(lo);
  if (at_lo >= 0.0) return lo;
  double hi = 2.0 * lo;
  double at_hi = gap(hi);
  while (at_hi < 0.0) {
    if (hi > 1e12) {
      throw std::invalid_argument(
          "power " + fmt(power) + " is not reached with any sample size (effect " +
          fmt(effect) + " in the wrong direction for the alternative?)");
    }
    lo = hi;
    hi *= 2.0;
    at_hi = gap(hi);
  }
  std::uintmax_t iterations = 200;
  const auto bracket = boost::math::tools::toms748_solve(
      gap, lo, hi, gap(lo), at_hi, boost::math::tools::eps_tolerance<double>(50), iterations);
  return (bracket.first + bracket.second) / 2.0;
}

}  // namespace perfstats
