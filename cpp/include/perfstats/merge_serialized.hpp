// merge_serialized: many serialized objects (QuantileSketch, Histogram, Moments) read and
// merged in one call, as a store of windowed summaries rolls its rows up.
//
// The result is exactly that of T::from_bytes on each object and T::merge, one after
// another in the given order; every object gets from_bytes's full validation, so hostile
// bytes are refused the same way.
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>

namespace perfstats {

namespace detail {

// Merges objects first..n-1 of the packed `data` into `out` (object i spans
// [ends[i - 1], ends[i]), object 0 starts at 0), naming the index of a bad one.
template <class T>
void merge_packed(T& out, const std::uint8_t* data, const std::size_t* ends, std::size_t first,
                  std::size_t n) {
  std::size_t start = first == 0 ? 0 : ends[first - 1];
  for (std::size_t i = first; i < n; ++i) {
    if (ends[i] < start) {
      throw std::invalid_argument("object " + std::to_string(i) + " ends at " +
                                  std::to_string(ends[i]) + ", before its start " +
                                  std::to_string(start));
    }
    try {
      out.merge(T::from_bytes(data + start, ends[i] - start));
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument("object " + std::to_string(i) + ": " + e.what());
    }
    start = ends[i];
  }
}

}  // namespace detail

// Reads the `n` objects packed back to back in `data` (object i spans [ends[i - 1],
// ends[i]), object 0 starts at 0) and merges them in order into `out`. On any error `out`
// is unchanged (the merge runs on a copy) and std::invalid_argument names the index of the
// first object that is unreadable or cannot be merged (e.g. histograms with other
// boundaries), or says where `ends` decreases.
template <class T>
void merge_serialized_into(T& out, const std::uint8_t* data, const std::size_t* ends,
                           std::size_t n) {
  T acc(out);
  detail::merge_packed(acc, data, ends, 0, n);
  out = std::move(acc);
}

// The merge of the `n` (at least one) packed objects: the first read, the others merged
// into it in order. Throws std::invalid_argument as merge_serialized_into does.
template <class T>
T merge_serialized(const std::uint8_t* data, const std::size_t* ends, std::size_t n) {
  if (n == 0) throw std::invalid_argument("merge_serialized needs at least one object");
  T out = [&] {
    try {
      return T::from_bytes(data, ends[0]);
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument(std::string("object 0: ") + e.what());
    }
  }();
  detail::merge_packed(out, data, ends, 1, n);
  return out;
}

}  // namespace perfstats
