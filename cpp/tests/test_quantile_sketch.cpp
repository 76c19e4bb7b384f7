// QuantileSketch: bucket indexing, the relative-error guarantee, merging, bounded memory and
// the byte format, checked against exact order statistics.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cfloat>
#include <limits>
#include <random>
#include <stdexcept>
#include <vector>

#include "perfstats/quantile_sketch.hpp"

using perfstats::QuantileSketch;

namespace {

// numpy.quantile(method="lower"): the order statistic of rank floor(q (n - 1)).
double lower_quantile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  const auto rank = static_cast<std::size_t>(std::floor(q * static_cast<double>(v.size() - 1)));
  return v[rank];
}

void expect_within_bound(const QuantileSketch& s, const std::vector<double>& data) {
  const double a = s.relative_accuracy() * (1 + 1e-12);
  for (double q : {0.0, 0.001, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1.0}) {
    const double exact = lower_quantile(data, q);
    EXPECT_LE(std::fabs(s.quantile(q) - exact), a * std::fabs(exact)) << "q=" << q;
  }
}

}  // namespace

TEST(QuantileSketchIndex, MatchesTheExponentialGridDefinition) {
  // Bucket i covers (base^i, base^(i+1)]: check against long-double logarithms away from edges.
  std::mt19937_64 rng(1);
  std::uniform_real_distribution<double> expo(-300.0, 300.0);
  for (int scale = QuantileSketch::kMinScale; scale <= QuantileSketch::kMaxScale; ++scale) {
    for (int i = 0; i < 2000; ++i) {
      const double x = std::exp2(expo(rng));
      const long double pos = std::log2(static_cast<long double>(x)) * std::ldexp(1.0L, scale);
      const long double nearest = std::nearbyint(pos);
      if (std::fabs(pos - nearest) < 1e-9L) continue;  // too close to an edge to judge
      const auto expected = static_cast<std::int64_t>(std::ceil(pos)) - 1;
      ASSERT_EQ(QuantileSketch::bucket_index(x, scale), expected) << x << " scale " << scale;
    }
  }
}

TEST(QuantileSketchIndex, PowersOfTwoCloseTheirBucket) {
  // Upper-inclusive: 2^e is the last value of bucket e * 2^s - 1; the next double opens e * 2^s.
  for (int scale = 0; scale <= QuantileSketch::kMaxScale; ++scale) {
    const std::int64_t per_octave = std::int64_t{1} << scale;
    for (int e : {-1074, -1022, -5, 0, 1, 7, 1023}) {
      const double x = std::ldexp(1.0, e);
      const std::int64_t idx = QuantileSketch::bucket_index(x, scale);
      EXPECT_EQ(idx, static_cast<std::int64_t>(e) * per_octave - 1) << e << " " << scale;
      if (e < 1023) {
        EXPECT_EQ(QuantileSketch::bucket_index(std::nextafter(x, INFINITY), scale), idx + 1)
            << "just above 2^" << e << " at scale " << scale;
      }
      if (e > -1074) {
        EXPECT_EQ(QuantileSketch::bucket_index(std::nextafter(x, 0.0), scale), idx);
      }
    }
  }
}

TEST(QuantileSketchIndex, CoarserScaleIsAShift) {
  std::mt19937_64 rng(2);
  std::uniform_real_distribution<double> expo(-1070.0, 1020.0);
  for (int i = 0; i < 20000; ++i) {
    const double x = std::exp2(expo(rng));
    for (int s = QuantileSketch::kMaxScale; s > QuantileSketch::kMinScale; --s) {
      const std::int64_t fine = QuantileSketch::bucket_index(x, s);
      const std::int64_t coarse = QuantileSketch::bucket_index(x, s - 1);
      ASSERT_EQ(coarse, fine >= 0 ? fine / 2 : -((-fine + 1) / 2)) << x << " " << s;
    }
  }
}

