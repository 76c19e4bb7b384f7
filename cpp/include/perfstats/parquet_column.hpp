// One column chunk of a Parquet file decoded straight into an array: the pages are read in
// place from the caller's bytes (a memory-mapped file, say), each is decompressed into one
// buffer reused by the calling thread, and its values are written to the output with no
// intermediate column. This is the reading half of the streamed summaries, where a general
// Parquet reader spent more time allocating and copying than decompressing.
//
// Only what flat telemetry columns use is handled: required or optional (definition level at
// most 1) columns without repetition; data pages v1 and v2; PLAIN values and dictionary
// (PLAIN_DICTIONARY / RLE_DICTIONARY) indices; uncompressed, Snappy and Zstandard pages (the
// last two when the library was built with them). Anything else throws parquet::Unsupported,
// and the caller reads the chunk another way. Malformed bytes throw std::invalid_argument
// naming the page and what is wrong; no input makes the decoder read outside [data, data +
// size) or write outside the output.
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace perfstats::parquet {

// Parquet's Type and CompressionCodec enums (parquet.thrift), by their numbers.
enum class PhysicalType : int {
  boolean = 0,
  int32 = 1,
  int64 = 2,
  int96 = 3,
  float32 = 4,
  float64 = 5,
  byte_array = 6,
  fixed_len_byte_array = 7,
};

enum class Codec : int {
  uncompressed = 0,
  snappy = 1,
  gzip = 2,
  lzo = 3,
  brotli = 4,
  lz4 = 5,
  zstd = 6,
  lz4_raw = 7,
};

// The bytes and metadata of one column chunk, as a file's footer describes it.
struct ColumnChunk {
  const std::uint8_t* data = nullptr;  // the first page (the dictionary page when there is one)
  std::size_t size = 0;                // total_compressed_size: all the chunk's pages
  PhysicalType type = PhysicalType::int64;
  Codec codec = Codec::uncompressed;
  std::int64_t num_values = 0;   // rows of the chunk (a flat column has one value slot per row)
  int max_definition_level = 0;  // 0: required column, 1: optional (nulls possible)
};

// The chunk needs something this decoder does not implement; nothing about it is wrong.
class Unsupported : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Whether pages compressed with `codec` can be read by this build.
bool codec_available(Codec codec) noexcept;

// An INT64 column (timestamps, say) into out[0, num_values). Returns the row of the first
// null, or num_values when there is none; null slots are left 0.
std::int64_t read_int64(const ColumnChunk& chunk, std::int64_t* out);

// A FLOAT or DOUBLE column into out[0, num_values) as double; nulls become NaN.
void read_double(const ColumnChunk& chunk, double* out);

// A dictionary-encoded BYTE_ARRAY column (a string key): out[i] is the index of row i's
// value in the returned dictionary, or -1 for a null. Throws Unsupported when a data page
// holds plain values (a writer whose dictionary outgrew its limit).
std::vector<std::string> read_dictionary_indices(const ColumnChunk& chunk, std::int32_t* out);

}  // namespace perfstats::parquet
