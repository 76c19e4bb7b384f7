// Bulk deserialization for the bindings: the serialized objects of a Python iterable of
// bytes-like objects, read and merged in one call.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "guard.hpp"
#include "perfstats/merge_serialized.hpp"
#include "pybind.hpp"

namespace perfstats::python {

// The payloads of an iterable of bytes-like objects, copied back to back into one buffer
// with the GIL held, so that no Python thread can change them while they are read without
// it. An item that is not bytes-like is a TypeError naming its index.
struct Packed {
  std::string data;
  std::vector<std::size_t> ends;

  Packed(const py::handle& payloads, const char* name) {
    std::size_t i = 0;
    for (const py::handle item : py::iter(payloads)) {
      const std::string label = std::string(name) + "[" + std::to_string(i++) + "]";
      const ByteBuffer b(item, label.c_str());
      data.append(reinterpret_cast<const char*>(b.data()), b.size());
      ends.push_back(data.size());
    }
  }
  const std::uint8_t* bytes() const noexcept {
    return reinterpret_cast<const std::uint8_t*>(data.data());
  }
};

// A new T: every payload read and merged in order, without the GIL (the new object is
// seen by no other thread yet). ValueError when there is none or one is unreadable.
template <class T>
T merge_serialized_items(const py::handle& payloads, const char* name) {
  const Packed p(payloads, name);
  if (p.ends.empty()) {
    throw py::value_error(std::string(name) + " must hold at least one serialized object");
  }
  py::gil_scoped_release release;
  try {
    return merge_serialized<T>(p.bytes(), p.ends.data(), p.ends.size());
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(std::string(name) + ": " + e.what());
  }
}

// Every payload merged in order into `self`, without the GIL and under self's lock (as
// the other long loops of the bindings); `self` is unchanged when one is unreadable.
template <class T>
void merge_serialized_into_self(T& self, const py::handle& payloads, const char* name) {
  const Packed p(payloads, name);
  if (p.ends.empty()) return;
  try {
    locked_nogil([&] { merge_serialized_into(self, p.bytes(), p.ends.data(), p.ends.size()); },
                 &self);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(std::string(name) + ": " + e.what());
  }
}

}  // namespace perfstats::python
