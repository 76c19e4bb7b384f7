// LinearModel and TrendModel against NIST StRD certified values and closed forms.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "perfstats/linear_model.hpp"
#include "perfstats/trend.hpp"

using perfstats::IntervalKind;
using perfstats::LinearModel;
using perfstats::TrendModel;
using perfstats::TrendSpec;

namespace {

// Digits of agreement with a certified value (absolute error when it is zero), <= 15.
double lre(double value, double certified) {
  if (value == certified) return 15.0;
  const double err = std::fabs(value - certified) / (certified != 0 ? std::fabs(certified) : 1.0);
  return std::min(15.0, -std::log10(err));
}

struct Nist {
  std::vector<double> coef;
  std::vector<double> sd;
  double residual_sd = 0;
  double r_squared = 0;
  Eigen::MatrixXd data;  // y, x1, x2, ...
  bool found = false;
};

// Reads a NIST StRD LLS file: "B<k> estimate sd" lines, residual SD, R^2, data block.
Nist read_nist(const std::string& path) {
  Nist out;
  std::ifstream in(path);
  if (!in) return out;
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  std::size_t data_start = 0;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    std::istringstream ss(lines[i]);
    std::string word;
    ss >> word;
    if (word.size() >= 2 && word[0] == 'B' && std::isdigit(static_cast<unsigned char>(word[1]))) {
      double b = 0;
      double s = 0;
      if (ss >> b >> s) {
        out.coef.push_back(b);
        out.sd.push_back(s);
      }
    } else if (word == "Standard" && lines[i].find("Deviation") != std::string::npos &&
               lines[i - 1].find("Residual") != std::string::npos) {
      std::string dev;
      ss >> dev >> out.residual_sd;
    } else if (word == "R-Squared") {
      ss >> out.r_squared;
    } else if (word == "Data:") {
      data_start = i + 1;
    }
  }
  std::vector<std::vector<double>> rows;
  for (std::size_t i = data_start; i < lines.size(); ++i) {
    std::istringstream ss(lines[i]);
    std::vector<double> row;
    for (double v = 0; ss >> v;) row.push_back(v);
    if (!row.empty()) rows.push_back(row);
  }
  out.data.resize(static_cast<Eigen::Index>(rows.size()),
                  static_cast<Eigen::Index>(rows.front().size()));
  for (std::size_t i = 0; i < rows.size(); ++i) {
    for (std::size_t j = 0; j < rows[i].size(); ++j) {
      out.data(static_cast<Eigen::Index>(i), static_cast<Eigen::Index>(j)) = rows[i][j];
    }
  }
  out.found = true;
  return out;
}

void expect_digits(const LinearModel& m, const Nist& d, double bar) {
  ASSERT_EQ(static_cast<std::size_t>(m.coefficients().size()), d.coef.size());
  for (std::size_t k = 0; k < d.coef.size(); ++k) {
    const auto i = static_cast<Eigen::Index>(k);
    EXPECT_GE(lre(m.coefficients()(i), d.coef[k]), bar) << "coefficient " << k;
    EXPECT_GE(lre(m.standard_errors()(i), d.sd[k]), bar) << "standard deviation " << k;
  }
  EXPECT_GE(lre(m.residual_std_error(), d.residual_sd), bar);
  EXPECT_GE(lre(m.r_squared(), d.r_squared), bar);
}

std::string shared(const std::string& name) {
  return std::string(PERFSTATS_SHARED_DATA) + "/nist/lls/" + name + ".dat";
}

// tests/data/nist next to this file's cpp/tests folder.
std::string fixture(const std::string& name) {
  std::string here = __FILE__;
  here = here.substr(0, here.find_last_of('/'));
  return here + "/../../tests/data/nist/" + name + ".dat";
}

}  // namespace

TEST(LinearModel, LongleyMeetsNineDigits) {
  const Nist d = read_nist(shared("Longley"));
  if (!d.found) GTEST_SKIP() << "shared data absent";
  const Eigen::MatrixXd x = d.data.rightCols(6);
  const Eigen::VectorXd y = d.data.col(0);
  expect_digits(LinearModel(x, y), d, 9.0);
}

TEST(LinearModel, NoInterceptFitsUseUncentredRSquared) {
  for (const char* name : {"NoInt1", "NoInt2"}) {
    const Nist d = read_nist(shared(name));
    if (!d.found) GTEST_SKIP() << "shared data absent";
    const Eigen::MatrixXd x = d.data.rightCols(1);
    const Eigen::VectorXd y = d.data.col(0);
    expect_digits(LinearModel(x, y, false), d, 9.0);
  }
}

