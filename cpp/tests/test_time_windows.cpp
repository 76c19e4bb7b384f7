// Time windows and combined group codes against a brute-force floor division in
// integer arithmetic only, for negative timestamps, odd steps and every key width.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "perfstats/time_windows.hpp"

using perfstats::WindowGrid;

namespace {

// floor(a / b) for b > 0 by the definition: the largest q with q * b <= a.
std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  std::int64_t q = a / b;
  while (q * b > a) --q;
  while ((q + 1) * b <= a) ++q;
  return q;
}

template <class Key>
void expect_codes(const std::vector<Key>& keys, std::size_t n_keys,
                  const std::vector<std::int64_t>& ts, std::int64_t step) {
  const WindowGrid g = perfstats::window_grid(ts.data(), ts.size(), step);
  const std::int64_t lo = *std::min_element(ts.begin(), ts.end());
  const std::int64_t hi = *std::max_element(ts.begin(), ts.end());
  ASSERT_EQ(g.origin, floor_div(lo, step) * step);
  ASSERT_EQ(g.count, floor_div(hi - g.origin, step) + 1);
  std::vector<std::int64_t> expected_codes(ts.size());
  std::vector<std::int64_t> expected_counts(n_keys * static_cast<std::size_t>(g.count), 0);
  for (std::size_t i = 0; i < ts.size(); ++i) {
    const std::int64_t w = floor_div(ts[i], step) - floor_div(lo, step);
    expected_codes[i] = static_cast<std::int64_t>(keys[i]) * g.count + w;
    ++expected_counts[static_cast<std::size_t>(expected_codes[i])];
  }
  for (std::size_t threads : {std::size_t{1}, std::size_t{2}, std::size_t{3}, std::size_t{0}}) {
    std::vector<std::int64_t> codes(ts.size(), -1);
    const auto counts = perfstats::window_codes(keys.data(), n_keys, ts.data(), ts.size(), g,
                                                codes.data(), threads);
    EXPECT_EQ(codes, expected_codes) << threads;
    EXPECT_EQ(counts, expected_counts) << threads;
    std::vector<std::int32_t> narrow(ts.size(), -1);  // the same codes in 32 bits
    const auto counts32 = perfstats::window_codes(keys.data(), n_keys, ts.data(), ts.size(), g,
                                                  narrow.data(), threads);
    EXPECT_TRUE(std::equal(narrow.begin(), narrow.end(), expected_codes.begin())) << threads;
    EXPECT_EQ(counts32, expected_counts) << threads;
  }
}

}  // namespace

