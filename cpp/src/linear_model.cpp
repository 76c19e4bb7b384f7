// Least squares by pivoted QR with extended-precision refinement (see linear_model.hpp).
#include "perfstats/linear_model.hpp"

#include <boost/math/distributions/students_t.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace perfstats {
namespace {

using Eigen::Index;

std::string show(double v) {
  std::ostringstream os;
  os.precision(17);
  os << v;
  return os.str();
}

// Power of two nearest the root mean square of a column: scaling by it is exact.
long double power_of_two_scale(const MatrixXld& a, Index j) {
  const long double rms = std::sqrt(a.col(j).squaredNorm() / static_cast<long double>(a.rows()));
  if (!(rms > 0) || !std::isfinite(rms)) return 1;
  int e = 0;
  (void)std::frexp(rms, &e);
  return std::ldexp(1.0L, e);
}

struct Solution {
  VectorXld coef;          // internal basis
  MatrixXld unscaled_cov;  // (A'A)^-1, internal basis
  VectorXld residuals;     // b - A coef, weighted
};

// Relative size of the smallest pivot below which a column counts as dependent. Above
// this the double factorisation still preconditions the long double refinement well.
constexpr double kRankThreshold = 1e-11;
constexpr int kMaxRefinements = 12;
constexpr long double kConvergedRelative = 1e-13L;

// Least squares min ||b - A c|| for A (n x p) of full column rank. Large inputs make
// every pass count, so the long double loops below are written out and fused.
Solution solve(MatrixXld a, const VectorXld& b) {
  const Index n = a.rows();
  const Index p = a.cols();
  VectorXld scale(p);
  for (Index j = 0; j < p; ++j) {
    scale(j) = power_of_two_scale(a, j);
    a.col(j) /= scale(j);
  }
  Eigen::MatrixXd ad = a.cast<double>();
  // In place: the factorisation overwrites `ad` rather than copying it.
  Eigen::ColPivHouseholderQR<Eigen::Ref<Eigen::MatrixXd>> qr(ad);
  qr.setThreshold(kRankThreshold);
  if (qr.rank() < p) {
    std::ostringstream os;
    os << "design matrix is rank deficient: rank " << qr.rank() << " of " << p
       << " columns; column(s)";
    const auto& perm = qr.colsPermutation().indices();
    for (Index k = qr.rank(); k < p; ++k) os << ' ' << perm(k);
    os << " (0-based, intercept first) are linear combinations of the others";
    throw std::invalid_argument(os.str());
  }
  const auto r = qr.matrixR().topLeftCorner(p, p).triangularView<Eigen::Upper>();
  const auto& perm = qr.colsPermutation();

  // One step of Bjorck's refinement: solves [I A; A' 0][dr; dx] = [f; g] with the QR.
  // On return f holds dr.
  auto step = [&](Eigen::VectorXd& f, const Eigen::VectorXd& g, Eigen::VectorXd& dx) {
    const Eigen::VectorXd u = r.transpose().solve(perm.transpose() * g);
    f.applyOnTheLeft(qr.householderQ().adjoint());
    dx = perm * r.solve(f.head(p) - u).eval();
    f.head(p) = u;
    f.applyOnTheLeft(qr.householderQ());
  };

  VectorXld x(p);
  VectorXld res(n);
  Eigen::VectorXd f = b.cast<double>();
  Eigen::VectorXd g = Eigen::VectorXd::Zero(p);
  Eigen::VectorXd dx;
  step(f, g, dx);
  x = dx.cast<long double>();
  for (Index i = 0; i < n; ++i) res(i) = f(i);
  std::vector<long double> gl(static_cast<std::size_t>(p));
  long double previous = std::numeric_limits<long double>::infinity();
  for (int it = 0; it < kMaxRefinements; ++it) {
    // f = b - res - A x and g = -A' res, accumulated in long double.
    std::fill(gl.begin(), gl.end(), 0.0L);
    for (Index i = 0; i < n; ++i) {
      long double acc = b(i) - res(i);
      for (Index k = 0; k < p; ++k) {
        const long double aik = a(i, k);
        acc -= aik * x(k);
        gl[static_cast<std::size_t>(k)] -= aik * res(i);
      }
      f(i) = static_cast<double>(acc);
    }
    for (Index k = 0; k < p; ++k) g(k) = static_cast<double>(gl[static_cast<std::size_t>(k)]);
    step(f, g, dx);
    for (Index k = 0; k < p; ++k) x(k) += dx(k);
    for (Index i = 0; i < n; ++i) res(i) += f(i);
    const long double change = dx.cwiseAbs().maxCoeff();
    const long double size = x.cwiseAbs().maxCoeff();
    if (!(change > 8 * std::numeric_limits<long double>::epsilon() * size)) break;
    if (change > 0.5L * previous) {
      // Stagnation at the rounding floor of the long double residuals is convergence;
      // a large correction that stops shrinking means the double factorisation cannot
      // precondition the problem.
      if (change < kConvergedRelative * size) break;
      throw std::domain_error(
          "least squares refinement does not converge: the design is too ill-conditioned "
          "(nearly collinear columns)");
    }
    previous = change;
  }
  // The residual of the refined solution, recomputed in long double, and the Gram matrix.
  MatrixXld gram = MatrixXld::Zero(p, p);
  for (Index i = 0; i < n; ++i) {
    long double acc = b(i);
    for (Index k = 0; k < p; ++k) acc -= a(i, k) * x(k);
    res(i) = acc;
  }
  for (Index j = 0; j < p; ++j) {
    for (Index k = 0; k <= j; ++k) {
      long double acc = 0;
      const long double* cj = a.col(j).data();
      const long double* ck = a.col(k).data();
      for (Index i = 0; i < n; ++i) acc += cj[i] * ck[i];
      gram(j, k) = acc;
      gram(k, j) = acc;
    }
  }

  // (A'A)^-1 refined as X <- X + M (I - G X), M the double inverse from R, G in long double.
  Eigen::MatrixXd rinv = r.solve(Eigen::MatrixXd::Identity(p, p));
  const Eigen::MatrixXd m0 = perm * (rinv * rinv.transpose()) * perm.transpose();
  const MatrixXld m = m0.cast<long double>();
  MatrixXld inv = m;
  previous = std::numeric_limits<long double>::infinity();
  for (int it = 0; it < kMaxRefinements; ++it) {
    const MatrixXld e = MatrixXld::Identity(p, p) - gram * inv;
    const MatrixXld delta = m * e;
    inv += delta;
    const long double change = delta.cwiseAbs().maxCoeff();
    const long double size = inv.cwiseAbs().maxCoeff();
    if (!(change > 8 * std::numeric_limits<long double>::epsilon() * size)) break;
    if (change > 0.5L * previous) {
      if (change < kConvergedRelative * size) break;
      throw std::domain_error(
          "refinement of the coefficient covariance does not converge: the design is too "
          "ill-conditioned (nearly collinear columns)");
    }
    previous = change;
  }
  inv = (0.5L * (inv + inv.transpose())).eval();

  Solution s;
  s.coef = x.cwiseQuotient(scale);
  s.unscaled_cov = scale.cwiseInverse().asDiagonal() * inv * scale.cwiseInverse().asDiagonal();
  s.residuals = std::move(res);
  return s;
}

void check_finite(const Eigen::Ref<const Eigen::VectorXd>& v, const char* name) {
  for (Index i = 0; i < v.size(); ++i) {
    if (!std::isfinite(v(i))) {
      throw std::invalid_argument(std::string(name) + " must be finite, got " + show(v(i)) +
                                  " at row " + std::to_string(i));
    }
  }
}

double t_two_sided_p(double t, double df) {
  if (std::isnan(t)) return std::numeric_limits<double>::quiet_NaN();
  if (std::isinf(t)) return 0.0;
  const boost::math::students_t dist(df);
  return 2.0 * boost::math::cdf(boost::math::complement(dist, std::fabs(t)));
}

}  // namespace

