// Splitting a loop between a few std::threads, with the error a single thread would meet.
// Per-thread work(t) (the grouped sketch fill, the window pass), or row ranges
// work(begin, end) in whole blocks (the large least-squares sweeps).
#pragma once

#include <algorithm>
#include <cstddef>
#include <exception>
#include <thread>
#include <vector>

namespace perfstats::detail {

// Runs work(t) for t in [0, n_threads): t = 0 on the calling thread. Rethrows the exception
// of the lowest t that threw, so the error is the one a single thread would have met first.
template <class Work>
void run_parallel(std::size_t n_threads, Work&& work) {
  std::vector<std::exception_ptr> errors(n_threads);
  std::vector<std::thread> pool;
  pool.reserve(n_threads - 1);
  for (std::size_t t = 1; t < n_threads; ++t) {
    pool.emplace_back([&errors, &work, t] {
      try {
        work(t);
      } catch (...) {
        errors[t] = std::current_exception();
      }
    });
  }
  try {
    work(0);
  } catch (...) {
    errors[0] = std::current_exception();
  }
  for (std::thread& th : pool) th.join();
  for (const std::exception_ptr& e : errors) {
    if (e) std::rethrow_exception(e);
  }
}

// Threads for a pass over n rows: `requested`, or with 0 two for large inputs (what a shared
// machine can spare; threads do not pay for small ones) and one otherwise; never more than n.
inline std::size_t thread_count(std::size_t requested, std::size_t n) {
  if (requested == 0) {
    const std::size_t hw = std::max<std::size_t>(1, std::thread::hardware_concurrency());
    requested = n < 200000 ? 1 : std::min<std::size_t>(2, hw);
  }
  return std::max<std::size_t>(1, std::min(requested, std::max<std::size_t>(n, 1)));
}

// First row of part t when n rows are split into T parts of (almost) equal size.
inline std::size_t part_begin(std::size_t n, std::size_t T, std::size_t t) {
  return n / T * t + std::min(t, n % T);
}

// Runs work(begin, end) on `threads` consecutive ranges covering [0, n), each a whole
// number of `grain` rows but the last; the calling thread takes the first range. Errors as
// run_parallel: the one a sequential loop would have met first.
template <class Work>
void parallel_ranges(std::size_t n, std::size_t grain, std::size_t threads, Work&& work) {
  const std::size_t grains = (n + grain - 1) / grain;
  threads = std::max<std::size_t>(1, std::min(threads, grains));
  run_parallel(threads, [&](std::size_t t) {
    work(std::min(n, part_begin(grains, threads, t) * grain),
         std::min(n, part_begin(grains, threads, t + 1) * grain));
  });
}

}  // namespace perfstats::detail
