// Bindings for the regression domain (to be filled by the issue that builds it).
#include "pybind.hpp"

namespace perfstats::python {
void register_regression(py::module_& /*m*/) {}
}  // namespace perfstats::python
