// libFuzzer target: Histogram::from_bytes must reject or accept any input, never crash,
// and whatever it accepts must survive a round trip unchanged.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

#include "perfstats/detail/bytes.hpp"
#include "perfstats/histogram.hpp"

namespace {

void check(const std::uint8_t* data, std::size_t size) {
  try {
    const perfstats::Histogram h = perfstats::Histogram::from_bytes(data, size);
    // The invariants of every histogram built by add and merge.
    if (h.count() > 0.0) {
      if (!(h.min() <= h.max())) std::abort();
      const double lo = h.count() * h.min(), hi = h.count() * h.max();
      if (std::isnan(h.sum())) std::abort();
      if (std::isfinite(lo) && h.sum() < lo - 1e-6 * std::fabs(lo)) std::abort();
      if (std::isfinite(hi) && h.sum() > hi + 1e-6 * std::fabs(hi)) std::abort();
    }
    const std::string again = h.to_bytes();
    const auto* p = reinterpret_cast<const std::uint8_t*>(again.data());
    if (!(perfstats::Histogram::from_bytes(p, again.size()) == h)) std::abort();
    // Accepted histograms must stay usable: filling and merging into a copy.
    perfstats::Histogram copy = h;
    copy.merge(h);
    copy.add(0.0);
  } catch (const std::invalid_argument&) {
    // Rejecting malformed input is the expected outcome.
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  check(data, size);
  // Mutations almost never keep the CRC-32 right, so also try the input with its
  // trailer recomputed: that reaches the content checks behind the checksum.
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
