// Moments: certified NIST digits, merge = union, exact small cases, bad input, bytes.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "perfstats/moments.hpp"

using perfstats::Moments;

namespace {

// Reference data folder: $PERFSTATS_SHARED_DATA, else ../shared/data next to the repo.
std::string shared_data() {
  if (const char* env = std::getenv("PERFSTATS_SHARED_DATA")) return env;
  return PERFSTATS_SHARED_DATA;
}

double lre(double x, double c) {
  if (x == c) return 15.0;
  return std::min(15.0, -std::log10(std::fabs(x - c) / std::fabs(c)));
}

struct Univ {
  double mean = 0, sd = 0, r1 = 0;
  std::vector<double> data;
};

bool read_univ(const std::string& path, Univ& u) {
  std::ifstream in(path);
  if (!in) return false;
  std::string line;
  bool in_data = false;
  while (std::getline(in, line)) {
    if (in_data) {
      std::istringstream s(line);
      double v = 0;
      while (s >> v) u.data.push_back(v);
      continue;
    }
    auto value_after = [&](const char* key, double& out) {
      const auto pos = line.find(key);
      if (pos != std::string::npos) out = std::stod(line.substr(pos + std::string(key).size()));
    };
    value_after("ybar:", u.mean);
    value_after(" s:", u.sd);
    value_after("r(1):", u.r1);
    if (line.rfind("Data: Y", 0) == 0) {
      std::getline(in, line);  // the dashes
      in_data = true;
    }
  }
  return !u.data.empty();
}

}  // namespace

TEST(Moments, NistUnivariateCertifiedDigits) {
  for (const char* name :
       {"Lew", "Lottery", "Mavro", "Michelso", "NumAcc1", "NumAcc2", "PiDigits"}) {
    Univ u;
    if (!read_univ(shared_data() + "/nist/univ/" + name + ".dat", u)) {
      GTEST_SKIP() << "reference data not present under " << shared_data();
    }
    Moments m;
    m.add(u.data.data(), u.data.size());
    EXPECT_GE(lre(m.mean(), u.mean), 14.0) << name;
    EXPECT_GE(lre(m.std(), u.sd), 13.0) << name;
    EXPECT_GE(lre(perfstats::lag1_autocorrelation(u.data.data(), u.data.size()), u.r1), 13.0)
        << name;
  }
}

TEST(Moments, ExactSmallCaseForEveryStatistic) {
  // Deviations from the mean 5 are -3,-1,-1,-1,0,0,2,4: M2 = 32, M3 = 42, M4 = 356.
  const std::vector<double> x = {2, 4, 4, 4, 5, 5, 7, 9};
  Moments m;
  m.add(x.data(), x.size());
  EXPECT_EQ(m.count(), 8.0);
  EXPECT_EQ(m.mean(), 5.0);
  EXPECT_EQ(m.variance(0.0), 4.0);
  EXPECT_DOUBLE_EQ(m.variance(), 32.0 / 7.0);
  EXPECT_DOUBLE_EQ(m.skewness(), 42.0 / 8.0 / 8.0);
  EXPECT_DOUBLE_EQ(m.kurtosis(), 356.0 / 8.0 / 16.0 - 3.0);
  EXPECT_EQ(m.min(), 2.0);
  EXPECT_EQ(m.max(), 9.0);
  EXPECT_EQ(m.sum(), 40.0);
}