TEST(QuantileSketch, ScaleForAccuracy) {
  EXPECT_EQ(QuantileSketch(0.01).scale(), 6);
  EXPECT_LE(QuantileSketch(0.01).relative_accuracy(), 0.01);
  EXPECT_GT(QuantileSketch::accuracy_of_scale(5), 0.01);
  EXPECT_THROW(QuantileSketch(0.0), std::invalid_argument);
  EXPECT_THROW(QuantileSketch(1.0), std::invalid_argument);
  EXPECT_THROW(QuantileSketch(std::nan("")), std::invalid_argument);
  EXPECT_THROW(QuantileSketch(1e-9), std::invalid_argument);
  EXPECT_THROW(QuantileSketch(0.01, 3), std::invalid_argument);
}

TEST(QuantileSketch, LognormalQuantilesWithinBound) {
  std::mt19937_64 rng(3);
  std::lognormal_distribution<double> dist(std::log(800.0), 1.0);
  std::vector<double> data(200000);
  for (double& x : data) x = dist(rng);
  QuantileSketch s(0.01);
  s.add(data.data(), data.size());
  EXPECT_EQ(s.count(), static_cast<double>(data.size()));
  EXPECT_EQ(s.min(), *std::min_element(data.begin(), data.end()));
  EXPECT_EQ(s.max(), *std::max_element(data.begin(), data.end()));
  expect_within_bound(s, data);
}

TEST(QuantileSketch, MixedSignsZerosAndSubnormals) {
  std::vector<double> data = {-5.0, -1e-310, 0.0, 0.0, 4.9e-324, 1e-300, 3.0, 1e300, -2.5};
  QuantileSketch s(0.02);
  s.add(data.data(), data.size());
  EXPECT_EQ(s.zero_count(), 2.0);
  expect_within_bound(s, data);
  QuantileSketch t(0.02);
  for (double x : data) t.add(x);
  EXPECT_TRUE(s == t);
}

TEST(QuantileSketch, RejectsNonFiniteAndLeavesSketchUnchanged) {
  QuantileSketch s;
  std::vector<double> good = {1.0, 2.0};
  s.add(good.data(), good.size());
  const QuantileSketch before = s;
  std::vector<double> bad = {1.0, NAN, 3.0, INFINITY};
  try {
    s.add(bad.data(), bad.size());
    FAIL() << "expected invalid_argument";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("2 non-finite"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("index 1"), std::string::npos) << e.what();
  }
  std::vector<double> w = {1.0, -1.0};
  EXPECT_THROW(s.add(good.data(), w.data(), 2), std::invalid_argument);
  EXPECT_TRUE(s == before);
}

TEST(QuantileSketch, MaxBucketsDownscalesInsteadOfDroppingQuantiles) {
  QuantileSketch s(0.001, 64);
  std::vector<double> data;
  for (int i = -40; i <= 40; ++i) data.push_back(std::pow(10.0, i * 0.25));
  s.add(data.data(), data.size());
  EXPECT_LT(s.scale(), s.initial_scale());
  EXPECT_LE(s.positive().counts.size(), 64U);
  expect_within_bound(s, data);  // the bound at the coarser, reported accuracy
}

TEST(QuantileSketch, MergeEqualsConcatenation) {
  std::mt19937_64 rng(4);
  std::lognormal_distribution<double> a(0.0, 3.0), b(10.0, 1.0);
  std::vector<double> x(5000), y(7000);
  for (double& v : x) v = a(rng);
  for (double& v : y) v = -b(rng);
  QuantileSketch sx(0.005, 128), sy(0.005, 128), all(0.005, 128);
  sx.add(x.data(), x.size());
  sy.add(y.data(), y.size());
  all.add(x.data(), x.size());
  all.add(y.data(), y.size());
  QuantileSketch merged = sx;
  merged.merge(sy);
  EXPECT_EQ(merged.scale(), all.scale());
  EXPECT_TRUE(merged.positive() == all.positive());
  EXPECT_TRUE(merged.negative() == all.negative());
  EXPECT_EQ(merged.count(), all.count());
  EXPECT_NEAR(merged.sum(), all.sum(), 1e-12 * std::fabs(all.sum()));
}

