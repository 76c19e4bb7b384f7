// Least-squares linear models: coefficients, their uncertainty, and interval predictions.
//
// The fit never solves the normal equations. Columns are centred (when there is an
// intercept) and factorised by Householder QR in double precision; the solution is then
// refined against residuals computed in long double, so the coefficients are those of the
// exactly represented problem even when the caller's basis is badly conditioned.
// Up to kDenseMaxRows rows the design is held whole, scaled by powers of two, factorised
// with column pivoting and refined on the augmented system (Bjorck). Larger designs are
// streamed in blocks: a blocked QR of [A y], then refinement with the corrected
// semi-normal equations (R'R dx = A'r, A'r accumulated in long double), so no n x p
// copy is ever made. Before that, a streamed design first tries a double-precision fast
// path (a tall-skinny Householder QR of the blocks, one refinement step with residuals
// in double) that it keeps only when a rigorous bound on its error, evaluated from the
// fit itself, is below kFastPathTolerance; otherwise it hands off to the
// extended-precision path.
#pragma once

#include <Eigen/Dense>

#include <cstddef>

namespace perfstats {

using MatrixXld = Eigen::Matrix<long double, Eigen::Dynamic, Eigen::Dynamic>;
using VectorXld = Eigen::Matrix<long double, Eigen::Dynamic, 1>;

// Which band `predict` returns: for the mean response, or for a new observation.
enum class IntervalKind { confidence, prediction };

struct Prediction {
  Eigen::VectorXd mean;     // fitted mean response
  Eigen::VectorXd se;       // standard error of the mean (confidence) or of a new observation
  Eigen::VectorXd lower;    // lower bound of the two-sided interval
  Eigen::VectorXd upper;    // upper bound of the two-sided interval
};

// Caller-owned outputs of a prediction, each as long as the rows predicted at (for
// writing straight into preallocated arrays); se may be empty, and is then not written.
// Passed by value: a const Eigen::Ref is read-only.
struct PredictionOut {
  Eigen::Ref<Eigen::VectorXd> mean;
  Eigen::Ref<Eigen::VectorXd> se;
  Eigen::Ref<Eigen::VectorXd> lower;
  Eigen::Ref<Eigen::VectorXd> upper;
};

// Rows of an internal design, produced on demand so large inputs need no n x p copy.
class DesignRows {
 public:
  virtual ~DesignRows() = default;
  virtual Eigen::Index rows() const = 0;
  virtual Eigen::Index cols() const = 0;
  // Writes rows [begin, begin + count) into out(0 .. count-1, :); out has >= count rows.
  virtual void fill(Eigen::Index begin, Eigen::Index count, MatrixXld& out) const = 0;
  // The same rows in double, for the factorisation and for predictions (the refinement
  // alone needs long double). By default the long double rows, rounded.
  virtual void fill_double(Eigen::Index begin, Eigen::Index count,
                           Eigen::Ref<Eigen::MatrixXd> out) const;
  // How far fill_double's rows may be from the exact design: entry (i, k) within
  // relative * |a_ik| + absolute. By default that of rounding the long double rows (with
  // room for their own rounding).
  struct Error {
    double relative = 0;
    double absolute = 0;
  };
  virtual Error double_rows_error() const;
};

// An internal design: columns the fit works in, and how its coefficients map to the
// caller's. Reported coefficients are `to_reported * internal`.
struct DesignBasis {
  const DesignRows* rows = nullptr;  // only read during construction
  MatrixXld to_reported;             // p x p
  bool has_constant = true;          // the model spans a constant: R^2 is centred
  // Keep the residuals (n doubles). A caller that can recompute them from its inputs
  // (TrendModel::residuals) saves the memory and the writes.
  bool keep_residuals = true;
};

// Designs up to this many rows are fitted whole (pivoted QR, augmented refinement).
constexpr Eigen::Index kDenseMaxRows = 20000;
// A streamed fit keeps its double-precision fast path only when the bound on the relative
// error of its coefficients (2-norm, internal basis) and of its residual sum of squares
// is below this: 2^-36, about 1.5e-11, so at least 10.8 correct digits (the accuracy
// bars are 9 digits on NIST StRD and 1e-8 against statsmodels). The bound grows with
// cond(A) and with ||b|| / ||r||: well-conditioned fits of noisy data pass; nearly
// collinear designs and nearly exact fits go to the extended-precision path. See
// fit_streaming_fast in linear_model.cpp for the argument.
constexpr double kFastPathTolerance = 0x1p-36;

class LinearModel {
 public:
  // Regresses y on the columns of x (n x k), plus a constant when `intercept`. `weights`
  // (empty: all ones) must be positive; they are inverse variances, as in statsmodels WLS.
  LinearModel(const Eigen::Ref<const Eigen::MatrixXd>& x,
              const Eigen::Ref<const Eigen::VectorXd>& y, bool intercept = true,
              const Eigen::Ref<const Eigen::VectorXd>& weights = Eigen::VectorXd());

