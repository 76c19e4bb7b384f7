// Bindings for perfstats time windows and group codes: argument adaptation only.
#include <climits>
#include <cstdint>
#include <string>
#include <vector>

#include "perfstats/time_windows.hpp"
#include "pybind.hpp"

namespace perfstats::python {
namespace {

using Int64Array = py::array_t<std::int64_t, py::array::c_style | py::array::forcecast>;

Int64Array timestamps_1d(const py::handle& ts) {
  Int64Array a = Int64Array::ensure(ts);
  if (!a) throw py::type_error("timestamps must be an array of int64 (ns since the epoch)");
  if (a.ndim() != 1) throw py::value_error("timestamps must be one-dimensional");
  return a;
}

template <class Key, class Code>
std::vector<std::int64_t> fill_codes(const py::handle& keys, std::size_t n_keys,
                                     const Int64Array& ts, const WindowGrid& grid,
                                     Code* codes, std::size_t threads, std::size_t first_row) {
  using KeyArray = py::array_t<Key, py::array::c_style | py::array::forcecast>;
  const std::size_t n = static_cast<std::size_t>(ts.shape(0));
  KeyArray k = KeyArray::ensure(keys);
  if (!k || k.ndim() != 1 || static_cast<std::size_t>(k.shape(0)) != n) {
    throw py::value_error("keys must be one-dimensional integers with the length of timestamps");
  }
  // Safe without the GIL: keys, ts and codes are held by the caller for the whole call.
  py::gil_scoped_release release;
  return window_codes(k.data(), n_keys, ts.data(), n, grid, codes, threads, first_row);
}

// Dispatches on the dtype of `keys` (None: every row has key 0).
template <class Code>
std::vector<std::int64_t> fill_all(const py::handle& keys, std::size_t n_keys,
                                   const Int64Array& t, const WindowGrid& grid, Code* out,
                                   std::size_t threads, std::size_t first_row) {
  if (keys.is_none()) {
    py::gil_scoped_release release;
    return window_codes<std::int64_t, Code>(nullptr, 1, t.data(),
                                            static_cast<std::size_t>(t.shape(0)), grid, out,
                                            threads, first_row);
  }
  const py::array k = py::array::ensure(keys);
  if (!k) throw py::type_error("keys must be an array of integers");
  const py::dtype dt = k.dtype();
  const bool is_signed = dt.kind() == 'i';
  if (is_signed && dt.itemsize() == 1) return fill_codes<std::int8_t>(k, n_keys, t, grid, out, threads, first_row);
  if (is_signed && dt.itemsize() == 2) return fill_codes<std::int16_t>(k, n_keys, t, grid, out, threads, first_row);
  if (is_signed && dt.itemsize() == 4) return fill_codes<std::int32_t>(k, n_keys, t, grid, out, threads, first_row);
  return fill_codes<std::int64_t>(k, n_keys, t, grid, out, threads, first_row);
}

}  // namespace

void register_time_windows(py::module_& m) {
  m.def(
      "window_grid",
      [](const py::handle& ts, std::int64_t step) {
        const Int64Array a = timestamps_1d(ts);
        WindowGrid g;
        {
          py::gil_scoped_release release;
          g = window_grid(a.data(), static_cast<std::size_t>(a.shape(0)), step);
        }
        return py::make_tuple(g.origin, g.count);
      },
      py::arg("timestamps"), py::arg("step"));

  m.def(
      "window_codes",
      [](const py::handle& keys, std::size_t n_keys, const py::handle& ts, std::int64_t origin,
         std::int64_t step, std::int64_t n_windows, std::size_t threads, std::size_t first_row,
         const py::handle& out) {
        const Int64Array t = timestamps_1d(ts);
        const WindowGrid grid{origin, step, n_windows};
        // 32-bit codes when they fit: half the memory written here and read by the fill.
        const bool narrow = n_windows > 0 && n_keys > 0 &&
                            n_keys <= static_cast<std::size_t>(INT32_MAX / n_windows);
        py::array codes;
        if (out.is_none()) {
          codes = narrow ? py::array(py::array_t<std::int32_t>(t.shape(0)))
                         : py::array(py::array_t<std::int64_t>(t.shape(0)));
        } else {  // the caller's buffer, reused across chunks (no fresh pages to fault in)
          const std::string what = std::string("out must be a writeable contiguous ") +
                                   (narrow ? "int32" : "int64") +
                                   " array with the length of timestamps";
          if (!py::isinstance<py::array>(out)) throw py::type_error(what);
          codes = py::reinterpret_borrow<py::array>(out);
          const py::dtype want = narrow ? py::dtype::of<std::int32_t>()
                                        : py::dtype::of<std::int64_t>();
          if (!codes.dtype().is(want) || codes.ndim() != 1 ||
              (codes.flags() & py::array::c_style) == 0 || !codes.writeable() ||
              codes.shape(0) != t.shape(0)) {
            throw py::type_error(what);
          }
        }
        std::vector<std::int64_t> counts;
        if (narrow) {
          counts = fill_all(keys, n_keys, t, grid,
                            static_cast<std::int32_t*>(codes.mutable_data()), threads, first_row);
        } else {
          counts = fill_all(keys, n_keys, t, grid,
                            static_cast<std::int64_t*>(codes.mutable_data()), threads, first_row);
        }
        py::array_t<std::int64_t> counts_out(static_cast<py::ssize_t>(counts.size()));
        std::copy(counts.begin(), counts.end(), counts_out.mutable_data());
        return py::make_tuple(codes, counts_out);
      },
      py::arg("keys"), py::arg("n_keys"), py::arg("timestamps"), py::arg("origin"),
      py::arg("step"), py::arg("n_windows"), py::arg("threads") = 0,
      py::arg("first_row") = 0, py::arg("out") = py::none());
}

}  // namespace perfstats::python
