// Bindings for the histogram domain: perfstats::Histogram as _core.Histogram.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "perfstats/histogram.hpp"
#include "pybind.hpp"

namespace perfstats::python {
namespace {

py::array_t<double> to_array(const std::vector<double>& v) {
  return py::array_t<double>(static_cast<py::ssize_t>(v.size()), v.data());
}

void add_array(Histogram& h, const DoubleArray& values, const std::optional<DoubleArray>& weights) {
  const std::size_t n = length_1d(values, "values");
  const double* w = nullptr;
  if (weights) {
    if (length_1d(*weights, "weights") != n) {
      throw py::value_error("weights has length " + std::to_string(weights->shape(0)) +
                            " but values has length " + std::to_string(n));
    }
    w = weights->data();
  }
  const double* v = values.data();
  // Safe without the GIL: the arrays are owned by this frame and the histogram's bucket
  // storage never reallocates (one Histogram per thread; merge afterwards).
  py::gil_scoped_release release;
  h.add(v, n, w);
}

}  // namespace

void register_histogram(py::module_& m) {
  py::class_<Histogram>(m, "Histogram")
      .def(py::init([](const DoubleArray& boundaries) {
             const std::size_t n = length_1d(boundaries, "boundaries");
             return Histogram(std::vector<double>(boundaries.data(), boundaries.data() + n));
           }),
           py::arg("boundaries"))
      .def("add_one", py::overload_cast<double, double>(&Histogram::add), py::arg("value"),
           py::arg("weight") = 1.0)
      .def("add", &add_array, py::arg("values"), py::arg("weights") = py::none())
      .def("merge", &Histogram::merge, py::arg("other"))
      .def("copy", [](const Histogram& h) { return Histogram(h); })
      .def_property_readonly("boundaries",
                             [](const Histogram& h) { return to_array(h.boundaries()); })
      .def_property_readonly("counts", [](const Histogram& h) { return to_array(h.counts()); })
      .def_property_readonly("count", &Histogram::count)
      .def_property_readonly("sum", &Histogram::sum)
      .def_property_readonly("min", &Histogram::min)
      .def_property_readonly("max", &Histogram::max)
      .def("to_bytes", [](const Histogram& h) { return py::bytes(h.to_bytes()); })
      .def_static(
          "from_bytes",
          [](const py::bytes& data) {
            const std::string_view s = data;
            return Histogram::from_bytes(reinterpret_cast<const std::uint8_t*>(s.data()),
                                         s.size());
          },
          py::arg("data"))
      .def(
          "__eq__",
          [](const Histogram& a, const Histogram& b) { return a == b; }, py::is_operator())
      .attr("__hash__") = py::none();
}

}  // namespace perfstats::python