TEST(QuantileSketch, BytesRoundTripAndRejectCorruption) {
  QuantileSketch s(0.01);
  std::vector<double> data = {0.5, 1.0, 1.5, -2.0, 0.0, 1e6};
  s.add(data.data(), data.size());
  const std::string bytes = s.to_bytes();
  const auto* p = reinterpret_cast<const std::uint8_t*>(bytes.data());
  EXPECT_TRUE(QuantileSketch::from_bytes(p, bytes.size()) == s);
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_THROW(QuantileSketch::from_bytes(p, n), std::invalid_argument);
  }
  const QuantileSketch empty;
  const std::string e = empty.to_bytes();
  EXPECT_TRUE(QuantileSketch::from_bytes(reinterpret_cast<const std::uint8_t*>(e.data()),
                                         e.size()) == empty);
}

TEST(QuantileSketch, CdfBound) {
  std::mt19937_64 rng(5);
  std::lognormal_distribution<double> dist(0.0, 2.0);
  std::vector<double> data(20000);
  for (double& x : data) x = dist(rng);
  QuantileSketch s(0.02);
  s.add(data.data(), data.size());
  std::sort(data.begin(), data.end());
  const double a = s.relative_accuracy();
  const auto F = [&](double x) {
    return static_cast<double>(std::upper_bound(data.begin(), data.end(), x) - data.begin()) /
           static_cast<double>(data.size());
  };
  for (double x : {0.01, 0.1, 0.5, 1.0, 2.0, 10.0, 100.0}) {
    EXPECT_LE(F(x / (1 + a)), s.cdf(x) + 1e-15) << x;
    EXPECT_GE(F(x / (1 - a)), s.cdf(x) - 1e-15) << x;
  }
}

TEST(QuantileSketch, ZeroWeightValuesAreIgnoredEvenWhenZeroOrNegative) {
  // Found by fuzzing: a zero-weighted 0.0 beside positive values reached the positive-only
  // fast path and indexed outside the store.
  std::vector<double> v = {1.7e-77, 0.0, -3.0};
  std::vector<double> w = {1.0, 0.0, 0.0};
  QuantileSketch s(0.05);
  s.add(v.data(), w.data(), v.size());
  EXPECT_EQ(s.count(), 1.0);
  EXPECT_EQ(s.zero_count(), 0.0);
  EXPECT_TRUE(s.negative().empty());
  EXPECT_EQ(s.min(), 1.7e-77);
}

namespace {

// Rows for the streamed grouped fill: skewed groups, NaN, zeros, negative values in one group,
// subnormals, and one group so wide that its sketch must coarsen its scale.
struct GroupedRows {
  std::vector<std::int64_t> codes;
  std::vector<double> values;
};

GroupedRows grouped_rows(std::size_t n, std::size_t groups) {
  std::mt19937_64 rng(17);
  std::lognormal_distribution<double> dist(6.0, 1.5);
  std::lognormal_distribution<double> wide(0.0, 60.0);
  GroupedRows r;
  r.codes.resize(n);
  r.values.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    const auto g = static_cast<std::int64_t>(rng() % 3 == 0 ? rng() % groups : rng() % 2);
    r.codes[i] = g;
    double v = g == 4 ? wide(rng) : dist(rng);
    if (g == 3) v = -v;
    if (i % 29 == 0) v = 0.0;
    if (i % 17 == 0) v = std::nan("");
    if (i % 1001 == 5 && g == 1) v = 4.9e-320;
    r.values[i] = v;
  }
  return r;
}

perfstats::GroupedSketches build_in_chunks(const GroupedRows& r, std::size_t groups,
                                           const std::vector<std::size_t>& cuts,
                                           const std::vector<double>& bounds) {
  perfstats::GroupedSketchBuilder b(groups, 0.01, 256, bounds);
  std::size_t from = 0;
  for (std::size_t to : cuts) {
    b.add(r.codes.data() + from, r.values.data() + from, to - from, from);
    from = to;
  }
  return b.finish();
}

}  // namespace

