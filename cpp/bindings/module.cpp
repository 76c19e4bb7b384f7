// perfstats._core: wires each domain's bindings; holds no logic of its own.
#include "pybind.hpp"

#ifndef PERFSTATS_VERSION
#define PERFSTATS_VERSION "dev"
#endif

PYBIND11_MODULE(_core, m) {
  m.doc() = "Private C++ core of perfstats; import the public API from `perfstats`.";
  m.attr("__version__") = PERFSTATS_VERSION;
  perfstats::python::register_sketch(m);
  perfstats::python::register_histogram(m);
  perfstats::python::register_moments(m);
  perfstats::python::register_hypothesis_tests(m);
  perfstats::python::register_regression(m);
  perfstats::python::register_anomaly(m);
  perfstats::python::register_changepoints(m);
  perfstats::python::register_time_windows(m);
  perfstats::python::register_packed_rows(m);
}
