// Bindings for perfstats::Moments and the lag-1 autocorrelation: adapt arrays, nothing more.
#include <optional>
#include <string>

#include "perfstats/moments.hpp"
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
            // Safe without the GIL: the arrays are kept alive by the caller's references
            // and only C++ memory is touched.
            py::gil_scoped_release release;
            self.add(x, n, w);
          },
          py::arg("values"), py::arg("weights") = py::none())
      .def("add_value", py::overload_cast<double, double>(&Moments::add), py::arg("value"),
           py::arg("weight") = 1.0)
      .def("merge", &Moments::merge, py::arg("other"))
      .def_property_readonly("size", &Moments::size)
      .def_property_readonly("count", &Moments::count)
      .def_property_readonly("mean", &Moments::mean)
      .def("variance", &Moments::variance, py::arg("ddof") = 1.0)
      .def("std", &Moments::std, py::arg("ddof") = 1.0)
      .def_property_readonly("skewness", &Moments::skewness)
      .def_property_readonly("kurtosis", &Moments::kurtosis)
      .def_property_readonly("min", &Moments::min)
      .def_property_readonly("max", &Moments::max)
      .def_property_readonly("sum", &Moments::sum)
      .def_property_readonly("m2", &Moments::m2)
      .def_property_readonly("m3", &Moments::m3)
      .def_property_readonly("m4", &Moments::m4)
      .def("to_bytes", [](const Moments& self) { return py::bytes(self.to_bytes()); })
      .def_static(
          "from_bytes",
          [](const py::bytes& data) {
            const std::string s = data;
            return Moments::from_bytes(reinterpret_cast<const std::uint8_t*>(s.data()),
                                       s.size());
          },
          py::arg("data"))
      .def("__eq__", [](const Moments& a, const Moments& b) { return a == b; });

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
