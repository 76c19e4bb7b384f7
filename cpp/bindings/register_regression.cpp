// Bindings for the regression domain: LinearModel and TrendModel, adapted, no statistics.
#include <Eigen/Dense>

#include <optional>
#include <string>
#include <utility>

#include "perfstats/linear_model.hpp"
#include "perfstats/trend.hpp"
#include "pybind.hpp"

namespace perfstats::python {
namespace {

using Matrix2D = py::array_t<double, py::array::c_style | py::array::forcecast>;
using RowMajor = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

Eigen::Map<const Eigen::VectorXd> view(const DoubleArray& a, const char* name) {
  const auto n = static_cast<Eigen::Index>(length_1d(a, name));
  return {a.data(), n};
}

Eigen::Map<const RowMajor> view2d(const Matrix2D& a, const char* name) {
  if (a.ndim() != 2) {
    throw py::value_error(std::string(name) + " must be two-dimensional, got " +
                          std::to_string(a.ndim()) + " dimensions");
  }
  return {a.data(), static_cast<Eigen::Index>(a.shape(0)),
          static_cast<Eigen::Index>(a.shape(1))};
}

py::array_t<double> to_array(const Eigen::VectorXd& v) {
  py::array_t<double> out(static_cast<py::ssize_t>(v.size()));
  std::copy(v.data(), v.data() + v.size(), out.mutable_data());
  return out;
}

py::array_t<double> to_array(const Eigen::MatrixXd& m) {
  py::array_t<double> out({static_cast<py::ssize_t>(m.rows()), static_cast<py::ssize_t>(m.cols())});
  auto r = out.mutable_unchecked<2>();
  for (Eigen::Index i = 0; i < m.rows(); ++i) {
    for (Eigen::Index j = 0; j < m.cols(); ++j) r(i, j) = m(i, j);
  }
  return out;
}

IntervalKind kind_of(const std::string& s) {
  if (s == "confidence") return IntervalKind::confidence;
  if (s == "prediction") return IntervalKind::prediction;
  throw py::value_error("interval must be 'confidence' or 'prediction', got '" + s + "'");
}

// Hands a vector's buffer to NumPy without copying: large predictions would otherwise
// write (and page-fault) every output twice.
py::array_t<double> to_owned_array(Eigen::VectorXd&& v) {
  auto* heap = new Eigen::VectorXd(std::move(v));
  const py::capsule owner(heap, [](void* q) { delete static_cast<Eigen::VectorXd*>(q); });
  return py::array_t<double>(static_cast<py::ssize_t>(heap->size()), heap->data(), owner);
}

// A freshly allocated 1-d array as an Eigen vector to write into (taken with the GIL
// held: it reads the Python object).
Eigen::Map<Eigen::VectorXd> writable(py::array_t<double>& a) {
  return {a.mutable_data(), static_cast<Eigen::Index>(a.size())};
}

py::tuple as_tuple(Prediction&& p) {
  return py::make_tuple(to_owned_array(std::move(p.mean)), to_owned_array(std::move(p.se)),
                        to_owned_array(std::move(p.lower)), to_owned_array(std::move(p.upper)));
}

Eigen::VectorXd weights_of(const std::optional<DoubleArray>& w) {
  return w ? Eigen::VectorXd(view(*w, "weights")) : Eigen::VectorXd();
}

// The statistics every fitted model exposes, bound on a class whose `model()` returns it.
template <class Class, class Get>
void bind_fit_statistics(Class& cls, Get get) {
  cls.def_property_readonly("coefficients", [get](const typename Class::type& s) { return to_array(get(s).coefficients()); })
      .def_property_readonly("standard_errors", [get](const typename Class::type& s) { return to_array(get(s).standard_errors()); })
      .def_property_readonly("t_values", [get](const typename Class::type& s) { return to_array(get(s).t_values()); })
      .def_property_readonly("p_values", [get](const typename Class::type& s) { return to_array(get(s).p_values()); })
      .def_property_readonly("covariance", [get](const typename Class::type& s) { return to_array(get(s).covariance()); })
      .def_property_readonly("residual_std_error", [get](const typename Class::type& s) { return get(s).residual_std_error(); })
      .def_property_readonly("ssr", [get](const typename Class::type& s) { return get(s).ssr(); })
      .def_property_readonly("r_squared", [get](const typename Class::type& s) { return get(s).r_squared(); })
      .def_property_readonly("adj_r_squared", [get](const typename Class::type& s) { return get(s).adj_r_squared(); })
      .def_property_readonly("nobs", [get](const typename Class::type& s) { return get(s).nobs(); })
      .def_property_readonly("df_resid", [get](const typename Class::type& s) { return get(s).df_resid(); })
      .def_property_readonly("extended_precision", [get](const typename Class::type& s) { return get(s).extended_precision(); })
      .def("t_quantile", [get](const typename Class::type& s, double level) { return get(s).t_quantile(level); }, py::arg("level"));
}

}  // namespace

void register_regression(py::module_& m) {
  py::class_<LinearModel> lm(m, "LinearModel");
  lm.def(py::init([](const Matrix2D& x, const DoubleArray& y, bool intercept,
                     const std::optional<DoubleArray>& weights) {
           const auto xv = view2d(x, "x");
           const auto yv = view(y, "y");
           const Eigen::VectorXd w = weights_of(weights);
           // Safe without the GIL: the arrays are kept alive by the caller's arguments and
           // only read; the model owns copies when this returns.
           py::gil_scoped_release release;
           return LinearModel(xv, yv, intercept, w);
         }),
         py::arg("x"), py::arg("y"), py::arg("intercept") = true, py::arg("weights") = py::none())
      .def("predict",
           [](const LinearModel& self, const Matrix2D& x_new, const std::string& interval,
              double level) {
             const auto xv = view2d(x_new, "x_new");
             const IntervalKind kind = kind_of(interval);
             Prediction p;
             {
               // Safe without the GIL: reads x_new (alive in the caller) and the model.
               py::gil_scoped_release release;
               p = self.predict(xv, kind, level);
             }
             return as_tuple(std::move(p));
           },
           py::arg("x_new"), py::arg("interval"), py::arg("level"));
  lm.def_property_readonly("residuals",
                           [](const LinearModel& s) { return to_array(s.residuals()); });
  bind_fit_statistics(lm, [](const LinearModel& s) -> const LinearModel& { return s; });

  py::class_<TrendModel> tm(m, "TrendModel");
  tm.def(py::init([](const DoubleArray& t, const DoubleArray& y, int degree,
                     double seasonal_period, int harmonics,
                     const std::optional<DoubleArray>& weights) {
           const auto tv = view(t, "t");
           const auto yv = view(y, "y");
           const Eigen::VectorXd w = weights_of(weights);
           TrendSpec spec;
           spec.degree = degree;
           spec.seasonal_period = seasonal_period;
           spec.harmonics = harmonics;
           // Safe without the GIL: t and y stay alive in the caller and are only read.
           py::gil_scoped_release release;
           return TrendModel(tv, yv, spec, w);
         }),
         py::arg("t"), py::arg("y"), py::arg("degree"), py::arg("seasonal_period"),
         py::arg("harmonics"), py::arg("weights") = py::none())
      .def("predict",
           [](const TrendModel& self, const DoubleArray& t_new, const std::string& interval,
              double level, bool with_se) {
             const auto tv = view(t_new, "t_new");
             const IntervalKind kind = kind_of(interval);
             // The outputs are rows of one array allocated here and written once, in
             // place: one large allocation rather than four, which glibc keeps for reuse
             // where it would hand four back to the kernel (and fault them in again).
             const auto rows = static_cast<py::ssize_t>(tv.size());
             const py::ssize_t parts = with_se ? 4 : 3;
             py::array_t<double> all({parts, rows});
             const auto part = [&](py::ssize_t k) {
               return py::array_t<double>(rows, all.mutable_data(k, 0), all);
             };
             py::array_t<double> mean = part(0), lower = part(1), upper = part(2);
             py::array_t<double> se = with_se ? part(3) : py::array_t<double>(0);
             const PredictionOut out{writable(mean), writable(se), writable(lower),
                                     writable(upper)};
             {
               // Safe without the GIL: reads t_new (alive in the caller) and the model,
               // writes the new array no other thread has seen yet.
               py::gil_scoped_release release;
               self.predict_into(tv, kind, level, out);
             }
             return py::make_tuple(mean, with_se ? py::object(se) : py::object(py::none()),
                                   lower, upper);
           },
           py::arg("t_new"), py::arg("interval"), py::arg("level"),
           py::arg("with_se") = true)
      .def("residuals",
           [](const TrendModel& self, const DoubleArray& t, const DoubleArray& y) {
             const auto tv = view(t, "t");
             const auto yv = view(y, "y");
             Eigen::VectorXd r;
             {
               // Safe without the GIL: reads t and y (alive in the caller) and the model.
               py::gil_scoped_release release;
               r = self.residuals(tv, yv);
             }
             return to_owned_array(std::move(r));
           },
           py::arg("t"), py::arg("y"))
      .def("slope_at",
           [](const TrendModel& self, double t) {
             const TrendSlope s = self.slope_at(t);
             return py::make_tuple(s.estimate, s.se, s.t, s.pvalue);
           },
           py::arg("t"))
      .def_property_readonly("names", &TrendModel::names)
      .def_property_readonly("t_min", &TrendModel::t_min)
      .def_property_readonly("t_max", &TrendModel::t_max);
  bind_fit_statistics(tm, [](const TrendModel& s) -> const LinearModel& { return s.model(); });
}

}  // namespace perfstats::python
