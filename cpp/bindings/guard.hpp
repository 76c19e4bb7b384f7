// Locks that make every mutable bound object safe to share between Python threads.
//
// The C++ core classes are plain (not thread-safe: guard externally). The bindings release
// the GIL around long loops, so without a lock two Python threads could change one object at
// once. Every binding that reads or writes a mutable object runs the C++ work through
// `locked` (short work: the GIL is kept when the lock is free at once) or `locked_nogil`
// (long loops: the GIL is released before waiting for the lock).
//
// The locks live in a fixed table indexed by the object's address (lock striping): no type
// changes, no per-object allocation, and an object's lock is the same for its whole life.
// Two objects that share a stripe only wait for each other, they never deadlock: a call locks
// at most two stripes, both at once (std::lock's deadlock avoidance), one when they coincide.
//
// Deadlock freedom with the GIL: a thread never asks for the GIL while it holds a stripe.
// Either it took the stripe with the GIL held and gives it back before releasing the GIL,
// or it released the GIL first and gives the stripe back before taking the GIL again. The
// callable run under the lock must therefore not touch Python objects.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>

#include "pybind.hpp"

namespace perfstats::python {

namespace detail {

struct alignas(64) Stripe {
  std::mutex mutex;
};

inline std::mutex& stripe_of(const void* object) noexcept {
  static std::array<Stripe, 1024> stripes;
  // Objects are at least 8-byte aligned; mix the higher bits so neighbours spread out.
  auto h = reinterpret_cast<std::uintptr_t>(object) >> 4;
  h ^= h >> 10;
  h ^= h >> 20;
  return stripes[h % stripes.size()].mutex;
}

// The stripes of one or two objects, locked and unlocked together.
class Stripes {
 public:
  explicit Stripes(const void* a, const void* b = nullptr) noexcept
      : a_(&stripe_of(a)), b_(b == nullptr ? nullptr : &stripe_of(b)) {
    if (b_ == a_) b_ = nullptr;
  }
  bool try_lock() noexcept {
    return b_ == nullptr ? a_->try_lock() : std::try_lock(*a_, *b_) == -1;
  }
  void lock() {
    if (b_ == nullptr) {
      a_->lock();
    } else {
      std::lock(*a_, *b_);
    }
  }
  void unlock() noexcept {
    a_->unlock();
    if (b_ != nullptr) b_->unlock();
  }

 private:
  std::mutex* a_;
  std::mutex* b_;
};

struct Unlock {
  Stripes& stripes;
  ~Unlock() { stripes.unlock(); }
};

}  // namespace detail

// Runs f() (pure C++, no Python objects) holding the locks of `a` (and `b`). Keeps the GIL
// when the locks are free; else releases it while waiting and running.
template <class F>
decltype(auto) locked(F&& f, const void* a, const void* b = nullptr) {
  detail::Stripes s(a, b);
  if (s.try_lock()) {
    detail::Unlock u{s};
    return std::invoke(std::forward<F>(f));
  }
  py::gil_scoped_release release;
  s.lock();
  detail::Unlock u{s};
  return std::invoke(std::forward<F>(f));
}

// Runs f() (pure C++, no Python objects) with the GIL released, holding the locks of `a`
// (and `b`): for loops over arrays. Buffers f reads must be kept alive by the caller's
// arguments and must not be kept past the call.
template <class F>
decltype(auto) locked_nogil(F&& f, const void* a, const void* b = nullptr) {
  detail::Stripes s(a, b);
  py::gil_scoped_release release;
  s.lock();
  detail::Unlock u{s};
  return std::invoke(std::forward<F>(f));
}

// A copy of `obj` taken under its lock (to read it with the GIL held afterwards).
template <class T>
T locked_copy(const T& obj) {
  return locked([&] { return T(obj); }, &obj);
}

// A `def_property_readonly` getter calling a const member function under the object's lock.
template <class T, class Pm>
auto locked_getter(Pm pm) {
  return [pm](const T& self) { return locked([&] { return (self.*pm)(); }, &self); };
}

}  // namespace perfstats::python
