// merge_serialized / merge_serialized_into: the same object as from_bytes and merge one
// after another, and hostile input refused (with its index) without changing the target.
#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "perfstats/histogram.hpp"
#include "perfstats/merge_serialized.hpp"
#include "perfstats/moments.hpp"
#include "perfstats/quantile_sketch.hpp"

using perfstats::Histogram;
using perfstats::merge_serialized;
using perfstats::merge_serialized_into;
using perfstats::Moments;
using perfstats::QuantileSketch;

namespace {

struct Packed {
  std::string data;
  std::vector<std::size_t> ends;
  void add(const std::string& bytes) {
    data += bytes;
    ends.push_back(data.size());
  }
  const std::uint8_t* bytes() const { return reinterpret_cast<const std::uint8_t*>(data.data()); }
};

template <class T, class Fill>
void expect_sequential_merge(Fill fill) {
  std::mt19937_64 rng(7);
  std::vector<T> parts;
  Packed p;
  for (int i = 0; i < 50; ++i) {
    parts.push_back(fill(rng, i));
    p.add(parts.back().to_bytes());
  }
  T want = T::from_bytes(p.bytes(), p.ends[0]);
  for (std::size_t i = 1; i < parts.size(); ++i) want.merge(parts[i]);
  EXPECT_TRUE(merge_serialized<T>(p.bytes(), p.ends.data(), p.ends.size()) == want);
  // into an existing object: continues the merge
  T into = T::from_bytes(p.bytes(), p.ends[0]);
  std::vector<std::size_t> rest(p.ends.begin() + 1, p.ends.end());
  for (auto& e : rest) e -= p.ends[0];
  merge_serialized_into(into, p.bytes() + p.ends[0], rest.data(), rest.size());
  EXPECT_TRUE(into == want);
}

}  // namespace

TEST(MergeSerialized, EqualsFromBytesAndMergeInOrder) {
  expect_sequential_merge<QuantileSketch>([](std::mt19937_64& rng, int i) {
    QuantileSketch s(i % 3 == 0 ? 0.02 : 0.01);  // other accuracies: merges downscale
    std::lognormal_distribution<double> d(6.0, 0.7);
    for (int k = 0; k < 10 + i; ++k) s.add(d(rng));
    return s;
  });
  expect_sequential_merge<Moments>([](std::mt19937_64& rng, int i) {
    Moments m;
    std::normal_distribution<double> d(1000.0 + i, 5.0);
    for (int k = 0; k < 7; ++k) m.add(d(rng));
    return m;
  });
  expect_sequential_merge<Histogram>([](std::mt19937_64& rng, int) {
    Histogram h({100.0, 500.0, 1000.0});
    std::uniform_real_distribution<double> d(0.0, 2000.0);
    for (int k = 0; k < 9; ++k) h.add(d(rng));
    return h;
  });
}

TEST(MergeSerialized, HostileInputNamesItsIndexAndChangesNothing) {
  QuantileSketch a, b;
  a.add(1.0);
  b.add(2.0);
  Packed p;
  p.add(a.to_bytes());
  p.add(b.to_bytes());
  std::string bad = b.to_bytes();
  bad[bad.size() / 2] ^= 0x5a;  // the CRC no longer matches
  p.add(bad);
  QuantileSketch target;
  target.add(5.0);
  const QuantileSketch before = target;
  try {
    merge_serialized_into(target, p.bytes(), p.ends.data(), p.ends.size());
    FAIL() << "no error";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("object 2"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(target == before);
  EXPECT_THROW(merge_serialized<QuantileSketch>(p.bytes(), p.ends.data(), 0),
               std::invalid_argument);
  // truncated objects and decreasing ends
  for (std::size_t cut = 0; cut < p.ends[0]; ++cut) {
    const std::size_t ends[] = {cut};
    EXPECT_THROW(merge_serialized<QuantileSketch>(p.bytes(), ends, 1), std::invalid_argument);
  }
  const std::size_t backwards[] = {p.ends[1], p.ends[0]};
  EXPECT_THROW(merge_serialized<QuantileSketch>(p.bytes(), backwards, 2), std::invalid_argument);
  // histograms of other boundaries do not merge
  Histogram h1({1.0, 2.0}), h2({1.0, 3.0});
  Packed hp;
  hp.add(h1.to_bytes());
  hp.add(h2.to_bytes());
  try {
    merge_serialized<Histogram>(hp.bytes(), hp.ends.data(), hp.ends.size());
    FAIL() << "no error";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("object 1"), std::string::npos) << e.what();
  }
}
