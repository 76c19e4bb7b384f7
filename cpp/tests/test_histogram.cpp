// Histogram: upper-inclusive buckets, all-or-nothing fills, merging and the byte format.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "perfstats/histogram.hpp"

using perfstats::Histogram;

namespace {
const std::uint8_t* bytes(const std::string& s) {
  return reinterpret_cast<const std::uint8_t*>(s.data());
}
const double kInf = std::numeric_limits<double>::infinity();
const double kNaN = std::numeric_limits<double>::quiet_NaN();
}  // namespace

TEST(Histogram, BoundaryValuesFallInTheBucketTheyClose) {
  Histogram h({1000, 2000, 5000});
  for (const double v : {-1e300, 999.0, 1000.0}) EXPECT_EQ(h.bucket_index(v), 0U) << v;
  for (const double v : {1000.5, 2000.0}) EXPECT_EQ(h.bucket_index(v), 1U) << v;
  EXPECT_EQ(h.bucket_index(std::nextafter(2000.0, kInf)), 2U);
  EXPECT_EQ(h.bucket_index(5000.0), 2U);
  EXPECT_EQ(h.bucket_index(std::nextafter(5000.0, kInf)), 3U);
  EXPECT_EQ(h.bucket_index(1e300), 3U);
}

TEST(Histogram, LinearAndBinarySearchAgree) {
  // 40 boundaries take the binary-search path; compare with a plain count.
  std::vector<double> b;
  for (int i = 0; i < 40; ++i) b.push_back(i * 0.5);
  Histogram h(b);
  std::mt19937_64 rng(7);
  std::uniform_int_distribution<int> pick(-3, 90);
  for (int k = 0; k < 2000; ++k) {
    const double v = pick(rng) * 0.25;
    std::size_t expected = 0;
    for (const double x : b) expected += x < v ? 1U : 0U;
    EXPECT_EQ(h.bucket_index(v), expected) << v;
  }
}

TEST(Histogram, RejectsBadBoundariesNamingTheIndex) {
  try {
    Histogram h({1, 2, 2, 3});
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("boundaries[2]"), std::string::npos) << e.what();
  }
  EXPECT_THROW(Histogram({1, kNaN}), std::invalid_argument);
  EXPECT_THROW(Histogram({-kInf, 1}), std::invalid_argument);
  EXPECT_THROW(Histogram({3, 1}), std::invalid_argument);
  EXPECT_NO_THROW(Histogram(std::vector<double>{}));
}

TEST(Histogram, CountsSumMinMax) {
  Histogram h({10, 20});
  const std::vector<double> v = {5, 10, 15, 20, 25, 30};
  h.add(v.data(), v.size());
  EXPECT_EQ(h.counts(), (std::vector<double>{2, 2, 2}));
  EXPECT_EQ(h.count(), 6.0);
  EXPECT_EQ(h.sum(), 105.0);
  EXPECT_EQ(h.min(), 5.0);
  EXPECT_EQ(h.max(), 30.0);
}

TEST(Histogram, EmptyHasNaNMinAndMax) {
  Histogram h({1});
  EXPECT_EQ(h.count(), 0.0);
  EXPECT_TRUE(std::isnan(h.min()));
  EXPECT_TRUE(std::isnan(h.max()));
  h.add(0.5, 0.0);  // zero weight changes nothing
  EXPECT_TRUE(std::isnan(h.min()));
}

TEST(Histogram, BadValuesOrWeightsAddNothing) {
  Histogram h({1, 2});
  h.add(1.5);
  const Histogram before = h;
  const std::vector<double> v = {0.5, kNaN, 3.0, kInf};
  try {
    h.add(v.data(), v.size());
    FAIL();
  } catch (const std::invalid_argument& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("2 of 4"), std::string::npos) << m;
    EXPECT_NE(m.find("index 1"), std::string::npos) << m;
  }
  EXPECT_EQ(h, before);
  // A bad value in the tail that the four-lane loop leaves for last.
  const std::vector<double> tail = {0.5, 1.5, 2.5, 0.5, 1.5, 2.5, -kInf};
  try {
    h.add(tail.data(), tail.size());
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("1 of 7"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("index 6"), std::string::npos) << e.what();
  }
  EXPECT_EQ(h, before);
  const std::vector<double> ok = {0.5, 1.5, 3.0};
  const std::vector<double> w = {1.0, -1.0, 2.0};
  EXPECT_THROW(h.add(ok.data(), ok.size(), w.data()), std::invalid_argument);
  EXPECT_EQ(h, before);
  EXPECT_THROW(h.add(kNaN), std::invalid_argument);
  EXPECT_THROW(h.add(1.0, kInf), std::invalid_argument);
  EXPECT_EQ(h, before);
}

TEST(Histogram, MergeEqualsFillingTogether) {
  std::mt19937_64 rng(42);
  std::lognormal_distribution<double> latency(std::log(800.0), 1.0);
  const std::vector<double> b = {100, 500, 1000, 2000, 5000};
  Histogram a(b), c(b), all(b);
  for (int i = 0; i < 1000; ++i) {
    const double v = latency(rng);
    (i % 3 == 0 ? a : c).add(v);
    all.add(v);
  }
  a.merge(c);
  EXPECT_EQ(a.counts(), all.counts());
  EXPECT_EQ(a.min(), all.min());
  EXPECT_EQ(a.max(), all.max());
  EXPECT_NEAR(a.sum(), all.sum(), 1e-9 * all.sum());
  EXPECT_THROW(a.merge(Histogram({100, 500})), std::invalid_argument);
  EXPECT_THROW(a.merge(Histogram({100, 500, 1000, 2000, 5001})), std::invalid_argument);
}

TEST(Histogram, BytesRoundTripForIntegerAndFractionalCounts) {
  Histogram h({0.01, 0.02, 0.04});
  const std::vector<double> v = {0.005, 0.02, 0.03, 7.0};
  h.add(v.data(), v.size());
  const std::string s = h.to_bytes();
  EXPECT_EQ(Histogram::from_bytes(bytes(s), s.size()), h);
  h.add(0.015, 0.25);
  const std::string t = h.to_bytes();
  EXPECT_GT(t.size(), s.size());  // fractional counts are stored as doubles
  EXPECT_EQ(Histogram::from_bytes(bytes(t), t.size()), h);
  const Histogram empty({1, 2});
  const std::string e = empty.to_bytes();
  EXPECT_EQ(Histogram::from_bytes(bytes(e), e.size()), empty);
}

TEST(Histogram, EveryTruncationAndBitFlipIsRejected) {
  Histogram h({1, 10, 100});
  const std::vector<double> v = {0.5, 5, 50, 500, 5000};
  h.add(v.data(), v.size());
  const std::string s = h.to_bytes();
  for (std::size_t n = 0; n < s.size(); ++n) {
    EXPECT_THROW(Histogram::from_bytes(bytes(s), n), std::invalid_argument) << n;
  }
  for (std::size_t i = 0; i < s.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string t = s;
      t[i] = static_cast<char>(t[i] ^ (1 << bit));
      EXPECT_THROW(Histogram::from_bytes(bytes(t), t.size()), std::invalid_argument)
          << i << ":" << bit;
    }
  }
}
