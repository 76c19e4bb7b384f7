// Bindings for the histogram domain: perfstats::Histogram as _core.Histogram.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "perfstats/histogram.hpp"
#include "guard.hpp"
#include "serialized.hpp"
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
  // Without the GIL under the histogram's lock; the arrays stay alive in the caller.
  locked_nogil([&] { h.add(v, n, w); }, &h);
}

}  // namespace

void register_histogram(py::module_& m) {
  py::class_<Histogram>(m, "Histogram")
      .def(py::init([](const DoubleArray& boundaries) {
             const std::size_t n = length_1d(boundaries, "boundaries");
             return Histogram(std::vector<double>(boundaries.data(), boundaries.data() + n));
           }),
           py::arg("boundaries"))
      .def(
          "add_one",
          [](Histogram& h, double value, double weight) {
            locked([&] { h.add(value, weight); }, &h);
          },
          py::arg("value"), py::arg("weight") = 1.0)
      .def("add", &add_array, py::arg("values"), py::arg("weights") = py::none())
      .def(
          "merge",
          [](Histogram& h, const Histogram& other) {
            if (&h == &other) {
              locked([&] { h.merge(Histogram(other)); }, &h);
            } else {
              locked([&] { h.merge(other); }, &h, &other);
            }
          },
          py::arg("other"))
      .def("copy", [](const Histogram& h) { return locked_copy(h); })
      .def_property_readonly("boundaries",
                             [](const Histogram& h) { return to_array(h.boundaries()); })
      .def_property_readonly("counts", [](const Histogram& h) {
                               return to_array(locked([&] { return h.counts(); }, &h));
                             })
      .def_property_readonly("count", locked_getter<Histogram>(&Histogram::count))
      .def_property_readonly("sum", locked_getter<Histogram>(&Histogram::sum))
      .def_property_readonly("min", locked_getter<Histogram>(&Histogram::min))
      .def_property_readonly("max", locked_getter<Histogram>(&Histogram::max))
      .def("to_bytes",
           [](const Histogram& h) {
             return py::bytes(locked([&] { return h.to_bytes(); }, &h));
           })
      .def_static(
          "from_bytes",
          [](const py::handle& data) {
            const ByteBuffer b(data, "data");
            return Histogram::from_bytes(b.data(), b.size());
          },
          py::arg("data"))
      .def_static(
          "merge_serialized",
          [](const py::handle& payloads) {
            return merge_serialized_items<Histogram>(payloads, "payloads");
          },
          py::arg("payloads"))
      .def(
          "merge_bytes",
          [](Histogram& self, const py::handle& payloads) {
            merge_serialized_into_self(self, payloads, "payloads");
          },
          py::arg("payloads"))
      .def(
          "__eq__",
          [](const Histogram& a, const Histogram& b) { return locked([&] { return a == b; }, &a, &b); },
          py::is_operator())
      .attr("__hash__") = py::none();
}

}  // namespace perfstats::python
