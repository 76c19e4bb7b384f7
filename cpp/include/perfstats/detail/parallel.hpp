// Splitting one large loop between a few threads, with the errors of a sequential run.
#pragma once

#include <algorithm>
#include <cstddef>
#include <exception>
#include <thread>
#include <vector>

namespace perfstats::detail {

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
