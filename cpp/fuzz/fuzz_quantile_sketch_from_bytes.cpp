// libFuzzer: QuantileSketch::from_bytes on any input either throws std::invalid_argument or
// yields a sketch whose queries, merge and re-serialization are well defined.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "perfstats/quantile_sketch.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using perfstats::QuantileSketch;
  try {
    const QuantileSketch s = QuantileSketch::from_bytes(data, size);
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
  return 0;
}
