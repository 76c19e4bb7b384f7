// libFuzzer: merge_serialized / merge_serialized_into on any input either throw
// std::invalid_argument (leaving the target unchanged) or give the object that from_bytes
// and merge one after another give; merge_packed_rows (the history store's rows) either
// throws std::invalid_argument or gives one object per (group, kind, name) of the rows. The input is cut into objects at the positions its
// first byte picks, so a mutation reaches every object boundary; each object is tried as a
// QuantileSketch, Moments and Histogram. Objects with a mended CRC trailer are also tried.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

#include "perfstats/detail/bytes.hpp"
#include "perfstats/histogram.hpp"
#include "perfstats/merge_serialized.hpp"
#include "perfstats/moments.hpp"
#include "perfstats/packed_rows.hpp"
#include "perfstats/quantile_sketch.hpp"

namespace {

template <class T>
void check(const std::uint8_t* data, const std::vector<std::size_t>& ends, T seed) {
  // the oracle: one from_bytes and merge after another
  bool ok = true;
  T want = seed;
  std::size_t start = 0;
  for (std::size_t e : ends) {
    try {
      want.merge(T::from_bytes(data + start, e - start));
    } catch (const std::invalid_argument&) {
      ok = false;
      break;
    }
    start = e;
  }
  T got = seed;
  try {
    perfstats::merge_serialized_into(got, data, ends.data(), ends.size());
    if (!ok || !(got == want)) std::abort();
  } catch (const std::invalid_argument&) {
    if (ok || !(got == seed)) std::abort();  // refused: unchanged
  }
  // merge_serialized starts from the first object instead of `seed`: when every object
  // merged into `seed`, it must read them all too (any outcome otherwise: histograms of
  // other boundaries than `seed`'s may well merge with each other)
  try {
    const T all = perfstats::merge_serialized<T>(data, ends.data(), ends.size());
    (void)all.to_bytes();
  } catch (const std::invalid_argument&) {
    if (ok && !ends.empty()) std::abort();
  }
}

std::vector<std::size_t> cut(std::size_t size, std::uint8_t pieces, std::string& data) {
  std::vector<std::size_t> ends;
  const std::size_t n = 1 + pieces % 4;
  for (std::size_t i = 1; i <= n; ++i) ends.push_back(size * i / n);
  // mend the CRC-32 trailer of every object so the checks behind it are reached
  std::size_t start = 0;
  for (std::size_t e : ends) {
    if (e - start >= 4) {
      auto* p = reinterpret_cast<std::uint8_t*>(data.data());
      const std::uint32_t crc = perfstats::detail::crc32(p + start, e - start - 4);
      for (std::size_t k = 0; k < 4; ++k) p[e - 4 + k] = static_cast<std::uint8_t>(crc >> (8 * k));
    }
    start = e;
  }
  return ends;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  for (int mend = 0; mend < 2; ++mend) {
    std::string body(reinterpret_cast<const char*>(data + 1), size - 1);
    std::vector<std::size_t> ends;
    if (mend) {
      ends = cut(body.size(), data[0], body);
    } else {
      const std::size_t n = 1 + data[0] % 4;
      for (std::size_t i = 1; i <= n; ++i) ends.push_back(body.size() * i / n);
    }
    const auto* p = reinterpret_cast<const std::uint8_t*>(body.data());
    perfstats::QuantileSketch s;
    s.add(100.0);
    check(p, ends, s);
    perfstats::Moments m;
    m.add(1.0);
    check(p, ends, m);
    perfstats::Histogram h({100.0, 500.0, 1000.0});
    h.add(250.0);
    check(p, ends, h);
    // the same pieces as rows of a history store, in groups 0, 1 and skipped (-1)
    std::vector<std::int64_t> groups;
    for (std::size_t i = 0; i < ends.size(); ++i) groups.push_back(static_cast<std::int64_t>(i % 3) - 1);
    try {
      const auto merged = perfstats::merge_packed_rows(p, ends.data(), groups.data(), ends.size());
      for (const auto& m : merged) {
        if (m.group < 0 || m.rows == 0 || m.rows > ends.size()) std::abort();
        if (m.kind != 's' && m.kind != 'm' && m.kind != 'h') std::abort();
      }
    } catch (const std::invalid_argument&) {
    }
  }
  return 0;
}