LinearModel::LinearModel(const Eigen::Ref<const Eigen::MatrixXd>& x,
                         const Eigen::Ref<const Eigen::VectorXd>& y, bool intercept,
                         const Eigen::Ref<const Eigen::VectorXd>& weights)
    : intercept_(intercept) {
  const Index n = x.rows();
  const Index k = x.cols();
  if (y.size() != n) {
    throw std::invalid_argument("y has " + std::to_string(y.size()) + " rows but x has " +
                                std::to_string(n));
  }
  for (Index j = 0; j < k; ++j) {
    for (Index i = 0; i < n; ++i) {
      if (!std::isfinite(x(i, j))) {
        throw std::invalid_argument("x must be finite, got " + show(x(i, j)) + " at row " +
                                    std::to_string(i) + ", column " + std::to_string(j));
      }
    }
  }
  const Index p = k + (intercept ? 1 : 0);
  if (p == 0) throw std::invalid_argument("model has no columns: x is empty and no intercept");
  DesignBasis basis;
  basis.columns.resize(n, p);
  basis.to_reported = MatrixXld::Identity(p, p);
  basis.has_constant = intercept;
  centre_ = VectorXld::Zero(k);
  const Index off = intercept ? 1 : 0;
  if (intercept) basis.columns.col(0).setOnes();
  for (Index j = 0; j < k; ++j) {
    VectorXld col = x.col(j).cast<long double>();
    if (intercept && n > 0) {
      // Centring removes the collinearity of each column with the constant.
      centre_(j) = col.sum() / static_cast<long double>(n);
      col.array() -= centre_(j);
      basis.to_reported(0, off + j) = -centre_(j);
    }
    basis.columns.col(off + j) = col;
  }
  fit(std::move(basis), y, weights);
}

