// libFuzzer: arbitrary doubles (NaN, inf, subnormals, both signs) and weights fed to the
// array fill never crash; valid input keeps count, min and max exact and quantiles in range.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "perfstats/quantile_sketch.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using perfstats::QuantileSketch;
  if (size < 2) return 0;
  const int scale = static_cast<int>(data[0] % 25) - 10;            // -10 .. 14
  const std::size_t max_buckets = 16 + static_cast<std::size_t>(data[1]) * 4;
  const bool weighted = (data[0] & 0x80U) != 0;
  data += 2;
  size -= 2;
  std::vector<double> values(size / sizeof(double));
  if (!values.empty()) std::memcpy(values.data(), data, values.size() * sizeof(double));
  QuantileSketch s = QuantileSketch::with_scale(scale, max_buckets);
  try {
    if (weighted) {
      std::vector<double> w(values.size());
      for (std::size_t i = 0; i < w.size(); ++i) w[i] = std::fabs(std::fmod(values[i], 7.0));
      s.add(values.data(), w.data(), values.size());
    } else {
      s.add(values.data(), values.size());
    }
  } catch (const std::invalid_argument&) {
    if (s.count() != 0.0) std::abort();  // a rejected batch adds nothing
    return 0;
  }
  if (!weighted && !values.empty()) {
    if (s.count() != static_cast<double>(values.size())) std::abort();
    if (s.min() != *std::min_element(values.begin(), values.end())) std::abort();
    if (s.max() != *std::max_element(values.begin(), values.end())) std::abort();
  }
  if (s.positive().counts.size() > max_buckets || s.negative().counts.size() > max_buckets) {
    std::abort();
  }
  for (double q : {0.0, 0.3, 0.5, 0.999, 1.0}) {
    const double v = s.quantile(q);
    if (!s.empty() && !(v >= s.min() && v <= s.max())) std::abort();
  }
  return 0;
}