TEST(GroupedSketchBuilder, EqualsOneSketchPerGroupButForSumRounding) {
  const std::size_t n = 120001, groups = 9;
  const GroupedRows r = grouped_rows(n, groups);
  const std::vector<double> bounds = {-100.0, 0.0, 500.0, 5000.0};
  const auto got = build_in_chunks(r, groups, {n}, bounds);
  // independent oracle of the exact bucket counts: each known value compared with the bounds
  std::vector<double> expected_buckets(groups * (bounds.size() + 1), 0.0);
  for (std::size_t i = 0; i < n; ++i) {
    if (std::isnan(r.values[i])) continue;
    std::size_t j = 0;
    while (j < bounds.size() && r.values[i] > bounds[j]) ++j;
    expected_buckets[static_cast<std::size_t>(r.codes[i]) * (bounds.size() + 1) + j] += 1.0;
  }
  EXPECT_EQ(got.bucket_counts, expected_buckets);
  for (std::size_t g = 0; g < groups; ++g) {
    // independent oracle: one QuantileSketch fed the group's values one at a time
    QuantileSketch one(0.01, 256);
    long double exact = 0.0L, magnitude = 0.0L;
    for (std::size_t i = 0; i < n; ++i) {
      if (r.codes[i] != static_cast<std::int64_t>(g) || std::isnan(r.values[i])) continue;
      one.add(r.values[i]);
      exact += r.values[i];
      magnitude += std::fabs(r.values[i]);
    }
    const QuantileSketch& s = got.sketches[g];
    EXPECT_EQ(s.scale(), one.scale()) << g;
    EXPECT_TRUE(s.positive() == one.positive()) << g;
    EXPECT_TRUE(s.negative() == one.negative()) << g;
    EXPECT_EQ(s.zero_count(), one.zero_count()) << g;
    EXPECT_EQ(s.count(), one.count()) << g;
    EXPECT_EQ(s.min(), one.min()) << g;
    EXPECT_EQ(s.max(), one.max()) << g;
    EXPECT_LE(std::fabs(static_cast<long double>(s.sum()) - exact), 1e-15L * magnitude) << g;
  }
  EXPECT_LT(got.sketches[4].scale(), got.sketches[0].scale());  // the wide group coarsened
  EXPECT_LT(got.sketches[1].scale(), got.sketches[0].scale());  // so did the subnormal one
  EXPECT_FALSE(got.sketches[3].negative().empty());
}

TEST(GroupedSketchBuilder, ChunksDoNotChangeAnyBit) {
  const std::size_t n = 50000, groups = 7;
  const GroupedRows r = grouped_rows(n, groups);
  const std::vector<double> bounds = {100.0, 1000.0};
  const auto whole = build_in_chunks(r, groups, {n}, bounds);
  for (const std::vector<std::size_t>& cuts :
       {std::vector<std::size_t>{1, 2, 3, 4093, 20000, n}, std::vector<std::size_t>{17, n},
        std::vector<std::size_t>{n / 2, n / 2, n}}) {
    const auto split = build_in_chunks(r, groups, cuts, bounds);
    EXPECT_EQ(split.bucket_counts, whole.bucket_counts);
    for (std::size_t g = 0; g < groups; ++g) {
      EXPECT_EQ(split.sketches[g].to_bytes(), whole.sketches[g].to_bytes()) << g;
    }
  }
}

TEST(GroupedSketchBuilder, BadRowsAreNamedInTheWholeInputAndAddNothing) {
  const std::size_t n = 3000, groups = 3;
  GroupedRows r = grouped_rows(n, groups);
  perfstats::GroupedSketchBuilder b(groups, 0.01, 256, {});
  b.add(r.codes.data(), r.values.data(), 1000, 0);
  // Rows 1000..1999 as the second chunk must throw a message containing `expected`.
  const auto second_chunk_fails = [&](const std::string& expected) {
    try {
      b.add(r.codes.data() + 1000, r.values.data() + 1000, 1000, 1000);
      FAIL() << "no throw";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(expected), std::string::npos) << e.what();
    }
  };
  r.codes[1500] = 3;
  second_chunk_fails("3 at row 1500 is outside [0, 3)");
  r.codes[1500] = -1;
  second_chunk_fails("-1 at row 1500");
  r.codes[1500] = 0;
  r.values[1700] = -std::numeric_limits<double>::infinity();
  second_chunk_fails("-inf at row 1700");
  r.values[1700] = 1.0;
  b.grow(2);  // never shrinks
  EXPECT_EQ(b.n_groups(), groups);
  b.add(r.codes.data() + 1000, r.values.data() + 1000, 2000, 1000);
  const auto got = b.finish();
  const auto clean = build_in_chunks(r, groups, {n}, {});
  for (std::size_t g = 0; g < groups; ++g) {
    QuantileSketch a = got.sketches[g], c = clean.sketches[g];
    EXPECT_TRUE(a.positive() == c.positive() && a.count() == c.count()) << g;
  }
  EXPECT_THROW(perfstats::GroupedSketchBuilder(2, 0.01, 256, {5.0, 1.0}), std::invalid_argument);
  EXPECT_THROW(perfstats::GroupedSketchBuilder(2, 1.5), std::invalid_argument);
}

