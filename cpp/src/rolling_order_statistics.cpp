// Sliding-window median and MAD over a sorted copy of the window (see the header for the
// two layouts and their costs).
#include "perfstats/rolling_order_statistics.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <stdexcept>
#include <string>

namespace perfstats {
namespace {

// Branch-free binary searches over ranks [0, n) of a sorted sequence read through `at`:
// the comparisons on random data are unpredictable, so index arithmetic on a 0/1 mask
// beats a branch (std::lower_bound mispredicts about half the steps).
template <class At>
std::size_t lower_rank(const At& at, std::size_t n, double value) noexcept {
  std::size_t base = 0;
  while (n > 1) {
    const std::size_t half = n / 2;
    base += static_cast<std::size_t>(at(base + half - 1) < value) * half;
    n -= half;
  }
  return base + ((n == 1 && at(base) < value) ? 1 : 0);
}

// lower_rank(leaving) and the upper rank of `arriving` in one loop: both searches halve
// the same range, so their two independent chains of loads overlap.
template <class At>
void both_ranks(const At& at, std::size_t n, double leaving, double arriving,
                std::size_t* lower, std::size_t* upper) noexcept {
  std::size_t lo = 0;
  std::size_t up = 0;
  while (n > 1) {
    const std::size_t half = n / 2;
    lo += static_cast<std::size_t>(at(lo + half - 1) < leaving) * half;
    up += static_cast<std::size_t>(at(up + half - 1) <= arriving) * half;
    n -= half;
  }
  if (n == 1) {
    lo += static_cast<std::size_t>(at(lo) < leaving);
    up += static_cast<std::size_t>(at(up) <= arriving);
  }
  *lower = lo;
  *upper = up;
}

template <class At>
double median_of(const At& at, std::size_t n) noexcept {
  if (n == 0) return std::numeric_limits<double>::quiet_NaN();
  const std::size_t h = n / 2;
  if (n % 2 == 1) return at(h);
  return 0.5 * (at(h - 1) + at(h));
}

// The k-th smallest (0-based) of |x - center| over the n sorted values, where `split` is
// the first rank holding a value >= center; the (k+1)-th goes to *next if asked.
// `hint` (in/out) is where the answer was last time: the window changes by one value per
// push, so a galloping search from there usually settles in two or three probes. The
// predicate is monotone, so any search finds the same answer; the hint only saves time.
template <class At>
double kth_distance(const At& at, std::size_t n, std::size_t k, double center,
                    std::size_t split, double* next, std::size_t* hint) noexcept {
  // Left run: center - at(split - 1 - i), right run: at(split + j) - center; both
  // ascending. Find the smallest count i taken from the left such that the first k + 1
  // merged distances are left[0, i) and right[0, k + 1 - i).
  const std::size_t a = split;
  const std::size_t b = n - split;
  auto left = [&](std::size_t i) { return center - at(split - 1 - i); };
  auto right = [&](std::size_t j) { return at(split + j) - center; };
  // more(i): the answer is above i (i < k + 1 always holds where it is asked).
  auto more = [&](std::size_t i) { return left(i) < right(k - i); };
  std::size_t lo = (k + 1 > b) ? k + 1 - b : 0;
  std::size_t hi = std::min(a, k + 1);
  const std::size_t start = std::min(std::max(*hint, lo), hi);
  if (start < hi && more(start)) {
    lo = start + 1;
    for (std::size_t step = 1; lo + step - 1 < hi; step *= 2) {
      const std::size_t probe = lo + step - 1;
      if (!more(probe)) {
        hi = probe;
        break;
      }
      lo = probe + 1;
    }
  } else {
    hi = start;
    for (std::size_t step = 1; step <= hi - lo; step *= 2) {
      const std::size_t probe = hi - step;
      if (more(probe)) {
        lo = probe + 1;
        break;
      }
      hi = probe;
    }
  }
  while (lo < hi) {
    const std::size_t i = lo + (hi - lo) / 2;  // < hi <= k + 1
    const bool above = more(i);
    lo = above ? i + 1 : lo;
    hi = above ? hi : i;
  }
  const std::size_t i = lo;
  *hint = i;
  const std::size_t j = k + 1 - i;
  constexpr double inf = std::numeric_limits<double>::infinity();
  const double kth = std::max(i > 0 ? left(i - 1) : -inf, j > 0 ? right(j - 1) : -inf);
  if (next != nullptr) *next = std::min(i < a ? left(i) : inf, j < b ? right(j) : inf);
  return kth;
}

template <class At>
double mad_of(const At& at, std::size_t n, std::size_t* hint) noexcept {
  if (n == 0) return std::numeric_limits<double>::quiet_NaN();
  const std::size_t h = n / 2;
  const double m = median_of(at, n);
  // First rank holding a value >= m: h itself unless the value just below equals m
  // (ties at the median), which needs a search of the lower half only.
  std::size_t split = h;
  if (h > 0 && !(at(h - 1) < m)) split = lower_rank(at, h, m);
  if (n % 2 == 1) return kth_distance(at, n, h, m, split, nullptr, hint);
  double hi = 0.0;
  const double lo = kth_distance(at, n, h - 1, m, split, &hi, hint);
  return 0.5 * (lo + hi);
}

}  // namespace

RollingOrderStatistics::RollingOrderStatistics(std::size_t capacity, std::size_t block) {
  if (capacity < 1) {
    throw std::invalid_argument("window must be >= 1, got " + std::to_string(capacity));
  }
  if (block != 0 && (block < 2 || (block & (block - 1)) != 0)) {
    throw std::invalid_argument("block must be 0 or a power of two >= 2, got " +
                                std::to_string(block));
  }
  ring_.assign(capacity, 0.0);
  if (block == 0 && capacity <= kFlatCapacity) {
    sorted_.assign(capacity, 0.0);
    return;
  }
  if (block == 0) {
    block = 2;
    while (block * block < capacity) block *= 2;
  }
  tiered_ = true;
  while ((std::size_t{1} << shift_) < block) ++shift_;
  mask_ = block - 1;
  const std::size_t blocks = (capacity + block - 1) / block;
  sorted_.assign(blocks * block, 0.0);
  heads_.assign(blocks, 0);
}

void RollingOrderStatistics::clear() noexcept {
  count_ = 0;
  head_ = 0;
  std::fill(heads_.begin(), heads_.end(), std::size_t{0});
}

void RollingOrderStatistics::push(double value) {
  if (tiered_) {
    push_tiered(value);
  } else {
    push_flat(value);
  }
}

void RollingOrderStatistics::push_flat(double value) {
  const std::size_t cap = ring_.size();
  double* data = sorted_.data();
  const auto flat = [data](std::size_t r) { return data[r]; };
  if (count_ == cap) {
    const double old = ring_[head_];
    // Any copy of an equal value will do: they are indistinguishable in the sorted copy.
    std::size_t leave = 0;
    std::size_t arrive = 0;
    both_ranks(flat, cap, old, value, &leave, &arrive);
    // Shift only the span between the leaving and the arriving position.
    if (arrive <= leave) {
      std::move_backward(data + arrive, data + leave, data + leave + 1);
      data[arrive] = value;
    } else {
      std::move(data + leave + 1, data + arrive, data + leave);
      data[arrive - 1] = value;
    }
    ring_[head_] = value;
    if (++head_ == cap) head_ = 0;
  } else {
    ring_[count_] = value;  // fills in order; head_ stays 0 until full
    const std::size_t pos = static_cast<std::size_t>(
        std::upper_bound(data, data + count_, value) - data);
    std::move_backward(data + pos, data + count_, data + count_ + 1);
    data[pos] = value;
    ++count_;
  }
}

// Inserts `value` at rank `rank` (count_ < capacity): each later block takes the last
// value of the block before it at its front, then the value goes into its block.
void RollingOrderStatistics::insert_tiered(std::size_t rank, double value) noexcept {
  const std::size_t b = rank >> shift_;
  const std::size_t last = count_ >> shift_;
  for (std::size_t k = last; k > b; --k) {
    const double moved = slot(k - 1, mask_);
    heads_[k] = (heads_[k] + mask_) & mask_;  // one slot back
    slot(k, 0) = moved;
  }
  const std::size_t held = b < last ? mask_ : count_ - (b << shift_);
  const std::size_t at_offset = rank & mask_;
  for (std::size_t o = held; o > at_offset; --o) slot(b, o) = slot(b, o - 1);
  slot(b, at_offset) = value;
  ++count_;
}

// Full window: the value of rank `leave` goes and `value` arrives at upper rank `arrive`
// (both ranks in the window before the change). Only the ranks between the two move by
// one: shifts inside the two end blocks and a rotation (head bump) of each block between.
void RollingOrderStatistics::replace_tiered(std::size_t leave, std::size_t arrive,
                                            double value) noexcept {
  const std::size_t bl = leave >> shift_;
  if (arrive <= leave) {  // ranks arrive .. leave - 1 move up one; value lands at arrive
    const std::size_t ba = arrive >> shift_;
    if (ba == bl) {
      for (std::size_t o = leave & mask_; o > (arrive & mask_); --o) {
        slot(bl, o) = slot(bl, o - 1);
      }
      slot(bl, arrive & mask_) = value;
      return;
    }
    for (std::size_t o = leave & mask_; o > 0; --o) slot(bl, o) = slot(bl, o - 1);
    slot(bl, 0) = slot(bl - 1, mask_);
    for (std::size_t k = bl - 1; k > ba; --k) {
      const double moved = slot(k - 1, mask_);
      heads_[k] = (heads_[k] + mask_) & mask_;  // rotate: the old last slot becomes first
      slot(k, 0) = moved;
    }
    for (std::size_t o = mask_; o > (arrive & mask_); --o) slot(ba, o) = slot(ba, o - 1);
    slot(ba, arrive & mask_) = value;
  } else {  // ranks leave + 1 .. arrive - 1 move down one; value lands at arrive - 1
    const std::size_t land = arrive - 1;
    const std::size_t ba = land >> shift_;
    if (ba == bl) {
      for (std::size_t o = leave & mask_; o < (land & mask_); ++o) {
        slot(bl, o) = slot(bl, o + 1);
      }
      slot(bl, land & mask_) = value;
      return;
    }
    for (std::size_t o = leave & mask_; o < mask_; ++o) slot(bl, o) = slot(bl, o + 1);
    slot(bl, mask_) = slot(bl + 1, 0);
    for (std::size_t k = bl + 1; k < ba; ++k) {
      heads_[k] = (heads_[k] + 1) & mask_;  // rotate: the old first slot becomes last
      slot(k, mask_) = slot(k + 1, 0);
    }
    for (std::size_t o = 0; o < (land & mask_); ++o) slot(ba, o) = slot(ba, o + 1);
    slot(ba, land & mask_) = value;
  }
}

void RollingOrderStatistics::push_tiered(double value) {
  const std::size_t cap = ring_.size();
  const auto rank_value = [this](std::size_t r) { return at(r); };
  if (count_ == cap) {
    const double old = ring_[head_];
    std::size_t leave = 0;
    std::size_t arrive = 0;
    both_ranks(rank_value, cap, old, value, &leave, &arrive);
    replace_tiered(leave, arrive, value);
    ring_[head_] = value;
    if (++head_ == cap) head_ = 0;
  } else {
    ring_[count_] = value;
    std::size_t pos = 0;  // upper rank: first rank holding a value > `value`
    std::size_t n = count_;
    while (n > 0) {
      const std::size_t half = n / 2;
      if (at(pos + half) <= value) {
        pos += half + 1;
        n -= half + 1;
      } else {
        n = half;
      }
    }
    insert_tiered(pos, value);
  }
}

double RollingOrderStatistics::median() const noexcept {
  if (tiered_) return median_of([this](std::size_t r) { return at(r); }, count_);
  const double* data = sorted_.data();
  return median_of([data](std::size_t r) { return data[r]; }, count_);
}

double RollingOrderStatistics::mad() const noexcept {
  if (tiered_) return mad_of([this](std::size_t r) { return at(r); }, count_, &mad_hint_);
  const double* data = sorted_.data();
  return mad_of([data](std::size_t r) { return data[r]; }, count_, &mad_hint_);
}

double RollingOrderStatistics::mean_absolute_deviation(double center) const noexcept {
  if (count_ == 0) return std::numeric_limits<double>::quiet_NaN();
  double sum = 0.0;
  for (std::size_t r = 0; r < count_; ++r) {
    sum += std::fabs((tiered_ ? at(r) : sorted_[r]) - center);
  }
  return sum / static_cast<double>(count_);
}

std::size_t RollingOrderStatistics::count_at_least(double x) const noexcept {
  // First rank whose value is >= x; every rank from there on holds a value >= x.
  std::size_t lo = 0;
  std::size_t hi = count_;
  if (x != x) return 0;
  while (lo < hi) {
    const std::size_t mid = lo + (hi - lo) / 2;
    if ((tiered_ ? at(mid) : sorted_[mid]) < x) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return count_ - lo;
}

}  // namespace perfstats