TEST(LinearModel, NorrisMeetsNineDigits) {
  const Nist d = read_nist(shared("Norris"));
  if (!d.found) GTEST_SKIP() << "shared data absent";
  const Eigen::MatrixXd x = d.data.rightCols(1);
  const Eigen::VectorXd y = d.data.col(0);
  expect_digits(LinearModel(x, y), d, 9.0);
}

TEST(TrendModel, HigherDifficultyPolynomialsMeetTheirBars) {
  struct Case {
    const char* name;
    int degree;
    double bar;
  };
  for (const Case& c : {Case{"Filip", 10, 9.0}, Case{"Wampler4", 5, 9.0},
                        Case{"Wampler5", 5, 7.0}}) {
    const Nist d = read_nist(fixture(c.name));
    ASSERT_TRUE(d.found) << fixture(c.name);
    TrendSpec spec;
    spec.degree = c.degree;
    const TrendModel m(d.data.col(1), d.data.col(0), spec);
    SCOPED_TRACE(c.name);
    expect_digits(m.model(), d, c.bar);
  }
}

TEST(LinearModel, StraightLineMatchesClosedForm) {
  // Closed forms of simple regression: slope Sxy / Sxx, intercept ybar - slope xbar,
  // residual variance SSR / (n - 2), se(slope) = s / sqrt(Sxx).
  Eigen::MatrixXd x(4, 1);
  x << 0, 1, 2, 3;
  Eigen::VectorXd y(4);
  y << 2, 2, 4, 8;
  const LinearModel m(x, y);
  // xbar = 1.5, ybar = 4, Sxx = 5.
  const double sxy = (0 - 1.5) * (2 - 4) + (1 - 1.5) * (2 - 4) + (2 - 1.5) * (4 - 4) +
                     (3 - 1.5) * (8 - 4);
  EXPECT_NEAR(m.coefficients()(1), sxy / 5.0, 1e-14);
  EXPECT_NEAR(m.coefficients()(0), 4.0 - sxy / 5.0 * 1.5, 1e-14);
  const double ssr = m.residuals().squaredNorm();
  EXPECT_NEAR(m.residual_std_error(), std::sqrt(ssr / 2.0), 1e-14);
  EXPECT_NEAR(m.standard_errors()(1), std::sqrt(ssr / 2.0 / 5.0), 1e-14);
}

TEST(LinearModel, PredictionBandIsWiderThanConfidenceBand) {
  Eigen::MatrixXd x(6, 1);
  x << 1, 2, 3, 4, 5, 6;
  Eigen::VectorXd y(6);
  y << 1.1, 1.9, 3.2, 3.9, 5.1, 5.8;
  const LinearModel m(x, y);
  Eigen::MatrixXd at(1, 1);
  at << 3.5;
  const auto conf = m.predict(at, IntervalKind::confidence, 0.95);
  const auto pred = m.predict(at, IntervalKind::prediction, 0.95);
  EXPECT_DOUBLE_EQ(conf.mean(0), pred.mean(0));
  // se_pred^2 = se_mean^2 + s^2 exactly.
  EXPECT_NEAR(pred.se(0) * pred.se(0),
              conf.se(0) * conf.se(0) + m.residual_std_error() * m.residual_std_error(), 1e-14);
  EXPECT_LT(pred.lower(0), conf.lower(0));
  EXPECT_GT(pred.upper(0), conf.upper(0));
}

TEST(LinearModel, RankDeficiencyAndTooFewRowsAreNamed) {
  Eigen::MatrixXd x(5, 2);
  x << 1, 2, 2, 4, 3, 6, 4, 8, 5, 10;
  const Eigen::VectorXd y = Eigen::VectorXd::LinSpaced(5, 0, 4);
  try {
    const LinearModel m(x, y);
    FAIL() << "expected an error";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("rank deficient"), std::string::npos) << e.what();
  }
  Eigen::MatrixXd few(2, 1);
  few << 1, 2;
  try {
    const LinearModel m(few, Eigen::VectorXd::Ones(2));
    FAIL() << "expected an error";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("too few observations"), std::string::npos);
  }
}

TEST(LinearModel, NonFiniteInputNamesTheRow) {
  Eigen::MatrixXd x(4, 1);
  x << 1, 2, std::numeric_limits<double>::quiet_NaN(), 4;
  try {
    const LinearModel m(x, Eigen::VectorXd::Ones(4));
    FAIL() << "expected an error";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("row 2"), std::string::npos) << e.what();
  }
}

