// Time windows: which fixed-width window each timestamp falls in, combined with a group key
// into one dense group code, and how many rows each group has.
//
// Timestamps are integers (nanoseconds since the epoch for pandas' datetime64[ns]); the
// windows are [origin + k step, origin + (k + 1) step) for k in [0, count), origin being the
// largest multiple of step at or below the earliest timestamp (pandas' floor(step)), and count
// reaching the latest timestamp. INT64_MIN is the missing-timestamp marker (NaT) and refused.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace perfstats {

struct WindowGrid {
  std::int64_t origin = 0;
  std::int64_t step = 1;
  std::int64_t count = 0;  // number of windows
};

// The grid of `step`-wide windows covering ts[0..n). Throws std::invalid_argument when
// step <= 0, n == 0, or a timestamp is missing (naming its row).
WindowGrid window_grid(const std::int64_t* ts, std::size_t n, std::int64_t step);

// codes[i] = keys[i] * grid.count + (window of ts[i]) for every row, with keys == nullptr
// meaning key 0 for all rows; returns the number of rows of each code (n_keys * grid.count
// entries). Key is int8_t, int16_t, int32_t or int64_t; Code is int32_t (throws when
// n_keys * grid.count exceeds its range) or int64_t. Throws std::invalid_argument naming
// the first row whose key is outside [0, n_keys) or whose timestamp lies outside the grid.
// `threads` split the rows (0: two for large inputs, else one); the result does not depend
// on it. `codes` must hold n entries and not overlap the inputs. Rows are numbered from
// `first_row` in the messages (the offset of a chunk, such as a Parquet row group).
template <class Key, class Code>
std::vector<std::int64_t> window_codes(const Key* keys, std::size_t n_keys,
                                       const std::int64_t* ts, std::size_t n,
                                       const WindowGrid& grid, Code* codes,
                                       std::size_t threads = 0, std::size_t first_row = 0);

}  // namespace perfstats
