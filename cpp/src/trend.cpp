// Polynomial-plus-seasonal trend on centred, power-of-two-scaled time (see trend.hpp).
#include "perfstats/trend.hpp"

#include <boost/math/constants/constants.hpp>
#include <boost/math/distributions/students_t.hpp>

#include <cmath>
#include <sstream>
#include <stdexcept>

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
  for (Index i = 0; i < t.size(); ++i) {
    if (!std::isfinite(t(i))) {
      throw std::invalid_argument(std::string(name) + " must be finite, got " + show(t(i)) +
                                  " at row " + std::to_string(i));
    }
  }
}

TrendSpec validated(const TrendSpec& spec, const Eigen::Ref<const Eigen::VectorXd>& t) {
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
  check_t(t, "t");
  if (t.size() == 0) throw std::invalid_argument("t is empty");
  return spec;
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
  void fill_double(Index begin, Index count, Eigen::MatrixXd& out) const override {
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

TrendModel::TrendModel(const Eigen::Ref<const Eigen::VectorXd>& t,
                       const Eigen::Ref<const Eigen::VectorXd>& y, TrendSpec spec,
                       const Eigen::Ref<const Eigen::VectorXd>& weights)
    : spec_(validated(spec, t)),
      t_min_(t.minCoeff()),
      t_max_(t.maxCoeff()),
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
  check_t(t_new, "t_new");
  return model_.predict_design(TrendRows(t_new, centre_, scale_, spec_), kind, level);
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
