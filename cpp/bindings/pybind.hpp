// The one header through which binding code includes pybind11.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

namespace py = pybind11;

namespace perfstats::python {

void register_sketch(py::module_& m);
void register_histogram(py::module_& m);
void register_moments(py::module_& m);
void register_hypothesis_tests(py::module_& m);
void register_regression(py::module_& m);
void register_anomaly(py::module_& m);
void register_changepoints(py::module_& m);

// A 1-D float64 view of any array-like. Contiguous float64 NumPy arrays are not copied;
// anything else is converted once. The caller must not keep the pointer past the call.
using DoubleArray = py::array_t<double, py::array::forcecast>;

}  // namespace perfstats::python
