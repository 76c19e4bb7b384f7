// Splitting a loop between a few std::threads, with the error a single thread would meet.
// Two interfaces: per-thread work(t) (the grouped sketch fill, the window pass) and
// row ranges work(begin, end) (the large least-squares sweeps).
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


// Threads worth starting for a loop over n rows: one below 200,000 rows (starting a
// thread costs tens of microseconds), else two, which is what a shared machine can spare.
inline std::size_t threads_for(std::size_t n) {
  if (n < 200000) return 1;
  return std::min<std::size_t>(2, std::max<unsigned>(1, std::thread::hardware_concurrency()));
}

// Runs work(begin, end) on `threads` consecutive ranges covering [0, n), each a whole
// number of `grain` rows but the last; the calling thread takes the first range. Once all
// have finished, rethrows the exception of the lowest range that threw: the error a
// sequential loop would have met first.
template <class Work>
void parallel_ranges(std::size_t n, std::size_t grain, std::size_t threads, Work&& work) {
  const std::size_t grains = (n + grain - 1) / grain;
  threads = std::max<std::size_t>(1, std::min(threads, grains));
  std::vector<std::size_t> edge(threads + 1);
  for (std::size_t t = 0; t <= threads; ++t) {
    edge[t] = std::min(n, (grains / threads * t + std::min(t, grains % threads)) * grain);
  }
  std::vector<std::exception_ptr> errors(threads);
  std::vector<std::thread> pool;
  pool.reserve(threads - 1);
  for (std::size_t t = 1; t < threads; ++t) {
    pool.emplace_back([&errors, &work, &edge, t] {
      try {
        work(edge[t], edge[t + 1]);
      } catch (...) {
        errors[t] = std::current_exception();
      }
    });
  }
  try {
    work(edge[0], edge[1]);
  } catch (...) {
    errors[0] = std::current_exception();
  }
  for (std::thread& th : pool) th.join();
  for (const std::exception_ptr& e : errors) {
    if (e) std::rethrow_exception(e);
  }
}

}  // namespace perfstats::detail