TEST(TimeWindows, CodesEqualFloorDivisionForEveryKeyWidthAndSign) {
  std::mt19937_64 rng(3);
  const std::size_t n = 300007;
  std::vector<std::int64_t> ts(n);
  std::uniform_int_distribution<std::int64_t> when(-5'000'000'000'000, 5'000'000'000'000);
  for (auto& t : ts) t = when(rng);
  std::vector<std::int8_t> k8(n);
  std::vector<std::int16_t> k16(n);
  std::vector<std::int32_t> k32(n);
  std::vector<std::int64_t> k64(n);
  for (std::size_t i = 0; i < n; ++i) {
    k8[i] = static_cast<std::int8_t>(rng() % 7);
    k16[i] = static_cast<std::int16_t>(rng() % 300);
    k32[i] = static_cast<std::int32_t>(rng() % 3);
    k64[i] = static_cast<std::int64_t>(rng() % 2);
  }
  // an hour in ns, an odd step, 1 ns (more windows than rows is fine for small ranges)
  expect_codes(k8, 7, ts, 3'600'000'000'000);
  expect_codes(k16, 300, ts, 999'999'999'937);
  expect_codes(k32, 3, ts, 86'400'000'000'000);
  expect_codes(k64, 2, ts, std::int64_t{1} << 40);
  std::vector<std::int64_t> narrow(1000);
  std::vector<std::int64_t> nk(1000);
  for (std::size_t i = 0; i < narrow.size(); ++i) {
    narrow[i] = -500 + static_cast<std::int64_t>(rng() % 1000);
    nk[i] = static_cast<std::int64_t>(rng() % 4);
  }
  expect_codes(nk, 4, narrow, 1);
  expect_codes(nk, 4, narrow, 3);
}

TEST(TimeWindows, ExactAtWindowEdgesAndAcrossTheInt64Range) {
  const std::int64_t step = 3'600'000'000'000;
  const std::int64_t big = std::numeric_limits<std::int64_t>::max();
  // a row on each edge, one ns before it, and timestamps near both ends of int64
  std::vector<std::int64_t> ts = {0, step - 1, step, 2 * step, 2 * step - 1, -1, -step, -step - 1};
  std::vector<std::int8_t> keys(ts.size(), 0);
  expect_codes(keys, 1, ts, step);
  const std::int64_t wide_step = std::int64_t{1} << 61;
  const std::vector<std::int64_t> wide = {big, big - wide_step, -big, -big + wide_step + 17, 0};
  const std::vector<std::int64_t> wide_keys(wide.size(), 0);
  const WindowGrid g = perfstats::window_grid(wide.data(), wide.size(), wide_step);
  EXPECT_EQ(g.origin, std::numeric_limits<std::int64_t>::min());  // floor(-big / 2^61) = -4
  EXPECT_EQ(g.count, 8);
  std::vector<std::int64_t> codes(wide.size());
  (void)perfstats::window_codes(wide_keys.data(), 1, wide.data(), wide.size(), g, codes.data(),
                                1);
  // offsets from -2^63: 2^64 - 1, 2^64 - 1 - 2^61, 1, 2^61 + 18, 2^63
  EXPECT_EQ(codes, (std::vector<std::int64_t>{7, 6, 0, 1, 4}));
}

TEST(TimeWindows, WithoutKeysAllRowsAreKeyZero) {
  const std::vector<std::int64_t> ts = {10, 25, 11, 39, 30};
  const WindowGrid g = perfstats::window_grid(ts.data(), ts.size(), 10);
  EXPECT_EQ(g.origin, 10);
  EXPECT_EQ(g.count, 3);
  std::vector<std::int64_t> codes(ts.size());
  const auto counts = perfstats::window_codes<std::int64_t>(nullptr, 1, ts.data(), ts.size(), g,
                                                            codes.data(), 1);
  EXPECT_EQ(codes, (std::vector<std::int64_t>{0, 1, 0, 2, 2}));
  EXPECT_EQ(counts, (std::vector<std::int64_t>{2, 1, 2}));
}

TEST(TimeWindows, BadInputNamesTheRow) {
  std::vector<std::int64_t> ts(250000);
  for (std::size_t i = 0; i < ts.size(); ++i) ts[i] = static_cast<std::int64_t>(i) * 1000;
  EXPECT_THROW(perfstats::window_grid(ts.data(), ts.size(), 0), std::invalid_argument);
  EXPECT_THROW(perfstats::window_grid(ts.data(), 0, 10), std::invalid_argument);
  const WindowGrid g = perfstats::window_grid(ts.data(), ts.size(), 60'000);
  std::vector<std::int32_t> keys(ts.size(), 1);
  std::vector<std::int64_t> codes(ts.size());
  keys[200001] = 2;  // read by the second thread; the first bad row still wins
  keys[150000] = -1;
  try {
    (void)perfstats::window_codes(keys.data(), 2, ts.data(), ts.size(), g, codes.data(), 2);
    FAIL() << "no throw";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("-1 at row 150000"), std::string::npos) << e.what();
  }
  keys[150000] = 0;
  keys[200001] = 0;
  ts[7] = std::numeric_limits<std::int64_t>::min();
  try {
    (void)perfstats::window_grid(ts.data(), ts.size(), 60'000);
    FAIL() << "no throw";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("row 7 is missing"), std::string::npos) << e.what();
  }
  try {  // a grid that does not cover the data
    (void)perfstats::window_codes(keys.data(), 2, ts.data(), ts.size(), g, codes.data(), 1);
    FAIL() << "no throw";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("row 7 is missing"), std::string::npos) << e.what();
  }
  try {  // a chunk starting at row 1000 of the whole input names the row in the whole
    (void)perfstats::window_codes(keys.data(), 2, ts.data(), ts.size(), g, codes.data(), 1,
                                  1000);
    FAIL() << "no throw";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("row 1007 is missing"), std::string::npos) << e.what();
  }
  ts[7] = ts.back() + 60'000;
  EXPECT_THROW(
      (void)perfstats::window_codes(keys.data(), 2, ts.data(), ts.size(), g, codes.data(), 1),
      std::invalid_argument);
}

TEST(TimeWindows, ThirtyTwoBitCodesRefuseGroupsBeyondTheirRange) {
  const std::vector<std::int64_t> ts = {0, std::int64_t{1} << 40};
  const std::vector<std::int64_t> keys = {0, 1};
  const WindowGrid g = perfstats::window_grid(ts.data(), ts.size(), 1024);  // 2^30 + 1 windows
  std::vector<std::int32_t> narrow(ts.size());
  EXPECT_THROW(
      (void)perfstats::window_codes(keys.data(), 2, ts.data(), ts.size(), g, narrow.data(), 1),
      std::invalid_argument);
}