TEST(Moments, MergeAndStreamingEqualBatch) {
  std::mt19937_64 gen(42);
  std::lognormal_distribution<double> dist(2.0, 0.7);
  std::vector<double> x(10'000);
  for (auto& v : x) v = dist(gen);
  Moments whole;
  whole.add(x.data(), x.size());
  Moments left;
  Moments right;
  left.add(x.data(), 3'333);
  right.add(x.data() + 3'333, x.size() - 3'333);
  left.merge(right);
  Moments streamed;
  for (double v : x) streamed.add(v);
  for (const Moments* m : {&left, &streamed}) {
    EXPECT_EQ(m->count(), whole.count());
    EXPECT_NEAR(m->mean(), whole.mean(), 1e-13 * whole.mean());
    EXPECT_NEAR(m->variance(), whole.variance(), 1e-12 * whole.variance());
    EXPECT_NEAR(m->skewness(), whole.skewness(), 1e-11 * std::fabs(whole.skewness()));
    EXPECT_NEAR(m->kurtosis(), whole.kurtosis(), 1e-10 * std::fabs(whole.kurtosis()));
    EXPECT_EQ(m->min(), whole.min());
    EXPECT_EQ(m->max(), whole.max());
  }
}

TEST(Moments, WeightsActAsFrequencies) {
  const std::vector<double> x = {1.0, 2.0, 7.0};
  const std::vector<double> w = {2.0, 0.0, 1.0};
  Moments weighted;
  weighted.add(x.data(), x.size(), w.data());
  const std::vector<double> rep = {1.0, 1.0, 7.0};
  Moments plain;
  plain.add(rep.data(), rep.size());
  EXPECT_EQ(weighted.count(), 3.0);
  EXPECT_EQ(weighted.size(), 3U);
  EXPECT_DOUBLE_EQ(weighted.mean(), plain.mean());
  EXPECT_DOUBLE_EQ(weighted.variance(), plain.variance());
  EXPECT_DOUBLE_EQ(weighted.skewness(), plain.skewness());
  EXPECT_EQ(weighted.max(), 7.0);
  EXPECT_EQ(weighted.min(), 1.0);  // the zero-weight 2.0 is no minimum candidate either
}

TEST(Moments, BadValueIsNamedAndNothingIsAdded) {
  std::vector<double> x(3000, 1.0);
  x[2500] = std::nan("");
  Moments m;
  m.add(4.0);
  const Moments before = m;
  try {
    m.add(x.data(), x.size());
    FAIL() << "NaN accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("values[2500]"), std::string::npos) << e.what();
  }
  EXPECT_EQ(m, before);
  const std::vector<double> w = {1.0, -2.0};
  EXPECT_THROW(m.add(x.data(), 2, w.data()), std::invalid_argument);
  EXPECT_THROW(m.add(HUGE_VAL), std::invalid_argument);
  EXPECT_EQ(m, before);
}

TEST(Moments, EmptySummaryIsNaNNotZero) {
  Moments m;
  EXPECT_TRUE(std::isnan(m.mean()));
  EXPECT_TRUE(std::isnan(m.variance()));
  EXPECT_TRUE(std::isnan(m.skewness()));
  EXPECT_TRUE(std::isnan(m.min()));
  EXPECT_EQ(m.count(), 0.0);
}

TEST(Moments, BytesRoundTripAndRejectDamage) {
  Moments m;
  const std::vector<double> x = {1e9 + 0.25, 1e9 - 0.5, 1e9 + 0.125};
  m.add(x.data(), x.size());
  const std::string s = m.to_bytes();
  const auto* p = reinterpret_cast<const std::uint8_t*>(s.data());
  EXPECT_EQ(Moments::from_bytes(p, s.size()), m);
  EXPECT_THROW(Moments::from_bytes(p, s.size() - 1), std::invalid_argument);
  std::string bad = s;
  bad[8] = static_cast<char>(bad[8] ^ 0x40);
  EXPECT_THROW(Moments::from_bytes(reinterpret_cast<const std::uint8_t*>(bad.data()), bad.size()),
               std::invalid_argument);
}

TEST(Moments, LargeOffsetKeepsTheSpread) {
  // 1e9 + k/8 are exact doubles; the SD of {0, 1/8, ..., 7/8} repeated is exact to know.
  std::vector<double> x;
  for (int r = 0; r < 1000; ++r) {
    for (int k = 0; k < 8; ++k) x.push_back(1e9 + k / 8.0);
  }
  Moments m;
  m.add(x.data(), x.size());
  // Population variance of k/8 for k = 0..7 is (64 - 1) / 12 / 64.
  EXPECT_DOUBLE_EQ(m.variance(0.0), 63.0 / 12.0 / 64.0);
  EXPECT_DOUBLE_EQ(m.mean(), 1e9 + 7.0 / 16.0);
  EXPECT_NEAR(m.skewness(), 0.0, 1e-12);
}

TEST(Moments, Lag1AutocorrelationNeedsTwoVaryingValues) {
  const std::vector<double> one = {1.0};
  EXPECT_THROW(perfstats::lag1_autocorrelation(one.data(), 1), std::invalid_argument);
  const std::vector<double> flat = {2.0, 2.0, 2.0};
  EXPECT_THROW(perfstats::lag1_autocorrelation(flat.data(), 3), std::invalid_argument);
  const std::vector<double> x = {10000001, 10000003, 10000002};
  EXPECT_DOUBLE_EQ(perfstats::lag1_autocorrelation(x.data(), 3), -0.5);
}
