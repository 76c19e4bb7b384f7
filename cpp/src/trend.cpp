// Polynomial-plus-seasonal trend on centred, power-of-two-scaled time (see trend.hpp).
#include "perfstats/trend.hpp"

#include <boost/math/constants/constants.hpp>
#include <boost/math/distributions/students_t.hpp>

#include <algorithm>
#include <cmath>
#include <sstream>
#include <stdexcept>
#include <utility>

#include "perfstats/detail/parallel.hpp"

namespace perfstats {
namespace {

using Eigen::Index;

std::string show(double v) {
  std::ostringstream os;
  os.precision(17);
  os << v;
  return os.str();
}

void check_t(const Eigen::Ref<const Eigen::VectorXd>& t, const char* name) {
  // x - x is 0 for finite x and NaN otherwise: one vectorised sum clears the usual case,
  // the loop below names the row.
  if ((t.array() - t.array()).sum() == 0.0) return;
  for (Index i = 0; i < t.size(); ++i) {
    if (!std::isfinite(t(i))) {
      throw std::invalid_argument(std::string(name) + " must be finite, got " + show(t(i)) +
                                  " at row " + std::to_string(i));
    }
  }
}

TrendSpec validated(const TrendSpec& spec) {
  if (spec.degree < 1) {
    throw std::invalid_argument("degree must be >= 1, got " + std::to_string(spec.degree));
  }
  if (spec.harmonics < 0) {
    throw std::invalid_argument("harmonics must be >= 0, got " +
                                std::to_string(spec.harmonics));
  }
  if (spec.seasonal_period != 0.0) {
    if (!(spec.seasonal_period > 0) || !std::isfinite(spec.seasonal_period)) {
      throw std::invalid_argument("seasonal_period must be positive and finite, got " +
                                  show(spec.seasonal_period));
    }
    if (spec.harmonics == 0) {
      throw std::invalid_argument("harmonics must be >= 1 when seasonal_period is given");
    }
  } else if (spec.harmonics > 0) {
    throw std::invalid_argument("harmonics = " + std::to_string(spec.harmonics) +
                                " needs a seasonal_period");
  }
  return spec;
}

// Minimum and maximum of t, which must be finite and non-empty: one pass over t, in
// chunks that stay in cache for the three reductions.
std::pair<double, double> finite_range(const Eigen::Ref<const Eigen::VectorXd>& t) {
  if (t.size() == 0) {
    check_t(t, "t");
    throw std::invalid_argument("t is empty");
  }
  constexpr Index kChunk = 4096;
  double lo = t(0);
  double hi = t(0);
  for (Index begin = 0; begin < t.size(); begin += kChunk) {
    const auto c = t.segment(begin, std::min(kChunk, t.size() - begin)).array();
    if (!((c - c).sum() == 0.0)) check_t(t, "t");  // throws, naming the row
    lo = std::min(lo, c.minCoeff());
    hi = std::max(hi, c.maxCoeff());
  }
  return {lo, hi};
}

// Smallest power of two >= half the range of t, so scaled time lies in [-1, 1].
long double half_range_scale(double lo, double hi) {
  const long double half = (static_cast<long double>(hi) - lo) / 2;
  if (!(half > 0)) {
    throw std::invalid_argument("t has a single distinct value (" + show(lo) +
                                "): a trend needs at least two distinct times");
  }
  int e = 0;
  const long double m = std::frexp(half, &e);
  return m == 0.5L ? std::ldexp(1.0L, e - 1) : std::ldexp(1.0L, e);
}

// Rows [1, z, ..., z^d, sin, cos, ...] with z = (t - centre) / scale in long double.
class TrendRows final : public DesignRows {
 public:
  TrendRows(const Eigen::Ref<const Eigen::VectorXd>& t, long double centre, long double scale,
            const TrendSpec& spec)
      : t_(t), centre_(centre), inv_scale_(1.0L / scale), spec_(spec) {}
  Index rows() const override { return t_.size(); }
  Index cols() const override { return spec_.degree + 1 + 2 * spec_.harmonics; }
  void fill(Index begin, Index count, MatrixXld& out) const override {
    const int d = spec_.degree;
    const long double two_pi = boost::math::constants::two_pi<long double>();
    // Column by column (z^k = z^(k-1) z, the same products as row by row): no inner
    // loop per row.
    const double* t = t_.data() + begin;
    long double* c0 = out.col(0).data();
    for (Index i = 0; i < count; ++i) c0[i] = 1;
    long double* c1 = out.col(1).data();
    // scale is a power of two, so multiplying by its inverse is exact
    for (Index i = 0; i < count; ++i) {
      c1[i] = (static_cast<long double>(t[i]) - centre_) * inv_scale_;
    }
    for (int k = 2; k <= d; ++k) {
      long double* ck = out.col(k).data();
      const long double* prev = out.col(k - 1).data();
      for (Index i = 0; i < count; ++i) ck[i] = prev[i] * c1[i];
    }
    if (spec_.harmonics == 0) return;
    for (Index i = 0; i < count; ++i) {
      // fmod is exact, so the phase keeps its digits even for epoch-second times.
      const long double phase =
          static_cast<long double>(std::fmod(t[i], spec_.seasonal_period)) /
          spec_.seasonal_period;
      for (int h = 1; h <= spec_.harmonics; ++h) {
        const long double angle = two_pi * static_cast<long double>(h) * phase;
        out(i, d + 2 * h - 1) = std::sin(angle);
        out(i, d + 2 * h) = std::cos(angle);
      }
    }
  }
  Error double_rows_error() const override {
    // z = ((t - hi) - lo) / scale is within 2u (1 + 2u) of the exact scaled time (t - hi
    // is exact unless |t - hi| >= hi / 2 >> |lo|); each power adds the error of z plus a
    // rounding, so z^d is within (3d - 1) u. sin and cos: the phase, 2 pi h and the angle
    // are each rounded (relative u, angle <= 2 pi h) and glibc's sin/cos are within an
    // ulp, so the entries are within (8 pi h + 2) u, absolute.
    const double u = 0x1p-53;
    const double pi = boost::math::constants::pi<double>();
    return {(3.0 * spec_.degree + 1.0) * u,
            spec_.harmonics > 0 ? (8.0 * pi * spec_.harmonics + 2.0) * u : 0.0};
  }
  void fill_double(Index begin, Index count, Eigen::Ref<Eigen::MatrixXd> out) const override {
    // centre = hi + lo exactly enough: (t - hi) - lo keeps z to double precision.
    const double hi = static_cast<double>(centre_);
    const double lo = static_cast<double>(centre_ - hi);
    const double inv = static_cast<double>(inv_scale_);
    const int d = spec_.degree;
    const double two_pi = boost::math::constants::two_pi<double>();
    // Column by column (z^k = z^(k-1) z, the same products as row by row) so the loops
    // vectorise.
    const double* t = t_.data() + begin;
    double* c0 = out.col(0).data();
    for (Index i = 0; i < count; ++i) c0[i] = 1.0;
    double* c1 = out.col(1).data();  // degree >= 1
    for (Index i = 0; i < count; ++i) c1[i] = ((t[i] - hi) - lo) * inv;
    for (int k = 2; k <= d; ++k) {
      double* ck = out.col(k).data();
      const double* prev = out.col(k - 1).data();
      for (Index i = 0; i < count; ++i) ck[i] = prev[i] * c1[i];
    }
    if (spec_.harmonics == 0) return;
    for (Index i = 0; i < count; ++i) {
      const double phase = std::fmod(t[i], spec_.seasonal_period) / spec_.seasonal_period;
      for (int h = 1; h <= spec_.harmonics; ++h) {
        const double angle = two_pi * static_cast<double>(h) * phase;
        out(i, d + 2 * h - 1) = std::sin(angle);
        out(i, d + 2 * h) = std::cos(angle);
      }
    }
  }