// The builder reads most exact bucket counts off the sketch buckets (only buckets holding a
// boundary with values on both sides are counted row by row), so this aims at the places where
// that could go wrong: values at, just below and just above boundaries (one a power of two,
// where no bucket straddles; two within one bucket), boundaries <= 0 and subnormal, long runs
// of one group across blocks with NaNs inside, stores that grow mid-run, and a narrow cluster
// whose buckets merge into straddling ones when a far value coarsens the scale. The oracle
// counts each value against the boundaries directly, and one QuantileSketch per group gets
// the values one at a time.
TEST(GroupedSketchBuilder, ExactBucketCountsAtBoundariesAcrossCoarsening) {
  const std::vector<double> bounds = {-1.0, 0.0, 1e-310, 3.0, std::nextafter(3.0, 4.0),
                                      64.0, 100.0, 100.5, 1000.0};
  const std::size_t groups = 5, nb = bounds.size() + 1;
  std::mt19937_64 rng(23);
  std::lognormal_distribution<double> dist(std::log(50.0), 1.5);
  std::vector<std::int32_t> codes;
  std::vector<double> values;
  const auto push = [&](std::int32_t g, double v) {
    codes.push_back(g);
    values.push_back(v);
  };
  // Group 0: a cluster around 100 and 100.5 first (fine buckets next to the boundaries), then
  // a far value that coarsens the scale of a 16-bucket sketch, then the cluster again.
  for (int pass = 0; pass < 2; ++pass) {
    for (int i = 0; i < 3000; ++i) push(0, 99.0 + 2.5 * static_cast<double>(rng() % 1000) / 1e3);
    for (double b : {100.0, 100.5}) {
      for (double v : {b, std::nextafter(b, 0.0), std::nextafter(b, 1e9)}) push(0, v);
    }
    push(0, pass == 0 ? 1e6 : 1e-3);
  }
  // Group 1: a run of 5000 rows (ten blocks) ascending, so its store grows row after row,
  // with NaNs and exact boundary values inside the run.
  for (int i = 0; i < 5000; ++i) {
    double v = 0.5 * std::pow(1.0015, i);
    if (i % 97 == 0) v = std::nan("");
    if (i % 401 == 0) v = bounds[static_cast<std::size_t>(i / 401) % bounds.size()];
    push(1, v);
  }
  // Groups 2-4 interleaved in runs of 1 to 2000 rows: every boundary and its neighbours,
  // lognormal values, negatives, zeros, subnormals and NaNs.
  for (int run = 0; run < 60; ++run) {
    const auto g = static_cast<std::int32_t>(2 + rng() % 3);
    const std::size_t len = run % 7 == 0 ? 2000 : 1 + rng() % 40;
    for (std::size_t i = 0; i < len; ++i) {
      double v = dist(rng);
      const std::uint64_t pick = rng() % 20;
      const double b = bounds[rng() % bounds.size()];
      if (pick == 0) v = b;
      if (pick == 1) v = std::nextafter(b, -1e9);
      if (pick == 2) v = std::nextafter(b, 1e9);
      if (pick == 3) v = -v;
      if (pick == 4) v = 0.0;
      if (pick == 5) v = std::nan("");
      if (pick == 6) v = 1e-311 * static_cast<double>(1 + rng() % 20);
      push(g, v);
    }
  }
  const std::size_t n = values.size();
  for (std::size_t max_buckets : {std::size_t{16}, std::size_t{4096}}) {
    for (std::size_t chunk : {n, std::size_t{777}}) {
      perfstats::GroupedSketchBuilder b(groups, 0.01, max_buckets, bounds);
      for (std::size_t from = 0; from < n; from += chunk) {
        b.add(codes.data() + from, values.data() + from, std::min(chunk, n - from), from);
      }
      const auto got = b.finish();
      std::vector<double> expected(groups * nb, 0.0);
      for (std::size_t g = 0; g < groups; ++g) {
        QuantileSketch one(0.01, max_buckets);
        for (std::size_t i = 0; i < n; ++i) {
          const double v = values[i];
          if (codes[i] != static_cast<std::int32_t>(g) || std::isnan(v)) continue;
          one.add(v);
          std::size_t j = 0;
          while (j < bounds.size() && v > bounds[j]) ++j;
          expected[g * nb + j] += 1.0;
        }
        const QuantileSketch& s = got.sketches[g];
        EXPECT_EQ(s.scale(), one.scale()) << g << " " << max_buckets;
        EXPECT_TRUE(s.positive() == one.positive()) << g << " " << max_buckets;
        EXPECT_TRUE(s.negative() == one.negative()) << g << " " << max_buckets;
        EXPECT_EQ(s.count(), one.count()) << g << " " << max_buckets;
        EXPECT_EQ(s.min(), one.min()) << g << " " << max_buckets;
        EXPECT_EQ(s.max(), one.max()) << g << " " << max_buckets;
      }
      EXPECT_EQ(got.bucket_counts, expected) << max_buckets << " " << chunk;
      if (max_buckets == 16) {
        EXPECT_LT(got.sketches[0].scale(), QuantileSketch::scale_for_accuracy(0.01));
      }
    }
  }
}

