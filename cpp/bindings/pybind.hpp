// The one header through which binding code includes pybind11.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstddef>
#include <cstdint>
#include <string>

namespace py = pybind11;

namespace perfstats::python {

void register_sketch(py::module_& m);
void register_histogram(py::module_& m);
void register_moments(py::module_& m);
void register_hypothesis_tests(py::module_& m);
void register_regression(py::module_& m);
void register_anomaly(py::module_& m);
void register_changepoints(py::module_& m);
void register_time_windows(py::module_& m);
void register_packed_rows(py::module_& m);

// A 1-D float64 view of any array-like. Contiguous float64 NumPy arrays are not copied;
// anything else is converted once. The caller must not keep the pointer past the call.
using DoubleArray = py::array_t<double, py::array::c_style | py::array::forcecast>;

// Checks that `a` is one-dimensional and returns its length; `name` goes in the error.
inline std::size_t length_1d(const DoubleArray& a, const char* name) {
  if (a.ndim() != 1) {
    throw py::value_error(std::string(name) + " must be one-dimensional, got " +
                          std::to_string(a.ndim()) + " dimensions");
  }
  return static_cast<std::size_t>(a.shape(0));
}

// A 1-D float64 view of an array-like: a float64 NumPy array (any stride) is viewed in
// place; anything else is converted once into `owner`. The view is valid while the caller
// holds the argument, i.e. for the duration of the call only.
struct DoubleView {
  const double* data = nullptr;
  std::size_t size = 0;
  std::ptrdiff_t stride = 1;  // in elements
  py::array owner;
};

inline DoubleView view_1d(const py::handle& obj, const char* name) {
  DoubleView v;
  py::array arr = py::array::ensure(obj);
  if (!arr || !arr.dtype().is(py::dtype::of<double>()) || arr.ndim() != 1 ||
      arr.strides(0) % static_cast<py::ssize_t>(sizeof(double)) != 0) {
    arr = DoubleArray::ensure(obj);
    if (!arr) throw py::type_error(std::string(name) + " must be an array of numbers");
  }
  if (arr.ndim() != 1) {
    throw py::value_error(std::string(name) + " must be one-dimensional, got " +
                          std::to_string(arr.ndim()) + " dimensions");
  }
  v.data = static_cast<const double*>(arr.data());
  v.size = static_cast<std::size_t>(arr.shape(0));
  v.stride = v.size > 1 ? arr.strides(0) / static_cast<py::ssize_t>(sizeof(double)) : 1;
  v.owner = std::move(arr);
  return v;
}

// The bytes of a bytes-like argument (bytes, bytearray, memoryview, a uint8 NumPy array, any
// stride or order): a contiguous buffer is read in place, anything else is copied once, in
// C order, as bytes(data) would. Valid while this object lives (the call), never longer.
class ByteBuffer {
 public:
  ByteBuffer(const py::handle& obj, const char* name) {
    if (PyObject_GetBuffer(obj.ptr(), &view_, PyBUF_FULL_RO) != 0) {
      PyErr_Clear();
      throw py::type_error(std::string(name) + " must be bytes-like, got " +
                           std::string(py::str(py::type::handle_of(obj).attr("__name__"))));
    }
    held_ = true;
    if (view_.itemsize != 1 || view_.ndim > 1) {
      throw py::type_error(std::string(name) + " must be bytes-like (one-dimensional, items of one "
                           "byte), got items of " + std::to_string(view_.itemsize) +
                           " bytes in " + std::to_string(view_.ndim) + " dimensions");
    }
    size_ = static_cast<std::size_t>(view_.len);
    if (PyBuffer_IsContiguous(&view_, 'C') != 0) {
      data_ = static_cast<const std::uint8_t*>(view_.buf);
    } else {
      copy_.resize(size_);
      if (PyBuffer_ToContiguous(copy_.data(), &view_, view_.len, 'C') != 0) {
        throw py::error_already_set();
      }
      data_ = reinterpret_cast<const std::uint8_t*>(copy_.data());
    }
  }
  ~ByteBuffer() {
    if (held_) PyBuffer_Release(&view_);
  }
  ByteBuffer(const ByteBuffer&) = delete;
  ByteBuffer& operator=(const ByteBuffer&) = delete;

  const std::uint8_t* data() const noexcept { return data_; }
  std::size_t size() const noexcept { return size_; }

 private:
  Py_buffer view_{};
  bool held_ = false;
  std::string copy_;
  const std::uint8_t* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace perfstats::python
