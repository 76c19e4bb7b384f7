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

SegmentModel parse_model(const std::string& model) {
  if (model == "mean") return SegmentModel::mean;
  if (model == "linear") return SegmentModel::linear;
  throw py::value_error("model must be 'mean' or 'linear', got '" + model + "'");
}

py::dict detect(const DoubleArray& values, const std::string& method,
                std::size_t min_size, double pvalue, double penalty,
                std::size_t max_changepoints, bool autocorrelation,
                const std::string& model) {
  const std::size_t n = length_1d(values, "values");
  ChangePointOptions options;
  options.method = parse_method(method);
  options.model = parse_model(model);
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
  py::array_t<double> before(k), after(k), rel(k), pv(k), stat(k), sb(k), sa(k);
  auto ix = index.mutable_unchecked<1>();
  auto b = before.mutable_unchecked<1>();
  auto a = after.mutable_unchecked<1>();
  auto r = rel.mutable_unchecked<1>();
  auto p = pv.mutable_unchecked<1>();
  auto s = stat.mutable_unchecked<1>();
  auto slb = sb.mutable_unchecked<1>();
  auto sla = sa.mutable_unchecked<1>();
  for (py::ssize_t i = 0; i < k; ++i) {
    const ChangePoint& cp = cps[static_cast<std::size_t>(i)];
    ix(i) = static_cast<std::int64_t>(cp.index);
    b(i) = cp.mean_before;
    a(i) = cp.mean_after;
    r(i) = cp.relative_change;
    p(i) = cp.pvalue;
    s(i) = cp.statistic;
    slb(i) = cp.slope_before;
    sla(i) = cp.slope_after;
  }
  py::dict out;
  out["index"] = index;
  out["mean_before"] = before;
  out["mean_after"] = after;
  out["relative_change"] = rel;
  out["pvalue"] = pv;
  out["statistic"] = stat;
  out["slope_before"] = sb;
  out["slope_after"] = sa;
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
        py::arg("model") = "mean",
        "Change points of a 1-D float64 series; a dict of arrays, one row per change.");
  m.def("energy_statistic", &energy, py::arg("values"),
        "E-divisive energy statistic q(tau) for every split tau = 0..n.");
  m.def(
      "linear_segment_cost",
      [](const DoubleArray& values, std::size_t start, std::size_t end) {
        const std::size_t n = length_1d(values, "values");
        if (start > end || end > n) {
          throw py::value_error("need 0 <= start <= end <= " + std::to_string(n) +
                                ", got start=" + std::to_string(start) +
                                ", end=" + std::to_string(end));
        }
        return linear_segment_cost(values.data(), start, end);
      },
      py::arg("values"), py::arg("start"), py::arg("end"),
      "Residual sum of squares of the least-squares line through values[start:end].");
}

}  // namespace perfstats::python
