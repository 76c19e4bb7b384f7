// Bindings for the sketch domain (to be filled by the issue that builds it).
#include "pybind.hpp"

namespace perfstats::python {
void register_sketch(py::module_& /*m*/) {}
}  // namespace perfstats::python