TEST(GroupedSketchBuilder, GrowsGroupsBetweenChunks) {
  const std::vector<std::int32_t> first = {0, 1, 0};
  const std::vector<std::int32_t> second = {2, 3, 1};
  const std::vector<double> v = {1.0, 2.0, 3.0};
  perfstats::GroupedSketchBuilder b(2, 0.01);
  b.add(first.data(), v.data(), 3, 0);
  EXPECT_THROW(b.add(second.data(), v.data(), 3, 3), std::invalid_argument);
  b.grow(4);
  b.add(second.data(), v.data(), 3, 3);
  const auto got = b.finish();
  ASSERT_EQ(got.sketches.size(), 4U);
  EXPECT_EQ(got.sketches[0].count(), 2.0);
  EXPECT_EQ(got.sketches[0].sum(), 4.0);
  EXPECT_EQ(got.sketches[1].count(), 2.0);
  EXPECT_EQ(got.sketches[1].max(), 3.0);
  EXPECT_EQ(got.sketches[2].min(), 1.0);
  EXPECT_EQ(got.sketches[3].count(), 1.0);
}

TEST(QuantileSketch, SumOverflowsToInfinityNotNaN) {
  QuantileSketch one;
  one.add(1e308);
  one.add(1e308);
  EXPECT_EQ(one.sum(), std::numeric_limits<double>::infinity());
  EXPECT_EQ(one.mean(), std::numeric_limits<double>::infinity());
  const std::vector<double> v = {1e308, 1e308, 1e308, 1e308, 1e308};
  QuantileSketch batch;
  batch.add(v.data(), v.size());
  EXPECT_EQ(batch.sum(), std::numeric_limits<double>::infinity());
  batch.merge(one);
  EXPECT_EQ(batch.sum(), std::numeric_limits<double>::infinity());
  const std::string b = batch.to_bytes();
  const QuantileSketch back =
      QuantileSketch::from_bytes(reinterpret_cast<const std::uint8_t*>(b.data()), b.size());
  EXPECT_EQ(back.sum(), std::numeric_limits<double>::infinity());
}