LinearModel::LinearModel(DesignBasis basis, const Eigen::Ref<const Eigen::VectorXd>& y,
                         const Eigen::Ref<const Eigen::VectorXd>& weights) {
  fit(std::move(basis), y, weights);
}

void LinearModel::fit(DesignBasis basis, const Eigen::Ref<const Eigen::VectorXd>& y,
                      const Eigen::Ref<const Eigen::VectorXd>& weights) {
  const Index n = basis.columns.rows();
  const Index p = basis.columns.cols();
  if (y.size() != n) {
    throw std::invalid_argument("y has " + std::to_string(y.size()) +
                                " rows but the design has " + std::to_string(n));
  }
  check_finite(y, "y");
  const bool weighted = weights.size() > 0;
  if (weighted) {
    if (weights.size() != n) {
      throw std::invalid_argument("weights has " + std::to_string(weights.size()) +
                                  " rows but y has " + std::to_string(n));
    }
    for (Index i = 0; i < n; ++i) {
      if (!(weights(i) > 0) || !std::isfinite(weights(i))) {
        throw std::invalid_argument("weights must be positive and finite, got " +
                                    show(weights(i)) + " at row " + std::to_string(i));
      }
    }
  }
  if (n <= p) {
    throw std::invalid_argument("too few observations: " + std::to_string(n) +
                                " rows for " + std::to_string(p) +
                                " parameters; need at least " + std::to_string(p + 1) +
                                " to estimate the residual variance");
  }
  nobs_ = static_cast<std::size_t>(n);
  has_constant_ = basis.has_constant;

  VectorXld yl = y.cast<long double>();
  VectorXld sw = VectorXld::Ones(n);
  if (weighted) {
    for (Index i = 0; i < n; ++i) sw(i) = std::sqrt(static_cast<long double>(weights(i)));
  }
  MatrixXld a = std::move(basis.columns);
  if (weighted) {
    a = sw.asDiagonal() * a;
  }
  const VectorXld b = sw.cwiseProduct(yl);
  Solution sol = solve(std::move(a), b);

  internal_coef_ = std::move(sol.coef);
  internal_unscaled_cov_ = std::move(sol.unscaled_cov);
  to_reported_ = std::move(basis.to_reported);

  const long double rss = sol.residuals.squaredNorm();
  scale_ = rss / static_cast<long double>(n - p);
  ssr_ = static_cast<double>(rss);
  residual_se_ = static_cast<double>(std::sqrt(scale_));
  long double tss = 0;
  if (has_constant_) {
    const long double wsum = sw.squaredNorm();
    const long double ybar = sw.cwiseProduct(b).sum() / wsum;
    tss = (b - ybar * sw).squaredNorm();
  } else {
    tss = b.squaredNorm();
  }
  r_squared_ = tss > 0 ? static_cast<double>(1.0L - rss / tss)
                       : std::numeric_limits<double>::quiet_NaN();
  residuals_ = sol.residuals.cwiseQuotient(sw).cast<double>();

  const VectorXld coef = to_reported_ * internal_coef_;
  const MatrixXld cov = scale_ * (to_reported_ * internal_unscaled_cov_ * to_reported_.transpose());
  coef_ = coef.cast<double>();
  cov_ = cov.cast<double>();
  se_ = cov.diagonal().cwiseMax(0.0L).cwiseSqrt().cast<double>();
}

