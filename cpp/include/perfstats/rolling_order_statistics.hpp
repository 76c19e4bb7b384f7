// The median and median absolute deviation of the last `capacity` values pushed.
//
// Values are kept twice: a ring buffer (arrival order, to know which value leaves) and a
// sorted copy (for order statistics). Reading the median is O(1) and reading the MAD is
// O(log capacity) rank look-ups (a k-th-smallest search over the two sorted runs of
// distances on either side of the median). The sorted copy has two layouts:
// - up to kFlatCapacity values, one contiguous array: a push is two interleaved binary
//   searches plus one memmove of the span between the leaving and the arriving value
//   (O(capacity) but a few cycles per 32 bytes; it is faster than anything else there);
// - above that, a tiered vector: blocks of B = 2^k >= sqrt(capacity) values, each a
//   circular buffer, so a push shifts within at most two blocks and rotates each block in
//   between (one value moved and a head bump): O(sqrt capacity) per push, O(1) rank
//   access.
// Both layouts hold the same sorted sequence, so every result is identical bit for bit.
#pragma once

#include <cstddef>
#include <vector>

namespace perfstats {

class RollingOrderStatistics {
 public:
  // Largest capacity kept in one contiguous sorted array.
  static constexpr std::size_t kFlatCapacity = 4096;

  // Throws std::invalid_argument unless capacity >= 1. `block` = 0 picks the layout from
  // the capacity; a power of two >= 2 forces the tiered layout with that block size
  // (for tests of the tiered layout at small capacities).
  explicit RollingOrderStatistics(std::size_t capacity, std::size_t block = 0);

  // Appends a finite value, evicting the oldest one once `capacity` values are held.
  void push(double value);
  void clear() noexcept;

  std::size_t size() const noexcept { return count_; }
  std::size_t capacity() const noexcept { return ring_.size(); }
  // Median of the held values (mean of the two middle ones for an even count); NaN if empty.
  double median() const noexcept;
  // Median of |x - median| over the held values (same even-count rule); NaN if empty.
  double mad() const noexcept;
  // Mean of |x - center| over the held values, summed in sorted order (O(size) scan);
  // NaN if empty.
  double mean_absolute_deviation(double center) const noexcept;
  // Number of held values >= x (a binary search over ranks: O(log size)); 0 for NaN.
  std::size_t count_at_least(double x) const noexcept;

 private:
  // Tiered layout: the value of rank r.
  double at(std::size_t r) const noexcept {
    const std::size_t b = r >> shift_;
    return sorted_[(b << shift_) + ((heads_[b] + r) & mask_)];
  }
  double& slot(std::size_t b, std::size_t offset) noexcept {
    return sorted_[(b << shift_) + ((heads_[b] + offset) & mask_)];
  }
  void push_flat(double value);
  void push_tiered(double value);
  void replace_tiered(std::size_t leave, std::size_t arrive, double value) noexcept;
  void insert_tiered(std::size_t rank, double value) noexcept;

  std::vector<double> ring_;
  std::size_t head_ = 0;  // index in ring_ of the oldest value once full
  std::size_t count_ = 0;
  std::vector<double> sorted_;  // flat: ranks 0..count_-1; tiered: the blocks
  bool tiered_ = false;
  std::size_t shift_ = 0;  // log2 of the block size (tiered)
  std::size_t mask_ = 0;   // block size - 1 (tiered)
  std::vector<std::size_t> heads_;  // per block: slot of its rank-0 value (tiered)
  // Where mad()'s search ended last time (a starting guess only; results never depend
  // on it). mad() is const but not safe to call from two threads at once.
  mutable std::size_t mad_hint_ = 0;
};

}  // namespace perfstats
