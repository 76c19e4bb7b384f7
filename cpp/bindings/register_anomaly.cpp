// Bindings for the anomaly detectors: streaming `update` and a batch `detect` that fills
// five NumPy columns.
#include <cstddef>
#include <cstdint>
#include <tuple>

#include "perfstats/anomaly_detectors.hpp"
#include "perfstats/seasonal_level_detector.hpp"
#include "guard.hpp"
#include "pybind.hpp"

namespace perfstats::python {
namespace {

using Columns = std::tuple<py::array_t<double>, py::array_t<double>, py::array_t<double>,
                           py::array_t<double>, py::array_t<bool>>;

template <class Detector>
Columns detect(Detector& detector, const DoubleArray& values) {
  const std::size_t n = length_1d(values, "values");
  const auto size = static_cast<py::ssize_t>(n);
  py::array_t<double> score(size), expected(size), lower(size), upper(size);
  py::array_t<bool> flag(size);
  static_assert(sizeof(bool) == sizeof(std::uint8_t));
  const AnomalyColumns out{score.mutable_data(), expected.mutable_data(),
                           lower.mutable_data(), upper.mutable_data(),
                           reinterpret_cast<std::uint8_t*>(flag.mutable_data())};
  const double* data = values.data();
  {
    // Without the GIL under the detector's lock: the loop touches only these buffers, which
    // the arguments and locals keep alive.
    locked_nogil([&] { detect_into(detector, data, n, out); }, &detector);
  }
  return {score, expected, lower, upper, flag};
}

template <class Detector>
std::tuple<double, double, double, double, bool> update(Detector& detector, double value) {
  const AnomalyPoint p = locked([&] { return detector.update(value); }, &detector);
  return {p.score, p.expected, p.lower, p.upper, p.is_anomaly};
}

template <class Detector, class Class>
void add_common(Class& cls) {
  cls.def("update", &update<Detector>, py::arg("value"),
          "Score one value against the baseline, then add it: "
          "(score, expected, lower, upper, is_anomaly).")
      .def("detect", &detect<Detector>, py::arg("values"),
           "update() over an array: (score, expected, lower, upper, is_anomaly) columns.")
      .def("reset", [](Detector& d) { locked([&] { d.reset(); }, &d); })
      .def_property_readonly("threshold", &Detector::threshold)
      .def_property_readonly("min_periods", &Detector::min_periods);
}

}  // namespace

void register_anomaly(py::module_& m) {
  py::class_<RollingZScore> rolling(m, "RollingZScore");
  rolling.def(py::init<std::size_t, double, std::size_t>(), py::arg("window"),
              py::arg("threshold"), py::arg("min_periods"));
  rolling.def_property_readonly("window", &RollingZScore::window);
  add_common<RollingZScore>(rolling);

  py::class_<RobustZScore> robust(m, "RobustZScore");
  robust.def(py::init<std::size_t, double, std::size_t>(), py::arg("window"),
             py::arg("threshold"), py::arg("min_periods"));
  robust.def_property_readonly("window", &RobustZScore::window);
  add_common<RobustZScore>(robust);

  py::class_<EwmaZScore> ewma(m, "EwmaZScore");
  ewma.def(py::init<double, double, std::size_t>(), py::arg("halflife"), py::arg("threshold"),
           py::arg("min_periods"));
  ewma.def_property_readonly("halflife", &EwmaZScore::halflife);
  add_common<EwmaZScore>(ewma);

  py::class_<SeasonalZScore> seasonal(m, "SeasonalZScore");
  seasonal.def(py::init<std::size_t, std::size_t, double, bool, std::size_t>(),
               py::arg("period"), py::arg("window"), py::arg("threshold"), py::arg("log"),
               py::arg("min_periods"));
  seasonal.def_property_readonly("period", &SeasonalZScore::period)
      .def_property_readonly("window", &SeasonalZScore::window)
      .def_property_readonly("log", &SeasonalZScore::log);
  add_common<SeasonalZScore>(seasonal);

  py::class_<SeasonalLevelDetector> level(m, "SeasonalLevelDetector");
  level.def(py::init<std::size_t, std::size_t, double, std::size_t, std::size_t, std::size_t,
                     std::size_t>(),
            py::arg("period"), py::arg("seasons"), py::arg("threshold"), py::arg("history"),
            py::arg("refractory"), py::arg("min_periods"), py::arg("tolerance"));
  level.def_property_readonly("period", &SeasonalLevelDetector::period)
      .def_property_readonly("seasons", &SeasonalLevelDetector::seasons)
      .def_property_readonly("history", &SeasonalLevelDetector::history)
      .def_property_readonly("refractory", &SeasonalLevelDetector::refractory)
      .def_property_readonly("tolerance", &SeasonalLevelDetector::tolerance);
  add_common<SeasonalLevelDetector>(level);
}

}  // namespace perfstats::python
