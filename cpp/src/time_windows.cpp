// Time windows and combined group codes (see time_windows.hpp): one pass for the grid, one
// for the codes and the counts, with division by the step through a 64-bit reciprocal.
#include "perfstats/time_windows.hpp"

#include <algorithm>
#include <limits>
#include <stdexcept>
#include <string>
#include <utility>

#include "perfstats/detail/parallel.hpp"

namespace perfstats {
namespace {

constexpr std::int64_t kMissing = std::numeric_limits<std::int64_t>::min();
constexpr std::size_t kNoRow = std::numeric_limits<std::size_t>::max();

__extension__ typedef unsigned __int128 Uint128;

// floor(d / step) for any d by one multiplication: m = floor(2^64 / step) under-estimates the
// reciprocal by less than 2^-64 per unit, so the product's high word is the quotient or one
// below it, and one comparison corrects it.
class Divider {
 public:
  explicit Divider(std::uint64_t step)
      : step_(step),
        m_(step == 1 ? 0 : static_cast<std::uint64_t>((Uint128{1} << 64) / step)) {}
  std::uint64_t operator()(std::uint64_t d) const noexcept {
    if (step_ == 1) return d;
    auto q = static_cast<std::uint64_t>((static_cast<Uint128>(d) * m_) >> 64);
    q += d - q * step_ >= step_ ? 1U : 0U;
    return q;
  }

