// Bindings for the histogram domain (to be filled by the issue that builds it).
#include "pybind.hpp"

namespace perfstats::python {
void register_histogram(py::module_& /*m*/) {}
}  // namespace perfstats::python
