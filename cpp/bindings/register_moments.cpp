// Bindings for the moments domain (to be filled by the issue that builds it).
#include "pybind.hpp"

namespace perfstats::python {
void register_moments(py::module_& /*m*/) {}
}  // namespace perfstats::python
