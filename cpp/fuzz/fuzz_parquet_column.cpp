// libFuzzer target: the Parquet column decoder must read or refuse any chunk, never crash,
// never read outside the chunk or write outside the output (ASan checks both).
//
// Input: one control byte (reader: bits 0-1; optional column: bit 2; codec: bits 3-4 as
// uncompressed, Snappy, Zstandard), two bytes of value count (little-endian), then the
// chunk's bytes. The seeds in cpp/fuzz/corpus/parquet_*.bin are real chunks so framed.
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <vector>

#include "perfstats/parquet_column.hpp"

namespace pq = perfstats::parquet;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 3) return 0;
  const std::uint8_t control = data[0];
  const std::size_t n = static_cast<std::size_t>(data[1]) | (static_cast<std::size_t>(data[2]) << 8);
  static const pq::Codec kCodecs[4] = {pq::Codec::uncompressed, pq::Codec::snappy,
                                       pq::Codec::zstd, pq::Codec::gzip};
  pq::ColumnChunk c;
  c.data = data + 3;
  c.size = size - 3;
  c.num_values = static_cast<std::int64_t>(n);
  c.max_definition_level = (control >> 2) & 1;
  c.codec = kCodecs[(control >> 3) & 3];
  // Exactly n entries, each in its own allocation, so any write past them is caught.
  try {
    switch (control & 3) {
      case 0: {
        c.type = pq::PhysicalType::int64;
        std::vector<std::int64_t> out(n);
        const std::int64_t first_null = pq::read_int64(c, out.data());
        if (first_null < 0 || first_null > c.num_values) __builtin_trap();
        break;
      }
      case 1:
      case 2: {
        c.type = (control & 3) == 1 ? pq::PhysicalType::float64 : pq::PhysicalType::float32;
        std::vector<double> out(n);
        pq::read_double(c, out.data());
        break;
      }
      default: {
        c.type = pq::PhysicalType::byte_array;
        std::vector<std::int32_t> out(n);
        const std::vector<std::string> dict = pq::read_dictionary_indices(c, out.data());
        for (const std::int32_t k : out) {
          if (k < -1 || (k >= 0 && static_cast<std::size_t>(k) >= dict.size())) __builtin_trap();
        }
      }
    }
  } catch (const std::invalid_argument&) {
    // Malformed: the expected outcome for most inputs.
  } catch (const pq::Unsupported&) {
    // Valid but outside what the decoder reads.
  }
  return 0;
}
