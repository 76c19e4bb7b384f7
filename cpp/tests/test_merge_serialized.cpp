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
#include "perfstats/packed_rows.hpp"
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

namespace {

// One stored row: entries [kind][name length][name][u32 BE length][payload].
std::string entry(char kind, const std::string& name, const std::string& payload) {
  std::string out(1, kind);
  out += static_cast<char>(name.size());
  out += name;
  const auto n = static_cast<std::uint32_t>(payload.size());
  for (int shift : {24, 16, 8, 0}) out += static_cast<char>((n >> shift) & 0xff);
  return out + payload;
}

}  // namespace

TEST(MergePackedRows, MergesPerGroupKindAndNameInRowOrder) {
  std::mt19937_64 rng(11);
  std::lognormal_distribution<double> d(6.0, 0.5);
  Packed rows;
  std::vector<std::int64_t> groups;
  QuantileSketch want_s[2];
  Moments want_m[2];
  bool first[2] = {true, true};
  for (int i = 0; i < 30; ++i) {
    const int g = i % 3 == 2 ? -1 : i % 3;  // every third row skipped
    QuantileSketch s;
    Moments m;
    for (int k = 0; k < 5; ++k) {
      const double x = d(rng);
      s.add(x);
      m.add(x);
    }
    rows.add(entry('m', "latency_ms", m.to_bytes()) + entry('s', "latency_ms", s.to_bytes()));
    groups.push_back(g);
    if (g < 0) continue;
    if (first[g]) {
      want_s[g] = s;
      want_m[g] = m;
      first[g] = false;
    } else {
      want_s[g].merge(s);
      want_m[g].merge(m);
    }
  }
  const auto got = perfstats::merge_packed_rows(rows.bytes(), rows.ends.data(), groups.data(),
                                                groups.size());
  ASSERT_EQ(got.size(), 4u);  // (0, m), (0, s), (1, m), (1, s) in order of first sight
  EXPECT_EQ(got[0].group, 0);
  EXPECT_EQ(got[0].kind, 'm');
  EXPECT_EQ(got[1].kind, 's');
  EXPECT_EQ(got[2].group, 1);
  for (const auto& r : got) {
    EXPECT_EQ(r.name, "latency_ms");
    EXPECT_EQ(r.rows, 10u);
    if (r.kind == 's') {
      EXPECT_TRUE(std::get<QuantileSketch>(r.object) == want_s[r.group]);
    } else {
      EXPECT_TRUE(std::get<Moments>(r.object) == want_m[r.group]);
    }
  }
}

TEST(MergePackedRows, DamagedRowsAreNamed) {
  QuantileSketch s;
  s.add(3.0);
  const std::string good = entry('s', "latency_ms", s.to_bytes());
  const std::int64_t groups[] = {0, 0};
  const auto expect_error = [&](const std::string& second, const std::string& what) {
    Packed p;
    p.add(good);
    p.add(second);
    try {
      perfstats::merge_packed_rows(p.bytes(), p.ends.data(), groups, 2);
      FAIL() << "no error for " << what;
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find("row 1"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
    }
  };
  for (std::size_t cut = 1; cut < good.size(); ++cut) {
    expect_error(good.substr(0, cut), "truncated");
  }
  expect_error("z" + good.substr(1), "unknown kind 'z'");
  Histogram h({1.0});
  expect_error(entry('s', "latency_ms", h.to_bytes()), "QuantileSketch");
}
