// Trend of a series over time: a polynomial in time plus optional Fourier seasonal terms.
//
// The fit works on time centred at the middle of the observed range and divided by a
// power of two covering half of it, so the polynomial columns stay well conditioned;
// coefficients are reported for powers of the caller's t, converted in long double.
#pragma once

#include <Eigen/Dense>

#include <cstddef>
#include <string>
#include <vector>

#include "perfstats/linear_model.hpp"

namespace perfstats {

struct TrendSpec {
  int degree = 1;                // polynomial degree in time, >= 1
  double seasonal_period = 0.0;  // period of the seasonal terms in units of t; 0: none
  int harmonics = 0;             // Fourier pairs sin/cos(2 pi h t / period), h = 1..harmonics
};

// Slope of the polynomial part at one time, with its standard error and two-sided test.
struct TrendSlope {
  double estimate = 0;
  double se = 0;
  double t = 0;
  double pvalue = 1;
};

class TrendModel {
 public:
  TrendModel(const Eigen::Ref<const Eigen::VectorXd>& t,
             const Eigen::Ref<const Eigen::VectorXd>& y, TrendSpec spec,
             const Eigen::Ref<const Eigen::VectorXd>& weights = Eigen::VectorXd());

  const LinearModel& model() const noexcept { return model_; }
  const TrendSpec& spec() const noexcept { return spec_; }
  // Names of the coefficients: "intercept", "t", "t^2", ..., "sin1", "cos1", ...
  std::vector<std::string> names() const;
  double t_min() const noexcept { return t_min_; }
  double t_max() const noexcept { return t_max_; }

  Prediction predict(const Eigen::Ref<const Eigen::VectorXd>& t_new, IntervalKind kind,
                     double level = 0.95) const;
  // The same into caller-owned outputs of t_new.size() entries each (out.se may be empty:
  // then the standard errors are not written, for pure polynomial trends). A pure polynomial
  // trend is evaluated in one sweep: the mean and the variance x0'(A'WA)^-1 x0 are
  // polynomials in scaled time, of degree d and 2d.
  void predict_into(const Eigen::Ref<const Eigen::VectorXd>& t_new, IntervalKind kind,
                    double level, PredictionOut out) const;
  // y - fitted at times t, evaluated in long double (the model keeps no residuals: its
  // caller holds the data). With the fitted t and y, the fit's residuals.
  Eigen::VectorXd residuals(const Eigen::Ref<const Eigen::VectorXd>& t,
                            const Eigen::Ref<const Eigen::VectorXd>& y) const;
  // d/dt of the polynomial part (seasonal terms excluded) at time t.
  TrendSlope slope_at(double t) const;

 private:
  struct Checked;  // the validated spec and the range of t, from one pass over t
  TrendModel(const Eigen::Ref<const Eigen::VectorXd>& t,
             const Eigen::Ref<const Eigen::VectorXd>& y, const Checked& checked,
             const Eigen::Ref<const Eigen::VectorXd>& weights);
  static LinearModel fit(const TrendModel& self, const Eigen::Ref<const Eigen::VectorXd>& t,
                         const Eigen::Ref<const Eigen::VectorXd>& y,
                         const Eigen::Ref<const Eigen::VectorXd>& weights);

  TrendSpec spec_;
  double t_min_ = 0;
  double t_max_ = 0;
  long double centre_ = 0;
  long double scale_ = 1;
  LinearModel model_;
};

}  // namespace perfstats
