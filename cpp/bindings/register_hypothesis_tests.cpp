// Bindings for the hypothesis_tests domain (to be filled by the issue that builds it).
#include "pybind.hpp"

namespace perfstats::python {
void register_hypothesis_tests(py::module_& /*m*/) {}
}  // namespace perfstats::python
