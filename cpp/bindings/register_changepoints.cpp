// Bindings for the changepoints domain (to be filled by the issue that builds it).
#include "pybind.hpp"

namespace perfstats::python {
void register_changepoints(py::module_& /*m*/) {}
}  // namespace perfstats::python