 private:
  std::uint64_t step_;
  std::uint64_t m_;
};

std::int64_t floor_div(std::int64_t a, std::int64_t b) noexcept {
  const std::int64_t q = a / b;
  return (a % b != 0 && a < 0) ? q - 1 : q;
}

}  // namespace

WindowGrid window_grid(const std::int64_t* ts, std::size_t n, std::int64_t step) {
  if (step <= 0) {
    throw std::invalid_argument("window step must be positive, got " + std::to_string(step));
  }
  if (n == 0) throw std::invalid_argument("no timestamps to split into windows");
  std::int64_t lo = std::numeric_limits<std::int64_t>::max();
  std::int64_t hi = kMissing;
  for (std::size_t i = 0; i < n; ++i) {
    lo = std::min(lo, ts[i]);
    hi = std::max(hi, ts[i]);
  }
  if (lo == kMissing) {
    const std::size_t row = static_cast<std::size_t>(std::find(ts, ts + n, kMissing) - ts);
    throw std::invalid_argument("timestamp at row " + std::to_string(row) +
                                " is missing (NaT)");
  }
  const std::int64_t k = floor_div(lo, step);
  if (k < std::numeric_limits<std::int64_t>::min() / step) {
    throw std::invalid_argument("timestamps reach too far back for windows of this step");
  }
  WindowGrid g;
  g.step = step;
  g.origin = k * step;
  const std::uint64_t span = static_cast<std::uint64_t>(hi) - static_cast<std::uint64_t>(g.origin);
  const std::uint64_t last = Divider(static_cast<std::uint64_t>(step))(span);
  if (last >= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
    throw std::invalid_argument("too many windows for this step");
  }
  g.count = static_cast<std::int64_t>(last) + 1;
  return g;
}

// Codes and counts of rows [begin, end); returns the first row that has no code (kNoRow if
// none). Everything comes by value: through a lambda's captured references the loop would
// reload each of them after every store to the counts, which may alias them.
template <class Key, class Code>
std::size_t fill_codes(const Key* keys, std::uint64_t n_keys, const std::int64_t* ts,
                       std::size_t begin, std::size_t end, std::uint64_t origin,
                       std::uint64_t step, const Divider divide, std::uint64_t n_windows,
                       Code* codes, std::int64_t* counts) {
  // Window w = [w_start, w_start + step) of the previous row (w_start = w * step): telemetry
  // is mostly in time order, so most rows skip the division.
  std::uint64_t w = 0;
  std::uint64_t w_start = 0;
  for (std::size_t i = begin; i < end; ++i) {
    // Timestamps below the origin wrap around to huge offsets and fail the check too.
    const std::uint64_t d = static_cast<std::uint64_t>(ts[i]) - origin;
    if (d - w_start >= step) {  // unsigned: also when d < w_start
      w = divide(d);
      w_start = w * step;
    }
    std::uint64_t key = 0;
    if (keys != nullptr) {
      const Key k = keys[i];
      key = static_cast<std::uint64_t>(k);
      if (k < 0) key = n_keys;
    }
    if (w >= n_windows || key >= n_keys || ts[i] == kMissing) return i;
    const std::uint64_t code = key * n_windows + w;
    codes[i] = static_cast<Code>(code);
    ++counts[code];
  }
  return kNoRow;
}

template <class Key, class Code>
std::vector<std::int64_t> window_codes(const Key* keys, std::size_t n_keys,
                                       const std::int64_t* ts, std::size_t n,
                                       const WindowGrid& grid, Code* codes,
                                       std::size_t threads, std::size_t first_row) {
  if (grid.step <= 0 || grid.count <= 0) {
    throw std::invalid_argument("window grid must have a positive step and window count");
  }
  if (n_keys == 0) throw std::invalid_argument("n_keys must be positive");
  const auto n_windows = static_cast<std::uint64_t>(grid.count);
  if (n_keys > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) / n_windows) {
    throw std::invalid_argument("too many groups: " + std::to_string(n_keys) + " keys x " +
                                std::to_string(n_windows) + " windows");
  }
  const std::size_t n_groups = n_keys * n_windows;
  if (n_groups - 1 > static_cast<std::uint64_t>(std::numeric_limits<Code>::max())) {
    throw std::invalid_argument("too many groups for " + std::to_string(sizeof(Code) * 8) +
                                "-bit codes: " + std::to_string(n_groups));
  }
  const auto step = static_cast<std::uint64_t>(grid.step);
  const Divider divide(step);
  const auto origin = static_cast<std::uint64_t>(grid.origin);
  const std::size_t T = detail::thread_count(threads, n);
  std::vector<std::vector<std::int64_t>> counts(T);
  std::vector<std::size_t> bad(T, kNoRow);
  detail::run_parallel(T, [&](std::size_t t) {
    counts[t].assign(n_groups, 0);
    bad[t] = fill_codes(keys, n_keys, ts, detail::part_begin(n, T, t),
                        detail::part_begin(n, T, t + 1), origin, step, divide, n_windows, codes,
                        counts[t].data());
  });
  for (const std::size_t row : bad) {
    if (row == kNoRow) continue;
    if (keys != nullptr && (keys[row] < 0 || static_cast<std::uint64_t>(keys[row]) >= n_keys)) {
      throw std::invalid_argument("group key " + std::to_string(keys[row]) + " at row " +
                                  std::to_string(first_row + row) + " is outside [0, " +
                                  std::to_string(n_keys) + ")");
    }
    if (ts[row] == kMissing) {
      throw std::invalid_argument("timestamp at row " + std::to_string(first_row + row) +
                                  " is missing (NaT)");
    }
    throw std::invalid_argument("timestamp " + std::to_string(ts[row]) + " at row " +
                                std::to_string(first_row + row) +
                                " lies outside the window grid");
  }
  for (std::size_t t = 1; t < T; ++t) {
    for (std::size_t g = 0; g < n_groups; ++g) counts[0][g] += counts[t][g];
  }
  return std::move(counts[0]);
}

#define PERFSTATS_WINDOW_CODES(Key, Code)                                                    \
  template std::vector<std::int64_t> window_codes<Key, Code>(                                \
      const Key*, std::size_t, const std::int64_t*, std::size_t, const WindowGrid&, Code*,   \
      std::size_t, std::size_t);
PERFSTATS_WINDOW_CODES(std::int8_t, std::int32_t)
PERFSTATS_WINDOW_CODES(std::int16_t, std::int32_t)
PERFSTATS_WINDOW_CODES(std::int32_t, std::int32_t)
PERFSTATS_WINDOW_CODES(std::int64_t, std::int32_t)
PERFSTATS_WINDOW_CODES(std::int8_t, std::int64_t)
PERFSTATS_WINDOW_CODES(std::int16_t, std::int64_t)
PERFSTATS_WINDOW_CODES(std::int32_t, std::int64_t)
PERFSTATS_WINDOW_CODES(std::int64_t, std::int64_t)
#undef PERFSTATS_WINDOW_CODES

}  // namespace perfstats
