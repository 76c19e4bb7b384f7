// Large uninitialised scratch arrays for passes over millions of rows.
//
// A fresh multi-megabyte allocation is mapped page by page on first touch; with 4 KiB pages
// the faults can cost more than the pass itself (an 80 MB buffer: ~20,000 faults). On Linux
// large buffers are therefore aligned to 2 MiB and advised for transparent huge pages, as
// NumPy does for its arrays; elsewhere they are plain allocations.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <memory>
#include <new>
#include <type_traits>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace perfstats::detail {

template <class T>
class ScratchArray {
  static_assert(std::is_trivially_copyable_v<T> && std::is_trivially_destructible_v<T>,
                "scratch arrays hold plain values");

 public:
  explicit ScratchArray(std::size_t n) {
    if (n == 0) return;
    if (n > static_cast<std::size_t>(-1) / sizeof(T)) throw std::bad_alloc();
    std::size_t bytes = n * sizeof(T);
    constexpr std::size_t kHuge = std::size_t{1} << 21;
    if (bytes >= 2 * kHuge) {
      bytes = (bytes + kHuge - 1) / kHuge * kHuge;  // aligned_alloc wants a multiple
      data_.reset(static_cast<T*>(std::aligned_alloc(kHuge, bytes)));
#if defined(__linux__) && defined(MADV_HUGEPAGE)
      if (data_) (void)madvise(data_.get(), bytes, MADV_HUGEPAGE);  // a hint: failure is fine
#endif
    } else {
      data_.reset(static_cast<T*>(std::malloc(bytes)));
    }
    if (!data_) throw std::bad_alloc();
  }

  T* get() const noexcept { return data_.get(); }
  T& operator[](std::size_t i) const noexcept { return data_.get()[i]; }

 private:
  struct Free {
    void operator()(T* p) const noexcept { std::free(p); }
  };
  std::unique_ptr<T, Free> data_;
};

}  // namespace perfstats::detail
