// Bindings for perfstats::merge_packed_rows (the history store's roll-up): argument
// adaptation only.
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "perfstats/packed_rows.hpp"
#include "pybind.hpp"

namespace perfstats::python {

void register_packed_rows(py::module_& m) {
  m.def(
      "merge_packed_rows",
      [](const py::handle& blobs, const py::handle& groups) {
        // Copied with the GIL held (no Python thread can change them while they are read
        // without it); merged without the GIL into new objects no other thread sees yet.
        std::string data;
        std::vector<std::size_t> ends;
        std::size_t i = 0;
        for (const py::handle item : py::iter(blobs)) {
          const std::string label = "blobs[" + std::to_string(i++) + "]";
          const ByteBuffer b(item, label.c_str());
          data.append(reinterpret_cast<const char*>(b.data()), b.size());
          ends.push_back(data.size());
        }
        using Int64Array = py::array_t<std::int64_t, py::array::c_style | py::array::forcecast>;
        const Int64Array g = Int64Array::ensure(groups);
        if (!g || g.ndim() != 1 || static_cast<std::size_t>(g.shape(0)) != ends.size()) {
          throw py::value_error("groups must be integers, one per blob (" +
                                std::to_string(ends.size()) + ")");
        }
        const std::vector<std::int64_t> group(g.data(), g.data() + ends.size());
        std::vector<PackedMerge> merged;
        {
          py::gil_scoped_release release;
          merged = merge_packed_rows(reinterpret_cast<const std::uint8_t*>(data.data()),
                                     ends.data(), group.data(), ends.size());
        }
        py::list out;
        for (PackedMerge& r : merged) {
          py::object obj = std::visit(
              [](auto&& o) -> py::object { return py::cast(std::move(o)); }, std::move(r.object));
          out.append(py::make_tuple(r.group, std::string(1, r.kind),
                                    py::str(r.name.data(), r.name.size()), obj, r.rows));
        }
        return out;
      },
      py::arg("blobs"), py::arg("groups"));
}

}  // namespace perfstats::python
