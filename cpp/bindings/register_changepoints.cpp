// Bindings for change points: adapt arrays and options, no statistics here.
#include <string>
#include <vector>

#include "perfstats/changepoints.hpp"
#include "pybind.hpp"

namespace perfstats::python {
namespace {

ChangePointMethod parse_method(const std::string& method) {
  if (method == "edivisive") return ChangePointMethod::edivisive;
  if (method == "binseg") return ChangePointMethod::binseg;
  if (method == "pelt") return ChangePointMethod::pelt;
  throw py::value_error("method must be 'edivisive', 'binseg' or 'pelt', got '" +
                        method + "'");
}

py::dict detect(const DoubleArray& values, const std::string& method,
                std::size_t min_size, double pvalue, double penalty,
                std::size_t max_changepoints, bool autocorrelation) {
  const std::size_t n = length_1d(values, "values");
  ChangePointOptions options;
  options.method = parse_method(method);
  options.min_size = min_size;
  options.pvalue = pvalue;
  options.penalty = penalty;
  options.max_changepoints = max_changepoints;
  options.autocorrelation = autocorrelation;
  std::vector<ChangePoint> cps;
  {
    // Safe: the core reads `values` (kept alive by this frame) and touches no Python.
    py::gil_scoped_release release;
    cps = detect_changepoints(values.data(), n, options);
  }
  const auto k = static_cast<py::ssize_t>(cps.size());
  py::array_t<std::int64_t> index(k);
  py::array_t<double> before(k), after(k), rel(k), pv(k), stat(k);
  auto ix = index.mutable_unchecked<1>();
  auto b = before.mutable_unchecked<1>();
  auto a = after.mutable_unchecked<1>();
  auto r = rel.mutable_unchecked<1>();
  auto p = pv.mutable_unchecked<1>();
  auto s = stat.mutable_unchecked<1>();
  for (py::ssize_t i = 0; i < k; ++i) {
    const ChangePoint& cp = cps[static_cast<std::size_t>(i)];
    ix(i) = static_cast<std::int64_t>(cp.index);
    b(i) = cp.mean_before;
    a(i) = cp.mean_after;
    r(i) = cp.relative_change;
    p(i) = cp.pvalue;
    s(i) = cp.statistic;
  }
  py::dict out;
  out["index"] = index;
  out["mean_before"] = before;
  out["mean_after"] = after;
  out["relative_change"] = rel;
  out["pvalue"] = pv;
  out["statistic"] = stat;
  return out;
}

py::array_t<double> energy(const DoubleArray& values) {
  const std::size_t n = length_1d(values, "values");
  std::vector<double> q;
  {
    // Safe: pure C++ over a buffer this frame keeps alive.
    py::gil_scoped_release release;
    q = energy_statistic(values.data(), n);
  }
  return py::array_t<double>(static_cast<py::ssize_t>(q.size()), q.data());
}

}  // namespace

void register_changepoints(py::module_& m) {
  m.def("detect_changepoints", &detect, py::arg("values"), py::kw_only(),
        py::arg("method"), py::arg("min_size"), py::arg("pvalue"), py::arg("penalty"),
        py::arg("max_changepoints"), py::arg("autocorrelation"),
        "Change points of a 1-D float64 series; a dict of arrays, one row per change.");
  m.def("energy_statistic", &energy, py::arg("values"),
        "E-divisive energy statistic q(tau) for every split tau = 0..n.");
}

}  // namespace perfstats::python