Eigen::VectorXd LinearModel::t_values() const { return coef_.cwiseQuotient(se_); }

Eigen::VectorXd LinearModel::p_values() const {
  const Eigen::VectorXd t = t_values();
  Eigen::VectorXd p(t.size());
  for (Index i = 0; i < t.size(); ++i) p(i) = t_two_sided_p(t(i), df_resid());
  return p;
}

double LinearModel::adj_r_squared() const noexcept {
  const double n = static_cast<double>(nobs_);
  const double dfm = has_constant_ ? 1.0 : 0.0;
  return 1.0 - (n - dfm) / df_resid() * (1.0 - r_squared_);
}

double LinearModel::t_quantile(double level) const {
  if (!(level > 0 && level < 1)) {
    throw std::invalid_argument("level must be in (0, 1), got " + show(level));
  }
  const boost::math::students_t dist(df_resid());
  return boost::math::quantile(boost::math::complement(dist, (1.0 - level) / 2.0));
}

Prediction LinearModel::predict(const Eigen::Ref<const Eigen::MatrixXd>& x_new,
                                IntervalKind kind, double level) const {
  const Index k = centre_.size();
  if (x_new.cols() != k) {
    throw std::invalid_argument("x_new has " + std::to_string(x_new.cols()) +
                                " columns but the model was fitted on " + std::to_string(k));
  }
  const Index off = intercept_ ? 1 : 0;
  MatrixXld d(x_new.rows(), k + off);
  if (intercept_) d.col(0).setOnes();
  for (Index j = 0; j < k; ++j) {
    for (Index i = 0; i < x_new.rows(); ++i) {
      if (!std::isfinite(x_new(i, j))) {
        throw std::invalid_argument("x_new must be finite, got " + show(x_new(i, j)) +
                                    " at row " + std::to_string(i));
      }
      d(i, off + j) = static_cast<long double>(x_new(i, j)) - centre_(j);
    }
  }
  return predict_design(d, kind, level);
}

Prediction LinearModel::predict_design(const MatrixXld& design_new, IntervalKind kind,
                                       double level) const {
  const Index p = internal_coef_.size();
  if (design_new.cols() != p) {
    throw std::invalid_argument("design has " + std::to_string(design_new.cols()) +
                                " columns, expected " + std::to_string(p));
  }
  const double q = t_quantile(level);
  const Index m = design_new.rows();
  Prediction out;
  out.mean.resize(m);
  out.se.resize(m);
  out.lower.resize(m);
  out.upper.resize(m);
  const long double extra = kind == IntervalKind::prediction ? scale_ : 0.0L;
  // Plain loops: Eigen row expressions would allocate per row.
  for (Index i = 0; i < m; ++i) {
    long double mean = 0;
    long double quad = 0;
    for (Index j = 0; j < p; ++j) {
      const long double aj = design_new(i, j);
      mean += aj * internal_coef_(j);
      long double acc = 0;
      for (Index k = 0; k < p; ++k) acc += internal_unscaled_cov_(j, k) * design_new(i, k);
      quad += aj * acc;
    }
    const long double var = scale_ * quad + extra;
    const double se = static_cast<double>(std::sqrt(std::max(var, 0.0L)));
    out.mean(i) = static_cast<double>(mean);
    out.se(i) = se;
    out.lower(i) = static_cast<double>(mean - static_cast<long double>(q * se));
    out.upper(i) = static_cast<double>(mean + static_cast<long double>(q * se));
  }
  return out;
}

double LinearModel::internal_contrast(const VectorXld& g) const {
  return static_cast<double>(g.dot(internal_coef_));
}

double LinearModel::internal_contrast_se(const VectorXld& g) const {
  const long double var = scale_ * g.dot(internal_unscaled_cov_ * g);
  return static_cast<double>(std::sqrt(std::max(var, 0.0L)));
}

}  // namespace perfstats