 private:
  const Eigen::Ref<const Eigen::VectorXd>& t_;
  long double centre_;
  long double inv_scale_;
  TrendSpec spec_;
};

}  // namespace

struct TrendModel::Checked {
  TrendSpec spec;
  std::pair<double, double> range;
};

TrendModel::TrendModel(const Eigen::Ref<const Eigen::VectorXd>& t,
                       const Eigen::Ref<const Eigen::VectorXd>& y, TrendSpec spec,
                       const Eigen::Ref<const Eigen::VectorXd>& weights)
    : TrendModel(t, y, Checked{validated(spec), finite_range(t)}, weights) {}

TrendModel::TrendModel(const Eigen::Ref<const Eigen::VectorXd>& t,
                       const Eigen::Ref<const Eigen::VectorXd>& y, const Checked& checked,
                       const Eigen::Ref<const Eigen::VectorXd>& weights)
    : spec_(checked.spec),
      t_min_(checked.range.first),
      t_max_(checked.range.second),
      centre_((static_cast<long double>(t_min_) + t_max_) / 2),
      scale_(half_range_scale(t_min_, t_max_)),
      model_(fit(*this, t, y, weights)) {}

LinearModel TrendModel::fit(const TrendModel& self, const Eigen::Ref<const Eigen::VectorXd>& t,
                            const Eigen::Ref<const Eigen::VectorXd>& y,
                            const Eigen::Ref<const Eigen::VectorXd>& weights) {
  const TrendRows rows(t, self.centre_, self.scale_, self.spec_);
  DesignBasis basis;
  basis.rows = &rows;
  const Index p = rows.cols();
  const int d = self.spec_.degree;
  // Reported b_j = sum_k c_k C(k, j) (-centre)^(k - j) / scale^k: the binomial expansion of
  // ((t - centre) / scale)^k, in long double because its terms cancel.
  basis.to_reported = MatrixXld::Identity(p, p);
  for (int k = 0; k <= d; ++k) {
    long double binom = 1;  // C(k, j), j = k down to 0
    long double power = 1;  // (-centre)^(k - j)
    const long double inv_scale_k = std::pow(self.scale_, -static_cast<long double>(k));
    for (int j = k; j >= 0; --j) {
      basis.to_reported(j, k) = binom * power * inv_scale_k;
      binom = binom * static_cast<long double>(j) / static_cast<long double>(k - j + 1);
      power *= -self.centre_;
    }
  }
  basis.has_constant = true;
  basis.keep_residuals = false;  // residuals(t, y) recomputes them on demand
  return LinearModel(basis, y, weights);
}

std::vector<std::string> TrendModel::names() const {
  std::vector<std::string> out{"intercept", "t"};
  for (int k = 2; k <= spec_.degree; ++k) out.push_back("t^" + std::to_string(k));
  for (int h = 1; h <= spec_.harmonics; ++h) {
    out.push_back("sin" + std::to_string(h));
    out.push_back("cos" + std::to_string(h));
  }
  return out;
}

Prediction TrendModel::predict(const Eigen::Ref<const Eigen::VectorXd>& t_new,
                               IntervalKind kind, double level) const {
  Prediction out;
  out.mean.resize(t_new.size());
  out.se.resize(t_new.size());
  out.lower.resize(t_new.size());
  out.upper.resize(t_new.size());
  predict_into(t_new, kind, level, {out.mean, out.se, out.lower, out.upper});
  return out;
}

void TrendModel::predict_into(const Eigen::Ref<const Eigen::VectorXd>& t_new,
                              IntervalKind kind, double level, PredictionOut out) const {
  if (spec_.harmonics > 0) {
    check_t(t_new, "t_new");
    model_.predict_design_into(TrendRows(t_new, centre_, scale_, spec_), kind, level, out);
    return;
  }
  const Index m = t_new.size();
  const bool with_se = out.se.size() > 0;
  if (out.mean.size() != m || (with_se && out.se.size() != m) || out.lower.size() != m ||
      out.upper.size() != m) {
    throw std::invalid_argument("prediction outputs must have " + std::to_string(m) +
                                " entries each (se may be empty)");
  }
  const double q = model_.t_quantile(level);
  // mean(z) = sum_k c_k z^k; var(z) = s^2 sum_{j,k} C_jk z^(j+k) (+ s^2 for a new
  // observation). Horner's rule on either is within (2d + 1) u of sum |terms|, the bound
  // of the dot products it replaces, and needs no row of powers.
  const int d = spec_.degree;
  const VectorXld& coef = model_.internal_coefficients();
  const MatrixXld& cov = model_.internal_unscaled_covariance();
  const long double s2 = model_.residual_variance();
  Eigen::ArrayXd c(d + 1);
  for (int k = 0; k <= d; ++k) c(k) = static_cast<double>(coef(k));
  Eigen::ArrayXd v(2 * d + 1);
  for (int mm = 0; mm <= 2 * d; ++mm) {
    long double sum = mm == 0 && kind == IntervalKind::prediction ? 1.0L : 0.0L;
    for (int j = std::max(0, mm - d); j <= std::min(d, mm); ++j) sum += cov(j, mm - j);
    v(mm) = static_cast<double>(s2 * sum);
  }
  // centre = hi + lo: (t - hi) - lo keeps z to double precision, as in TrendRows.
  const double hi = static_cast<double>(centre_);
  const double lo = static_cast<double>(centre_ - hi);
  const double inv = static_cast<double>(1.0L / scale_);
  constexpr Index kChunk = 1024;  // the working arrays stay in L1
  // Rows are independent: large inputs are split between threads (same results).
  const auto sweep = [&](std::size_t first, std::size_t last) {
    Eigen::ArrayXd z(kChunk);
    Eigen::ArrayXd var(kChunk);
    Eigen::ArrayXd se_chunk(with_se ? 0 : kChunk);
    const auto end = static_cast<Index>(last);
    for (auto begin = static_cast<Index>(first); begin < end; begin += kChunk) {
      const Index count = std::min(kChunk, end - begin);
      auto zc = z.head(count);
      zc = ((t_new.segment(begin, count).array() - hi) - lo) * inv;
      // z is finite exactly when t is (checked here, in cache, rather than in a pass of
      // its own; the outputs are the caller's to discard when this throws)
      if (!((zc - zc).sum() == 0.0)) check_t(t_new, "t_new");
      auto mean = out.mean.segment(begin, count).array();
      auto vc = var.head(count);
      mean = c(d) * zc + c(d - 1);
      for (int k = d - 2; k >= 0; --k) mean = mean * zc + c(k);
      vc = v(2 * d) * zc + v(2 * d - 1);
      for (int k = 2 * d - 2; k >= 0; --k) vc = vc * zc + v(k);
      Eigen::Map<Eigen::ArrayXd> se(with_se ? out.se.data() + begin : se_chunk.data(), count);
      se = vc.max(0.0).sqrt();
      out.lower.segment(begin, count).array() = mean - q * se;
      out.upper.segment(begin, count).array() = mean + q * se;
    }
  };
  const auto rows = static_cast<std::size_t>(m);
  detail::parallel_ranges(rows, kChunk, detail::thread_count(0, rows), sweep);
}

Eigen::VectorXd TrendModel::residuals(const Eigen::Ref<const Eigen::VectorXd>& t,
                                      const Eigen::Ref<const Eigen::VectorXd>& y) const {
  if (y.size() != t.size()) {
    throw std::invalid_argument("y has " + std::to_string(y.size()) + " rows but t has " +
                                std::to_string(t.size()));
  }
  check_t(t, "t");
  const TrendRows rows(t, centre_, scale_, spec_);
  const VectorXld& coef = model_.internal_coefficients();
  constexpr Index kChunk = 512;
  MatrixXld block(std::min(kChunk, t.size()), rows.cols());
  Eigen::VectorXd out(t.size());
  for (Index begin = 0; begin < t.size(); begin += kChunk) {
    const Index count = std::min(kChunk, t.size() - begin);
    rows.fill(begin, count, block);
    for (Index i = 0; i < count; ++i) {
      long double r = y(begin + i);
      for (Index k = 0; k < coef.size(); ++k) r -= block(i, k) * coef(k);
      out(begin + i) = static_cast<double>(r);
    }
  }
  return out;
}

TrendSlope TrendModel::slope_at(double t) const {
  if (!std::isfinite(t)) throw std::invalid_argument("t must be finite, got " + show(t));
  const Index p = static_cast<Index>(model_.num_params());
  VectorXld g = VectorXld::Zero(p);
  const long double z = (static_cast<long double>(t) - centre_) / scale_;
  long double zk = 1;  // z^(k-1)
  for (int k = 1; k <= spec_.degree; ++k) {
    g(k) = static_cast<long double>(k) * zk / scale_;
    zk *= z;
  }
  TrendSlope s;
  s.estimate = model_.internal_contrast(g);
  s.se = model_.internal_contrast_se(g);
  s.t = s.se > 0 ? s.estimate / s.se
                 : (s.estimate == 0 ? 0.0 : std::copysign(HUGE_VAL, s.estimate));
  if (std::isinf(s.t)) {
    s.pvalue = 0.0;
  } else {
    const boost::math::students_t dist(model_.df_resid());
    s.pvalue = 2.0 * boost::math::cdf(boost::math::complement(dist, std::fabs(s.t)));
  }
  return s;
}

}  // namespace perfstats
