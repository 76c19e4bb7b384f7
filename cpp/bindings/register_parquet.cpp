// Bindings for the Parquet column decoder: argument adaptation only.
#include <cstdint>
#include <string>
#include <vector>

#include "perfstats/parquet_column.hpp"
#include "pybind.hpp"

namespace perfstats::python {
namespace {

// The chunk's bytes (any contiguous byte buffer: a memoryview of a memory-mapped file, bytes)
// and its metadata. The pointer is valid while the caller holds `chunk`, i.e. for the call.
parquet::ColumnChunk column_chunk(const py::buffer& chunk, int type, int codec,
                                  std::int64_t num_values, int max_definition_level,
                                  py::buffer_info& info) {
  info = chunk.request();
  if (info.itemsize != 1 || info.ndim != 1 || (info.shape[0] > 1 && info.strides[0] != 1)) {
    throw py::type_error("chunk must be a contiguous buffer of bytes");
  }
  if (num_values < 0) throw py::value_error("num_values must not be negative");
  parquet::ColumnChunk c;
  c.data = static_cast<const std::uint8_t*>(info.ptr);
  c.size = static_cast<std::size_t>(info.shape[0]);
  c.type = static_cast<parquet::PhysicalType>(type);
  c.codec = static_cast<parquet::Codec>(codec);
  c.num_values = num_values;
  c.max_definition_level = max_definition_level;
  return c;
}

// `out` itself, checked to be a writeable 1-D C-contiguous array of T with num_values entries.
template <class T>
T* output(const py::array& out, std::int64_t num_values, const char* dtype) {
  if (!out.dtype().is(py::dtype::of<T>()) || out.ndim() != 1 ||
      (out.flags() & py::array::c_style) == 0 || !out.writeable() ||
      out.shape(0) != num_values) {
    throw py::type_error(std::string("out must be a writeable contiguous ") + dtype +
                         " array of num_values entries");
  }
  return static_cast<T*>(const_cast<void*>(out.data()));
}

}  // namespace

void register_parquet(py::module_& m) {
  py::register_exception<parquet::Unsupported>(m, "ParquetUnsupported",
                                                PyExc_NotImplementedError);

  m.def(
      "parquet_codec_available",
      [](int codec) { return parquet::codec_available(static_cast<parquet::Codec>(codec)); },
      py::arg("codec"));

  m.def(
      "parquet_read_int64",
      [](const py::buffer& chunk, int codec, std::int64_t num_values, int max_definition_level,
         const py::array& out) {
        py::buffer_info info;
        const parquet::ColumnChunk c =
            column_chunk(chunk, static_cast<int>(parquet::PhysicalType::int64), codec,
                         num_values, max_definition_level, info);
        std::int64_t* o = output<std::int64_t>(out, num_values, "int64");
        py::gil_scoped_release release;
        return parquet::read_int64(c, o);
      },
      py::arg("chunk"), py::arg("codec"), py::arg("num_values"),
      py::arg("max_definition_level"), py::arg("out"));

  m.def(
      "parquet_read_double",
      [](const py::buffer& chunk, int physical_type, int codec, std::int64_t num_values,
         int max_definition_level, const py::array& out) {
        py::buffer_info info;
        const parquet::ColumnChunk c =
            column_chunk(chunk, physical_type, codec, num_values, max_definition_level, info);
        double* o = output<double>(out, num_values, "float64");
        py::gil_scoped_release release;
        parquet::read_double(c, o);
      },
      py::arg("chunk"), py::arg("physical_type"), py::arg("codec"), py::arg("num_values"),
      py::arg("max_definition_level"), py::arg("out"));

  m.def(
      "parquet_read_dictionary",
      [](const py::buffer& chunk, int codec, std::int64_t num_values, int max_definition_level,
         const py::array& out) {
        py::buffer_info info;
        const parquet::ColumnChunk c =
            column_chunk(chunk, static_cast<int>(parquet::PhysicalType::byte_array), codec,
                         num_values, max_definition_level, info);
        std::int32_t* o = output<std::int32_t>(out, num_values, "int32");
        std::vector<std::string> dictionary;
        {
          py::gil_scoped_release release;
          dictionary = parquet::read_dictionary_indices(c, o);
        }
        py::list values;
        for (const std::string& v : dictionary) values.append(py::bytes(v));
        return values;
      },
      py::arg("chunk"), py::arg("codec"), py::arg("num_values"),
      py::arg("max_definition_level"), py::arg("out"));
}

}  // namespace perfstats::python
