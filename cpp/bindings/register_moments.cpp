// Bindings for perfstats::Moments and the lag-1 autocorrelation: adapt arrays, nothing more.
#include <optional>
#include <string>

#include "perfstats/moments.hpp"
#include "guard.hpp"
#include "serialized.hpp"
#include "pybind.hpp"

namespace perfstats::python {

void register_moments(py::module_& m) {
  py::class_<Moments>(m, "Moments")
      .def(py::init<>())
      .def(
          "add",
          [](Moments& self, const DoubleArray& values, const std::optional<DoubleArray>& weights) {
            const std::size_t n = length_1d(values, "values");
            const double* w = nullptr;
            if (weights) {
              const std::size_t nw = length_1d(*weights, "weights");
              if (nw != n) {
                throw py::value_error("weights must have the length of values (" +
                                      std::to_string(n) + "), got " + std::to_string(nw));
              }
              w = weights->data();
            }
            const double* x = values.data();
            // Without the GIL under the object's lock; the arrays stay alive in the caller.
            locked_nogil([&] { self.add(x, n, w); }, &self);
          },
          py::arg("values"), py::arg("weights") = py::none())
      .def(
          "add_value",
          [](Moments& self, double value, double weight) {
            locked([&] { self.add(value, weight); }, &self);
          },
          py::arg("value"), py::arg("weight") = 1.0)
      .def(
          "merge",
          [](Moments& self, const Moments& other) {
            if (&self == &other) {
              locked([&] { self.merge(Moments(other)); }, &self);
            } else {
              locked([&] { self.merge(other); }, &self, &other);
            }
          },
          py::arg("other"))
      .def_property_readonly("size", locked_getter<Moments>(&Moments::size))
      .def_property_readonly("count", locked_getter<Moments>(&Moments::count))
      .def_property_readonly("mean", locked_getter<Moments>(&Moments::mean))
      .def(
          "variance",
          [](const Moments& self, double ddof) {
            return locked([&] { return self.variance(ddof); }, &self);
          },
          py::arg("ddof") = 1.0)
      .def(
          "std",
          [](const Moments& self, double ddof) {
            return locked([&] { return self.std(ddof); }, &self);
          },
          py::arg("ddof") = 1.0)
      .def_property_readonly("skewness", locked_getter<Moments>(&Moments::skewness))
      .def_property_readonly("kurtosis", locked_getter<Moments>(&Moments::kurtosis))
      .def_property_readonly("min", locked_getter<Moments>(&Moments::min))
      .def_property_readonly("max", locked_getter<Moments>(&Moments::max))
      .def_property_readonly("sum", locked_getter<Moments>(&Moments::sum))
      .def_property_readonly("m2", locked_getter<Moments>(&Moments::m2))
      .def_property_readonly("m3", locked_getter<Moments>(&Moments::m3))
      .def_property_readonly("m4", locked_getter<Moments>(&Moments::m4))
      .def("to_bytes",
           [](const Moments& self) {
             return py::bytes(locked([&] { return self.to_bytes(); }, &self));
           })
      .def_static(
          "from_bytes",
          [](const py::handle& data) {
            const ByteBuffer b(data, "data");
            return Moments::from_bytes(b.data(), b.size());
          },
          py::arg("data"))
      .def_static(
          "merge_serialized",
          [](const py::handle& payloads) {
            return merge_serialized_items<Moments>(payloads, "payloads");
          },
          py::arg("payloads"))
      .def(
          "merge_bytes",
          [](Moments& self, const py::handle& payloads) {
            merge_serialized_into_self(self, payloads, "payloads");
          },
          py::arg("payloads"))
      .def("__eq__", [](const Moments& a, const Moments& b) {
        return locked([&] { return a == b; }, &a, &b);
      });

  m.def(
      "lag1_autocorrelation",
      [](const DoubleArray& values) {
        const std::size_t n = length_1d(values, "values");
        const double* x = values.data();
        // Safe without the GIL: reads a buffer the caller keeps alive, no Python objects.
        py::gil_scoped_release release;
        return lag1_autocorrelation(x, n);
      },
      py::arg("values"));
}

}  // namespace perfstats::python
