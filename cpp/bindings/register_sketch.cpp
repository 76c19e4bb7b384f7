// Bindings for perfstats::QuantileSketch: argument adaptation only.
#include <optional>

#include "perfstats/quantile_sketch.hpp"
#include "guard.hpp"
#include "serialized.hpp"
#include "pybind.hpp"

namespace perfstats::python {
namespace {

py::array_t<double> to_array(const std::vector<double>& v) {
  py::array_t<double> out(static_cast<py::ssize_t>(v.size()));
  std::copy(v.begin(), v.end(), out.mutable_data());
  return out;
}

BucketStore store_from(std::int64_t offset, const py::handle& counts, const char* name) {
  const DoubleView v = view_1d(counts, name);
  BucketStore s;
  s.offset = offset;
  s.counts.resize(v.size);
  for (std::size_t i = 0; i < v.size; ++i) {
    s.counts[i] = v.data[static_cast<std::ptrdiff_t>(i) * v.stride];
  }
  return s;
}

// Group codes as they are when int32, else as int64 (copied if need be), of length n.
py::array group_codes(const py::handle& codes, std::size_t n) {
  using Int32Array = py::array_t<std::int32_t, py::array::c_style | py::array::forcecast>;
  using Int64Array = py::array_t<std::int64_t, py::array::c_style | py::array::forcecast>;
  const py::array c = py::array::ensure(codes);
  if (!c) throw py::type_error("codes must be an array of integers");
  const bool narrow = c.dtype().kind() == 'i' && c.dtype().itemsize() == 4;
  const py::array held = narrow ? py::array(Int32Array::ensure(c))
                                : py::array(Int64Array::ensure(c));
  if (!held || held.ndim() != 1 || static_cast<std::size_t>(held.shape(0)) != n) {
    throw py::value_error("codes must be one-dimensional with the length of values");
  }
  return held;
}

}  // namespace

void register_sketch(py::module_& m) {
  using S = QuantileSketch;
  py::class_<S>(m, "QuantileSketch")
      .def(py::init<double, std::size_t>(), py::arg("relative_accuracy") = 0.01,
           py::arg("max_buckets") = S::kDefaultMaxBuckets)
      .def_static("with_scale", &S::with_scale, py::arg("scale"),
                  py::arg("max_buckets") = S::kDefaultMaxBuckets)
      .def_static("accuracy_of_scale", &S::accuracy_of_scale, py::arg("scale"))
      .def_static("scale_for_accuracy", &S::scale_for_accuracy, py::arg("relative_accuracy"))
      .def_static("bucket_index", &S::bucket_index, py::arg("magnitude"), py::arg("scale"))
      .def(
          "add_value",
          [](S& self, double value, double weight) {
            locked([&] { self.add(value, weight); }, &self);
          },
          py::arg("value"), py::arg("weight") = 1.0)
      .def(
          "add_array",
          [](S& self, const py::handle& values, const py::handle& weights) {
            const DoubleView v = view_1d(values, "values");
            if (weights.is_none()) {
              // Without the GIL under the sketch's lock; the views stay alive in the caller.
              locked_nogil([&] { self.add(v.data, v.size, v.stride); }, &self);
              return;
            }
            const DoubleView w = view_1d(weights, "weights");
            if (w.size != v.size) {
              throw py::value_error("weights has length " + std::to_string(w.size) +
                                    " but values has length " + std::to_string(v.size));
            }
            locked_nogil([&] { self.add(v.data, w.data, v.size, v.stride, w.stride); }, &self);
          },
          py::arg("values"), py::arg("weights") = py::none())
      .def(
          "merge",
          [](S& self, const S& other) {
            if (&self == &other) {
              // a.merge(a): merge a copy, so the sketch does not read what it writes.
              locked([&] { self.merge(S(other)); }, &self);
              return;
            }
            locked_nogil([&] { self.merge(other); }, &self, &other);
          },
          py::arg("other"))
      .def(
          "quantiles",
          [](const S& self, const py::handle& q) {
            const DoubleView v = view_1d(q, "q");
            std::vector<double> qs(v.size);
            for (std::size_t i = 0; i < v.size; ++i) {
              qs[i] = v.data[static_cast<std::ptrdiff_t>(i) * v.stride];
            }
            std::vector<double> out(v.size);
            locked([&] { self.quantiles(qs.data(), out.data(), qs.size()); }, &self);
            return to_array(out);
          },
          py::arg("q"))
      .def(
          "cdf", [](const S& self, double x) { return locked([&] { return self.cdf(x); }, &self); },
          py::arg("x"))
      .def_property_readonly("count", locked_getter<S>(&S::count))
      .def_property_readonly("sum", locked_getter<S>(&S::sum))
      .def_property_readonly("mean", locked_getter<S>(&S::mean))
      .def_property_readonly("min", locked_getter<S>(&S::min))
      .def_property_readonly("max", locked_getter<S>(&S::max))
      .def_property_readonly("zero_count", locked_getter<S>(&S::zero_count))
      .def_property_readonly("scale", locked_getter<S>(&S::scale))
      .def_property_readonly("initial_scale", &S::initial_scale)
      .def_property_readonly("relative_accuracy", locked_getter<S>(&S::relative_accuracy))
      .def_property_readonly("max_buckets", &S::max_buckets)
      .def_property_readonly("memory_bytes", locked_getter<S>(&S::memory_bytes))
      .def(
          "buckets",
          [](const S& self, bool negative) {
            const BucketStore s =
                locked([&] { return negative ? self.negative() : self.positive(); }, &self);
            return py::make_tuple(s.offset, to_array(s.counts));
          },
          py::arg("negative") = false)
      .def_static(
          "from_buckets",
          [](int scale, std::int64_t positive_offset, const py::handle& positive_counts,
             std::int64_t negative_offset, const py::handle& negative_counts, double zero_count,
             double count, double sum, double min, double max, std::size_t max_buckets) {
            return S::from_buckets(scale, store_from(positive_offset, positive_counts,
                                                     "positive_counts"),
                                   store_from(negative_offset, negative_counts,
                                              "negative_counts"),
                                   zero_count, count, sum, min, max, max_buckets);
          },
          py::arg("scale"), py::arg("positive_offset"), py::arg("positive_counts"),
          py::arg("negative_offset"), py::arg("negative_counts"), py::arg("zero_count"),
          py::arg("count"), py::arg("sum"), py::arg("min"), py::arg("max"),
          py::arg("max_buckets"))
      .def("to_bytes",
           [](const S& self) {
             return py::bytes(locked([&] { return self.to_bytes(); }, &self));
           })
      .def_static(
          "from_bytes",
          [](const py::handle& data) {
            const ByteBuffer b(data, "data");
            return S::from_bytes(b.data(), b.size());
          },
          py::arg("data"))
      .def_static(
          "merge_serialized",
          [](const py::handle& payloads) {
            return merge_serialized_items<S>(payloads, "payloads");
          },
          py::arg("payloads"))
      .def(
          "merge_bytes",
          [](S& self, const py::handle& payloads) {
            merge_serialized_into_self(self, payloads, "payloads");
          },
          py::arg("payloads"))
      .def("__eq__", [](const S& a, const S& b) { return locked([&] { return a == b; }, &a, &b); })
      .def("__copy__", [](const S& self) { return locked_copy(self); });

  m.def(
      "quantiles_of",
      [](const std::vector<const S*>& sketches, const py::handle& q) {
        const DoubleView v = view_1d(q, "q");
        std::vector<double> qs(v.size);
        for (std::size_t i = 0; i < v.size; ++i) {
          qs[i] = v.data[static_cast<std::ptrdiff_t>(i) * v.stride];
        }
        for (const S* s : sketches) {
          if (s == nullptr) throw py::type_error("sketches must not contain None");
        }
        py::array_t<double> out({static_cast<py::ssize_t>(sketches.size()),
                                 static_cast<py::ssize_t>(qs.size())});
        double* o = out.mutable_data();
        // The GIL stays held (unless a sketch's lock is busy): the sketches are owned by Python
        // objects, and the loop is short (a binary search per quantile and sketch).
        for (std::size_t i = 0; i < sketches.size(); ++i) {
          const S* s = sketches[i];
          locked([&] { s->quantiles(qs.data(), o + i * qs.size(), qs.size()); }, s);
        }
        return out;
      },
      py::arg("sketches"), py::arg("q"));

  py::class_<GroupedSketchBuilder>(m, "GroupedSketchBuilder")
      .def(py::init<std::size_t, double, std::size_t, std::vector<double>>(), py::arg("n_groups"),
           py::arg("relative_accuracy") = 0.01, py::arg("max_buckets") = S::kDefaultMaxBuckets,
           py::arg("boundaries") = std::vector<double>{})
      .def(
          "grow",
          [](GroupedSketchBuilder& self, std::size_t n) {
            locked([&] { self.grow(n); }, &self);
          },
          py::arg("n_groups"))
      .def_property_readonly("n_groups",
                             locked_getter<GroupedSketchBuilder>(&GroupedSketchBuilder::n_groups))
      .def(
          "add",
          [](GroupedSketchBuilder& self, const py::handle& codes, const DoubleArray& values,
             std::size_t first_row) {
            const std::size_t n = length_1d(values, "values");
            const py::array held = group_codes(codes, n);
            // Without the GIL under the builder's lock: both arrays are held by the caller.
            const void* c = held.data();
            const double* x = values.data();
            const bool narrow = held.dtype().itemsize() == 4;
            locked_nogil(
                [&] {
                  if (narrow) {
                    self.add(static_cast<const std::int32_t*>(c), x, n, first_row);
                  } else {
                    self.add(static_cast<const std::int64_t*>(c), x, n, first_row);
                  }
                },
                &self);
          },
          py::arg("codes"), py::arg("values"), py::arg("first_row") = 0)
      .def("finish", [](GroupedSketchBuilder& self) {
        const auto width = static_cast<py::ssize_t>(self.boundaries().size() + 1);
        GroupedSketches out = locked_nogil([&] { return self.finish(); }, &self);
        const auto n_groups = static_cast<py::ssize_t>(out.sketches.size());
        py::array_t<double> counts({n_groups, width});
        std::copy(out.bucket_counts.begin(), out.bucket_counts.end(), counts.mutable_data());
        return py::make_tuple(std::move(out.sketches), counts);
      });
}

}  // namespace perfstats::python