TEST(TrendModel, CoefficientsAreInTheCallersTimeBasis) {
  // Exact quadratic at epoch-second times: the fit recovers it to ~1e-13 relative.
  const Eigen::Index n = 30;
  Eigen::VectorXd t(n);
  Eigen::VectorXd y(n);
  for (Eigen::Index i = 0; i < n; ++i) {
    t(i) = 1.7e9 + 60.0 * static_cast<double>(i);
    const double h = static_cast<double>(i);  // minutes since start
    y(i) = 100.0 + 0.5 * h + 0.01 * h * h;
  }
  TrendSpec spec;
  spec.degree = 2;
  const TrendModel m(t, y, spec);
  Eigen::VectorXd at(1);
  at << 1.7e9 + 60.0 * 40.0;
  const double expect = 100.0 + 0.5 * 40.0 + 0.01 * 1600.0;
  EXPECT_NEAR(m.predict(at, IntervalKind::confidence).mean(0), expect, 1e-9);
  // b2 in per-second^2 units.
  EXPECT_NEAR(m.model().coefficients()(2) / (0.01 / 3600.0), 1.0, 1e-7);
  const auto slope = m.slope_at(1.7e9 + 60.0 * 29.0);
  EXPECT_NEAR(slope.estimate * 60.0, 0.5 + 0.02 * 29.0, 1e-9);
}

TEST(TrendModel, InvalidSpecsAreRejected) {
  const Eigen::VectorXd t = Eigen::VectorXd::LinSpaced(10, 0, 9);
  TrendSpec spec;
  spec.degree = 0;
  EXPECT_THROW(TrendModel(t, t, spec), std::invalid_argument);
  spec.degree = 1;
  spec.harmonics = 2;
  EXPECT_THROW(TrendModel(t, t, spec), std::invalid_argument);
  spec.seasonal_period = 1.0;  // sin(2 pi t) vanishes on integer t
  EXPECT_THROW(TrendModel(t, t, spec), std::invalid_argument);
  EXPECT_THROW(TrendModel(Eigen::VectorXd::Constant(5, 3.0), t.head(5), TrendSpec{}),
               std::invalid_argument);
}

TEST(LinearModel, LargeDesignsAreStreamedAndMatchTheClosedForm) {
  // More rows than kDenseMaxRows: the blocked path. Simple regression has closed forms,
  // evaluated here in long double.
  const Eigen::Index n = perfstats::kDenseMaxRows + 12345;
  Eigen::MatrixXd x(n, 1);
  Eigen::VectorXd y(n);
  long double sx = 0;
  long double sy = 0;
  for (Eigen::Index i = 0; i < n; ++i) {
    x(i, 0) = 1.7e9 + static_cast<double>(i);
    y(i) = 100.0 + 0.001 * static_cast<double>(i) + static_cast<double>((i * 7919) % 13 - 6);
    sx += x(i, 0);
    sy += y(i);
  }
  const long double mx = sx / static_cast<long double>(n);
  const long double my = sy / static_cast<long double>(n);
  long double sxx = 0;
  long double sxy = 0;
  for (Eigen::Index i = 0; i < n; ++i) {
    sxx += (x(i, 0) - mx) * (x(i, 0) - mx);
    sxy += (x(i, 0) - mx) * (y(i) - my);
  }
  const double slope = static_cast<double>(sxy / sxx);
  const LinearModel m(x, y);
  // Noisy and well conditioned: the double-precision fast path keeps it.
  EXPECT_FALSE(m.extended_precision());
  EXPECT_NEAR(m.coefficients()(1) / slope, 1.0, 1e-12);
  const double ssr = m.residuals().squaredNorm();
  EXPECT_NEAR(m.residual_std_error() / std::sqrt(ssr / static_cast<double>(n - 2)), 1.0, 1e-12);
  EXPECT_NEAR(m.standard_errors()(1) / (m.residual_std_error() / std::sqrt(static_cast<double>(sxx))),
              1.0, 1e-12);
  Eigen::MatrixXd at(1, 1);
  at << 1.7e9 + 5.0;
  EXPECT_NEAR(m.predict(at, IntervalKind::confidence).mean(0),
              static_cast<double>(my + (at(0, 0) - mx) * sxy / sxx), 1e-9);
}

