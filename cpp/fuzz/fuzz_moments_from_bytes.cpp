// libFuzzer target: Moments::from_bytes must reject or accept any input, never crash,
// and whatever it accepts must survive a round trip and stay usable.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "perfstats/detail/bytes.hpp"
#include "perfstats/moments.hpp"

namespace {

void check(const std::uint8_t* data, std::size_t size) {
  try {
    const perfstats::Moments m = perfstats::Moments::from_bytes(data, size);
    // The invariants of every summary built by add and merge.
    if (m.count() > 0.0) {
      const double scale = std::max(std::fabs(m.min()), std::fabs(m.max()));
      if (m.size() == 0) std::abort();
      if (!(m.mean() >= m.min() - 1e-12 * scale && m.mean() <= m.max() + 1e-12 * scale)) {
        std::abort();
      }
      if (!(m.m2() >= 0.0 && m.m4() >= 0.0)) std::abort();
    } else if (m.m2() != 0.0 || m.sum() != 0.0) {
      std::abort();
    }
    const std::string again = m.to_bytes();
    const auto* p = reinterpret_cast<const std::uint8_t*>(again.data());
    if (!(perfstats::Moments::from_bytes(p, again.size()) == m)) std::abort();
    perfstats::Moments copy = m;
    copy.merge(m);
    copy.add(1.0);
    (void)copy.variance();
    (void)copy.kurtosis();
  } catch (const std::invalid_argument&) {
    // Rejecting malformed input is the expected outcome.
  } catch (const std::domain_error&) {
    // So is refusing a value the accepted state cannot absorb.
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  check(data, size);
  // Most random inputs fail the CRC; also try the payload inside a valid envelope so the
  // field validation itself gets exercised.
  std::string framed = "PSMO";
  framed.push_back('\x01');
  framed.append(reinterpret_cast<const char*>(data), size);
  const auto* f = reinterpret_cast<const std::uint8_t*>(framed.data());
  const std::uint32_t crc = perfstats::detail::crc32(f, framed.size());
  for (int i = 0; i < 4; ++i) framed.push_back(static_cast<char>((crc >> (8 * i)) & 0xFFU));
  check(reinterpret_cast<const std::uint8_t*>(framed.data()), framed.size());
  return 0;
}