  // Fits y on an internal basis prepared by the caller (see DesignBasis).
  LinearModel(const DesignBasis& basis, const Eigen::Ref<const Eigen::VectorXd>& y,
              const Eigen::Ref<const Eigen::VectorXd>& weights = Eigen::VectorXd());

  std::size_t nobs() const noexcept { return nobs_; }
  std::size_t num_params() const noexcept { return static_cast<std::size_t>(coef_.size()); }
  double df_resid() const noexcept { return static_cast<double>(nobs_ - num_params()); }
  bool has_constant() const noexcept { return has_constant_; }

  // In the caller's basis (intercept first when there is one).
  const Eigen::VectorXd& coefficients() const noexcept { return coef_; }
  const Eigen::VectorXd& standard_errors() const noexcept { return se_; }
  const Eigen::MatrixXd& covariance() const noexcept { return cov_; }
  Eigen::VectorXd t_values() const;
  // Two-sided p-values of t_values() on df_resid() degrees of freedom.
  Eigen::VectorXd p_values() const;

  double residual_std_error() const noexcept { return residual_se_; }
  double ssr() const noexcept { return ssr_; }
  // Centred R^2 with a constant, uncentred (sum of squares about zero) without one.
  double r_squared() const noexcept { return r_squared_; }
  double adj_r_squared() const noexcept;
  // residuals y - fitted (unweighted), in input order; empty when the basis did not
  // keep them
  const Eigen::VectorXd& residuals() const noexcept { return residuals_; }
  // Whether the fit was refined in extended precision (always for designs up to
  // kDenseMaxRows rows; for larger ones when the fast path's error bound was too large).
  bool extended_precision() const noexcept { return extended_precision_; }

  // The fit in its internal basis, for models that evaluate their own rows.
  const VectorXld& internal_coefficients() const noexcept { return internal_coef_; }
  // (A'WA)^-1 in the internal basis: times residual_variance() it is the covariance.
  const MatrixXld& internal_unscaled_covariance() const noexcept {
    return internal_unscaled_cov_;
  }
  long double residual_variance() const noexcept { return scale_; }

  // Intervals at rows of `x_new` (n_new x k, the caller's columns, no constant column).
  Prediction predict(const Eigen::Ref<const Eigen::MatrixXd>& x_new, IntervalKind kind,
                     double level = 0.95) const;
  // Intervals at rows of the internal design (n_new x p), for models built on a
  // DesignBasis that know how to map their inputs into it.
  Prediction predict_design(const DesignRows& design_new, IntervalKind kind,
                            double level = 0.95) const;
  // The same into caller-owned outputs of design_new.rows() entries each.
  void predict_design_into(const DesignRows& design_new, IntervalKind kind, double level,
                           PredictionOut out) const;

  // Estimate and standard error of g . internal_coefficients (g in the internal basis).
  double internal_contrast(const VectorXld& g) const;
  double internal_contrast_se(const VectorXld& g) const;

  // Two-sided t quantile for `level` on df_resid() degrees of freedom.
  double t_quantile(double level) const;

 private:
  void fit(const DesignBasis& basis, const Eigen::Ref<const Eigen::VectorXd>& y,
           const Eigen::Ref<const Eigen::VectorXd>& weights);

  std::size_t nobs_ = 0;
  bool has_constant_ = true;
  bool intercept_ = false;        // built from x with a constant column added
  VectorXld centre_;              // per caller column (x constructor only)
  VectorXld column_scale_;        // powers of two per caller column (x constructor only)
  VectorXld internal_coef_;       // coefficients in the internal basis
  MatrixXld internal_unscaled_cov_;  // (A' W A)^-1 in the internal basis
  MatrixXld to_reported_;
  Eigen::VectorXd coef_;
  Eigen::VectorXd se_;
  Eigen::MatrixXd cov_;
  Eigen::VectorXd residuals_;
  long double scale_ = 0;  // residual variance s^2
  double residual_se_ = 0;
  double ssr_ = 0;
  double r_squared_ = 0;
  bool extended_precision_ = true;
};

}  // namespace perfstats