TEST(LinearModel, LargeExactFitsAreRefinedInExtendedPrecision) {
  // rss = 0 defeats any relative bound in double: the fit must hand off, and the long
  // double refinement recovers the exact line.
  const Eigen::Index n = perfstats::kDenseMaxRows + 1000;
  Eigen::MatrixXd x(n, 1);
  Eigen::VectorXd y(n);
  for (Eigen::Index i = 0; i < n; ++i) {
    x(i, 0) = static_cast<double>(i);
    y(i) = 7.0 - 0.125 * static_cast<double>(i);
  }
  const LinearModel m(x, y);
  EXPECT_TRUE(m.extended_precision());
  EXPECT_DOUBLE_EQ(m.coefficients()(0), 7.0);
  EXPECT_DOUBLE_EQ(m.coefficients()(1), -0.125);
  // Nearly collinear columns (cond ~ 1e6 after centring) hand off as well.
  Eigen::MatrixXd x2(n, 2);
  for (Eigen::Index i = 0; i < n; ++i) {
    const double v = static_cast<double>((i * 7919) % 1000);
    x2(i, 0) = v;
    x2(i, 1) = v + 1e-4 * static_cast<double>((i * 104729) % 7 - 3);
    y(i) = v + static_cast<double>((i * 31) % 5);
  }
  EXPECT_TRUE(LinearModel(x2, y).extended_precision());
}

TEST(TrendModel, PolynomialPredictionsMatchTheGenericRows) {
  // The one-sweep polynomial band equals the row-by-row band of the same model.
  const Eigen::Index n = 400;
  Eigen::VectorXd t(n);
  Eigen::VectorXd y(n);
  for (Eigen::Index i = 0; i < n; ++i) {
    t(i) = 1.7e9 + 30.0 * static_cast<double>(i);
    y(i) = 100.0 + 1e-3 * static_cast<double>(i) +
           1e-6 * static_cast<double>(i * i) + static_cast<double>((i * 7919) % 13 - 6);
  }
  TrendSpec spec;
  spec.degree = 3;
  const TrendModel m(t, y, spec);
  Eigen::VectorXd t_new(5);
  t_new << t(0), t(17), t(n / 2), t(n - 1), t(n - 1) + 3600.0;
  for (const IntervalKind kind : {IntervalKind::confidence, IntervalKind::prediction}) {
    const perfstats::Prediction p = m.predict(t_new, kind, 0.9);
    for (Eigen::Index i = 0; i < t_new.size(); ++i) {
      // Reference: mean = x0'b and se^2 = s^2 (x0'C x0 + [prediction]) in long double,
      // x0 the internal row: time about the mid-range over 2^13 >= the half range 5985 s.
      const long double zz =
          (static_cast<long double>(t_new(i)) - (static_cast<long double>(t(0)) + t(n - 1)) / 2) /
          8192.0L;
      perfstats::VectorXld row(4);
      row << 1.0L, zz, zz * zz, zz * zz * zz;
      const long double mean = row.dot(m.model().internal_coefficients());
      const long double var =
          m.model().residual_variance() *
          (row.dot(m.model().internal_unscaled_covariance() * row) +
           (kind == IntervalKind::prediction ? 1.0L : 0.0L));
      EXPECT_NEAR(p.mean(i), static_cast<double>(mean), 1e-12 * std::fabs(p.mean(i)));
      EXPECT_NEAR(p.se(i), std::sqrt(static_cast<double>(var)), 1e-12 * p.se(i));
      EXPECT_NEAR(p.upper(i) - p.mean(i), p.mean(i) - p.lower(i), 1e-9);
    }
  }
  Eigen::VectorXd wrong(4);
  perfstats::PredictionOut out{wrong, wrong, wrong, wrong};
  EXPECT_THROW(m.predict_into(t_new, IntervalKind::confidence, 0.95, out),
               std::invalid_argument);
  // Without se (an empty output) the band is the same, bit for bit.
  const perfstats::Prediction full = m.predict(t_new, IntervalKind::prediction, 0.9);
  Eigen::VectorXd mean(t_new.size()), lower(t_new.size()), upper(t_new.size()), none;
  m.predict_into(t_new, IntervalKind::prediction, 0.9,
                 perfstats::PredictionOut{mean, none, lower, upper});
  EXPECT_EQ(mean, full.mean);
  EXPECT_EQ(lower, full.lower);
  EXPECT_EQ(upper, full.upper);
  // Residuals are recomputed from the data on demand.
  const Eigen::VectorXd r = m.residuals(t, y);
  const Eigen::VectorXd fitted = m.predict(t, IntervalKind::confidence).mean;
  EXPECT_LT((r - (y - fitted)).cwiseAbs().maxCoeff(), 1e-9);
  EXPECT_EQ(m.model().residuals().size(), 0);
  EXPECT_THROW(m.residuals(t, y.head(3)), std::invalid_argument);
}
