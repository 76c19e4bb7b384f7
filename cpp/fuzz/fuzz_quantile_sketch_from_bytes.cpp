// libFuzzer: QuantileSketch::from_bytes on any input either throws std::invalid_argument or
// yields a sketch whose queries, merge and re-serialization are well defined.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include <vector>

#include "perfstats/detail/bytes.hpp"
#include "perfstats/quantile_sketch.hpp"

namespace {

// x within [lo, hi] up to a relative 1e-9 of the bounds (infinite bounds: only the sign).
bool within(double x, double lo, double hi) {
  const bool above = std::isinf(lo) ? (lo < 0 || x == lo) : x >= lo - 1e-9 * std::fabs(lo);
  const bool below = std::isinf(hi) ? (hi > 0 || x == hi) : x <= hi + 1e-9 * std::fabs(hi);
  return !std::isnan(x) && above && below;
}

void check(const std::uint8_t* data, std::size_t size);

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  check(data, size);
  // Mutations almost never keep the CRC-32 right, so also try the input with its trailer
  // recomputed: that reaches the consistency checks behind the checksum.
  if (size >= 4) {
    std::vector<std::uint8_t> fixed(data, data + size);
    const std::uint32_t crc = perfstats::detail::crc32(fixed.data(), size - 4);
    for (std::size_t i = 0; i < 4; ++i) {
      fixed[size - 4 + i] = static_cast<std::uint8_t>(crc >> (8 * i));
    }
    check(fixed.data(), fixed.size());
  }
  return 0;
}

namespace {

void check(const std::uint8_t* data, std::size_t size) {
  using perfstats::QuantileSketch;
  try {
    const QuantileSketch s = QuantileSketch::from_bytes(data, size);
    if (!s.empty()) {
      // The invariants of every sketch built by add and merge.
      const double total = s.positive().total() + s.negative().total() + s.zero_count();
      // as from_bytes checks it: counts are weights, equal to 1e-9 (absolute below 1)
      if (!(std::fabs(total - s.count()) <= 1e-9 * std::max(1.0, total))) std::abort();
      if (!(s.min() <= s.max())) std::abort();
      if (!within(s.sum(), s.count() * s.min(), s.count() * s.max())) std::abort();
      if (std::isnan(s.mean())) std::abort();
      if (s.quantile(0.0) != s.min() || s.quantile(1.0) != s.max()) std::abort();
    }
    for (double q : {0.0, 0.01, 0.5, 0.99, 1.0}) {
      const double v = s.quantile(q);
      if (!s.empty() && !(v >= s.min() && v <= s.max())) std::abort();
    }
    (void)s.cdf(0.0);
    (void)s.cdf(1.0);
    const std::string again = s.to_bytes();
    const QuantileSketch t =
        QuantileSketch::from_bytes(reinterpret_cast<const std::uint8_t*>(again.data()),
                                   again.size());
    if (!(t == s)) std::abort();  // a readable sketch round-trips exactly
    QuantileSketch m(0.05, 64);
    m.merge(s);
    if (m.count() != s.count()) std::abort();
  } catch (const std::invalid_argument&) {
  }
}

}  // namespace
