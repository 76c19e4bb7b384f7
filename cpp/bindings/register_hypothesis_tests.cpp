// Bindings for the hypothesis tests: results come back as plain dicts of floats.
#include <string>

#include "perfstats/hypothesis_tests.hpp"
#include "guard.hpp"
#include "pybind.hpp"

namespace perfstats::python {
namespace {

py::dict to_dict(const TTestResult& r) {
  py::dict d;
  d["statistic"] = r.statistic;
  d["df"] = r.df;
  d["pvalue"] = r.pvalue;
  d["mean_difference"] = r.mean_difference;
  d["std_error"] = r.std_error;
  d["ci_low"] = r.ci_low;
  d["ci_high"] = r.ci_high;
  d["relative_lift"] = r.relative_lift;
  d["relative_lift_ci_low"] = r.relative_lift_ci_low;
  d["relative_lift_ci_high"] = r.relative_lift_ci_high;
  d["hedges_g"] = r.hedges_g;
  return d;
}

std::size_t same_length(const DoubleArray& a, const DoubleArray& b, const char* what) {
  const std::size_t n = length_1d(a, "a");
  const std::size_t nb = length_1d(b, "b");
  if (n != nb) {
    throw py::value_error(std::string(what) + ": a and b must have the same length, got " +
                          std::to_string(n) + " and " + std::to_string(nb));
  }
  return n;
}

}  // namespace

void register_hypothesis_tests(py::module_& m) {
  m.def(
      "welch_t_test",
      [](const Moments& a, const Moments& b, const std::string& alternative,
         double confidence, bool log_scale) {
        return to_dict(
            welch_t_test(locked_copy(a), locked_copy(b), parse_alternative(alternative),
                         confidence, log_scale));
      },
      py::arg("a"), py::arg("b"), py::arg("alternative"), py::arg("confidence"),
      py::arg("log_scale"));
  m.def(
      "student_t_test",
      [](const Moments& a, const Moments& b, const std::string& alternative,
         double confidence, bool log_scale) {
        return to_dict(
            student_t_test(locked_copy(a), locked_copy(b), parse_alternative(alternative),
                           confidence, log_scale));
      },
      py::arg("a"), py::arg("b"), py::arg("alternative"), py::arg("confidence"),
      py::arg("log_scale"));
  m.def(
      "one_sample_t_test",
      [](const Moments& a, double mu, const std::string& alternative, double confidence,
         bool log_scale) {
        return to_dict(
            one_sample_t_test(locked_copy(a), mu, parse_alternative(alternative), confidence,
                              log_scale));
      },
      py::arg("a"), py::arg("mu"), py::arg("alternative"), py::arg("confidence"),
      py::arg("log_scale"));
  m.def(
      "paired_t_test",
      [](const DoubleArray& a, const DoubleArray& b, const std::string& alternative,
         double confidence, bool log_scale) {
        const std::size_t n = same_length(a, b, "paired_t_test");
        const Alternative alt = parse_alternative(alternative);
        TTestResult r;
        {
          // Safe without the GIL: reads buffers the caller keeps alive.
          py::gil_scoped_release release;
          r = paired_t_test(a.data(), b.data(), n, alt, confidence, log_scale);
        }
        return to_dict(r);
      },
      py::arg("a"), py::arg("b"), py::arg("alternative"), py::arg("confidence"),
      py::arg("log_scale"));
  m.def(
      "mann_whitney_u",
      [](const DoubleArray& a, const DoubleArray& b, const std::string& alternative,
         bool continuity) {
        const std::size_t na = length_1d(a, "a");
        const std::size_t nb = length_1d(b, "b");
        const Alternative alt = parse_alternative(alternative);
        MannWhitneyResult r;
        {
          // Safe without the GIL: reads buffers the caller keeps alive.
          py::gil_scoped_release release;
          r = mann_whitney_u(a.data(), na, b.data(), nb, alt, continuity);
        }
        py::dict d;
        d["statistic"] = r.statistic;
        d["z"] = r.z;
        d["pvalue"] = r.pvalue;
        return d;
      },
      py::arg("a"), py::arg("b"), py::arg("alternative"), py::arg("continuity"));
  m.def(
      "srm_test",
      [](const DoubleArray& observed, const DoubleArray& weights) {
        const std::size_t k = length_1d(observed, "observed_counts");
        const std::size_t kw = length_1d(weights, "expected_weights");
        if (k != kw) {
          throw py::value_error("expected_weights must have the length of observed_counts (" +
                                std::to_string(k) + "), got " + std::to_string(kw));
        }
        const ChiSquareResult r = srm_test(observed.data(), weights.data(), k);
        py::dict d;
        d["statistic"] = r.statistic;
        d["df"] = r.df;
        d["pvalue"] = r.pvalue;
        return d;
      },
      py::arg("observed_counts"), py::arg("expected_weights"));
  m.def(
      "t_test_power",
      [](double effect, double sd, double n_a, double n_b, double alpha,
         const std::string& alternative) {
        return t_test_power(effect, sd, n_a, n_b, alpha, parse_alternative(alternative));
      },
      py::arg("effect"), py::arg("sd"), py::arg("n_a"), py::arg("n_b"), py::arg("alpha"),
      py::arg("alternative"));
  m.def(
      "required_sample_size",
      [](double effect, double sd, double alpha, double power, double ratio,
         const std::string& alternative) {
        return required_sample_size(effect, sd, alpha, power, ratio,
                                    parse_alternative(alternative));
      },
      py::arg("effect"), py::arg("sd"), py::arg("alpha"), py::arg("power"),
      py::arg("ratio"), py::arg("alternative"));
}

}  // namespace perfstats::python
