// merge_packed_rows: the roll-up of a history store's rows in one call. Each row's blob is
// a sequence of entries
//
//     [kind: 1 byte][name length: 1 byte][name][payload length: 4 bytes, big-endian][payload]
//
// with kind 's' (a serialized QuantileSketch), 'm' (Moments) or 'h' (Histogram): the
// format of perfstats.history (version 1). Rows are merged per (group, kind, name) in row
// order: the result is that of from_bytes and merge one row after another, and every
// payload gets from_bytes's full validation.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "perfstats/histogram.hpp"
#include "perfstats/moments.hpp"
#include "perfstats/quantile_sketch.hpp"

namespace perfstats {

struct PackedMerge {
  std::int64_t group;  // the rows' group
  char kind;           // 's', 'm' or 'h'
  std::string name;    // the metric's name (bytes as stored)
  std::variant<QuantileSketch, Moments, Histogram> object;
  std::size_t rows;  // how many rows carried this object
};

// Merges the `n` rows packed back to back in `data` (row i spans [ends[i - 1], ends[i]),
// row 0 starts at 0) per (groups[i], kind, name); rows of a negative group are skipped.
// Results come in the order their (group, kind, name) first appears. Throws
// std::invalid_argument naming the row of a truncated blob, an unknown kind, or an
// unreadable or unmergeable payload.
std::vector<PackedMerge> merge_packed_rows(const std::uint8_t* data, const std::size_t* ends,
                                           const std::int64_t* groups, std::size_t n);

}  // namespace perfstats
