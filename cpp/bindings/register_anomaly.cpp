// Bindings for the anomaly domain (to be filled by the issue that builds it).
#include "pybind.hpp"

namespace perfstats::python {
void register_anomaly(py::module_& /*m*/) {}
}  // namespace perfstats::python
