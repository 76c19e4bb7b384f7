// The Parquet column decoder on pages built here byte by byte from the format's definition
// (parquet.thrift, the Thrift compact protocol and the RLE/bit-packed hybrid), independently
// of any Parquet library: values, nulls, dictionaries, both data page versions, and the
// malformed and unsupported cases.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "perfstats/parquet_column.hpp"

namespace pq = perfstats::parquet;

namespace {

// A Thrift compact protocol writer for the few structs a page header needs.
class Compact {
 public:
  void i32(int id, std::int32_t v) {
    field(id, 5);
    varint((static_cast<std::uint64_t>(v) << 1) ^ static_cast<std::uint64_t>(v >> 31));
  }
  void flag(int id, bool v) { field(id, v ? 1 : 2); }
  void begin(int id) {
    field(id, 12);
    stack_.push_back(last_);
    last_ = 0;
  }
  void end() {
    out_.push_back('\0');
    last_ = stack_.back();
    stack_.pop_back();
  }
  std::string done() {
    out_.push_back('\0');
    return out_;
  }

 private:
  void field(int id, int type) {
    out_.push_back(static_cast<char>(((id - last_) << 4) | type));  // ids ascend by 1..15
    last_ = id;
  }
  void varint(std::uint64_t v) {
    while (v >= 0x80) {
      out_.push_back(static_cast<char>((v & 0x7F) | 0x80));
      v >>= 7;
    }
    out_.push_back(static_cast<char>(v));
  }
  std::string out_;
  int last_ = 0;
  std::vector<int> stack_;
};

std::string bytes_of(const void* p, std::size_t n) {
  return std::string(static_cast<const char*>(p), n);
}

// Definition levels (bit width 1) as bit-packed groups of 8, LSB first.
std::string bitpacked(const std::vector<int>& bits) {
  const std::size_t groups = (bits.size() + 7) / 8;
  std::string s(1, static_cast<char>((groups << 1) | 1));
  for (std::size_t g = 0; g < groups; ++g) {
    unsigned char b = 0;
    for (std::size_t k = 0; k < 8 && g * 8 + k < bits.size(); ++k) {
      b = static_cast<unsigned char>(b | (bits[g * 8 + k] << k));
    }
    s.push_back(static_cast<char>(b));
  }
  return s;
}

std::string data_page_v1(std::int32_t n, int encoding, const std::string& body) {
  Compact h;
  h.i32(1, 0);  // DATA_PAGE
  h.i32(2, static_cast<std::int32_t>(body.size()));
  h.i32(3, static_cast<std::int32_t>(body.size()));
  h.begin(5);
  h.i32(1, n);
  h.i32(2, encoding);
  h.i32(3, 3);  // RLE levels
  h.i32(4, 3);
  h.end();
  return h.done() + body;
}

std::string with_levels(const std::string& levels, const std::string& values) {
  const auto len = static_cast<std::uint32_t>(levels.size());
  return bytes_of(&len, 4) + levels + values;
}

pq::ColumnChunk chunk_of(const std::string& bytes, pq::PhysicalType type, std::int64_t n,
                         int max_def) {
  pq::ColumnChunk c;
  c.data = reinterpret_cast<const std::uint8_t*>(bytes.data());
  c.size = bytes.size();
  c.type = type;
  c.num_values = n;
  c.max_definition_level = max_def;
  return c;
}

TEST(ParquetColumn, RequiredInt64PlainPagesInOrder) {
  const std::vector<std::int64_t> a = {5, -3, 1700000000000000000};
  const std::vector<std::int64_t> b = {42};
  const std::string bytes = data_page_v1(3, 0, bytes_of(a.data(), 24)) +
                            data_page_v1(1, 0, bytes_of(b.data(), 8));
  std::vector<std::int64_t> out(4, -1);
  EXPECT_EQ(pq::read_int64(chunk_of(bytes, pq::PhysicalType::int64, 4, 0), out.data()), 4);
  EXPECT_EQ(out, (std::vector<std::int64_t>{5, -3, 1700000000000000000, 42}));
}

TEST(ParquetColumn, OptionalDoubleNullsBecomeNaNAndFirstNullIsReported) {
  const std::vector<int> defined = {1, 0, 1, 1, 0, 0, 1, 1, 1, 0};
  const std::vector<double> present = {1.5, 2.5, -0.0, 4.0, 1e300, 7.0};
  const std::string body = with_levels(bitpacked(defined), bytes_of(present.data(), 48));
  const std::string bytes = data_page_v1(10, 0, body);
  std::vector<double> out(10, -1.0);
  pq::read_double(chunk_of(bytes, pq::PhysicalType::float64, 10, 1), out.data());
  std::size_t j = 0;
  for (std::size_t i = 0; i < defined.size(); ++i) {
    if (defined[i] != 0) {
      EXPECT_EQ(out[i], present[j++]);
    } else {
      EXPECT_TRUE(std::isnan(out[i])) << i;
    }
  }
  // The same levels and values as INT64: the first null's row comes back.
  std::vector<std::int64_t> ints(10);
  EXPECT_EQ(pq::read_int64(chunk_of(bytes, pq::PhysicalType::int64, 10, 1), ints.data()), 1);
}

TEST(ParquetColumn, FloatValuesWidenExactly) {
  const std::vector<float> v = {0.1f, 3.0e38f, -1.0e-40f};
  const std::string bytes = data_page_v1(3, 0, bytes_of(v.data(), 12));
  std::vector<double> out(3);
  pq::read_double(chunk_of(bytes, pq::PhysicalType::float32, 3, 0), out.data());
  for (std::size_t i = 0; i < 3; ++i) EXPECT_EQ(out[i], static_cast<double>(v[i]));
}

// A dictionary page of strings, then a v2 data page of 1-bit indices with a null.
std::string string_dictionary_chunk(
    const std::string& indices = std::string(1, '\x01') + bitpacked({0, 1, 1, 0, 0, 0, 1, 0})) {
  std::string dict;
  for (const std::string s : {"/api/chat", "/api/chat-v2"}) {
    const auto len = static_cast<std::uint32_t>(s.size());
    dict += bytes_of(&len, 4) + s;
  }
  Compact d;
  d.i32(1, 2);  // DICTIONARY_PAGE
  d.i32(2, static_cast<std::int32_t>(dict.size()));
  d.i32(3, static_cast<std::int32_t>(dict.size()));
  d.begin(7);
  d.i32(1, 2);
  d.i32(2, 0);  // PLAIN
  d.end();
  const std::string levels = bitpacked({1, 1, 0, 1, 1, 1, 1, 1, 1});
  Compact h;
  h.i32(1, 3);  // DATA_PAGE_V2
  h.i32(2, static_cast<std::int32_t>(levels.size() + indices.size()));
  h.i32(3, static_cast<std::int32_t>(levels.size() + indices.size()));
  h.begin(8);
  h.i32(1, 9);
  h.i32(2, 1);
  h.i32(3, 9);
  h.i32(4, 8);  // RLE_DICTIONARY
  h.i32(5, static_cast<std::int32_t>(levels.size()));
  h.i32(6, 0);
  h.flag(7, false);
  h.end();
  return d.done() + dict + h.done() + levels + indices;
}

TEST(ParquetColumn, DictionaryIndicesOfAStringKey) {
  const std::string bytes = string_dictionary_chunk();
  std::vector<std::int32_t> out(9, 7);
  const auto dict =
      pq::read_dictionary_indices(chunk_of(bytes, pq::PhysicalType::byte_array, 9, 1), out.data());
  EXPECT_EQ(dict, (std::vector<std::string>{"/api/chat", "/api/chat-v2"}));
  EXPECT_EQ(out, (std::vector<std::int32_t>{0, 1, -1, 1, 0, 0, 0, 1, 0}));
}

TEST(ParquetColumn, MalformedChunksAreRefusedWithTheReason) {
  const std::string good = string_dictionary_chunk();
  std::vector<std::int32_t> out(9);
  for (std::size_t k = 0; k < good.size(); ++k) {  // every truncation
    const std::string cut = good.substr(0, k);
    EXPECT_THROW(pq::read_dictionary_indices(chunk_of(cut, pq::PhysicalType::byte_array, 9, 1),
                                             out.data()),
                 std::invalid_argument)
        << k;
  }
  // An index past the dictionary's two entries: bit width 2, one RLE run of eight 3s.
  const std::string bad = string_dictionary_chunk(std::string("\x02\x10\x03", 3));
  try {
    pq::read_dictionary_indices(chunk_of(bad, pq::PhysicalType::byte_array, 9, 1), out.data());
    ADD_FAILURE() << "accepted an index past the dictionary";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("past the dictionary"), std::string::npos) << e.what();
  }
  // More values in a page than the chunk has.
  const std::vector<std::int64_t> v = {1, 2, 3};
  const std::string three = data_page_v1(3, 0, bytes_of(v.data(), 24));
  std::vector<std::int64_t> ints(2);
  EXPECT_THROW(pq::read_int64(chunk_of(three, pq::PhysicalType::int64, 2, 0), ints.data()),
               std::invalid_argument);
  // Fewer value bytes than the page's count.
  const std::string short_page = data_page_v1(3, 0, bytes_of(v.data(), 16));
  ints.resize(3);
  EXPECT_THROW(pq::read_int64(chunk_of(short_page, pq::PhysicalType::int64, 3, 0), ints.data()),
               std::invalid_argument);
  // The wrong physical type for the reader.
  EXPECT_THROW(pq::read_int64(chunk_of(three, pq::PhysicalType::float64, 3, 0), ints.data()),
               std::invalid_argument);
}

TEST(ParquetColumn, UnsupportedInputsSaySoInsteadOfGuessing) {
  const std::vector<std::int64_t> v = {1, 2, 3};
  std::vector<std::int64_t> out(3);
  const std::string delta = data_page_v1(3, 5, bytes_of(v.data(), 24));  // DELTA_BINARY_PACKED
  EXPECT_THROW(pq::read_int64(chunk_of(delta, pq::PhysicalType::int64, 3, 0), out.data()),
               pq::Unsupported);
  const std::string page = data_page_v1(3, 0, bytes_of(v.data(), 24));
  pq::ColumnChunk gz = chunk_of(page, pq::PhysicalType::int64, 3, 0);
  gz.codec = pq::Codec::gzip;
  EXPECT_FALSE(pq::codec_available(pq::Codec::gzip));
  EXPECT_THROW(pq::read_int64(gz, out.data()), pq::Unsupported);
  EXPECT_THROW(pq::read_int64(chunk_of("", pq::PhysicalType::int64, 3, 2), out.data()),
               pq::Unsupported);  // nested
  // Plain strings in a key column (a writer whose dictionary overflowed).
  const std::string s = "ab";
  const auto len = static_cast<std::uint32_t>(s.size());
  const std::string plain = data_page_v1(1, 0, bytes_of(&len, 4) + s);
  std::vector<std::int32_t> keys(1);
  EXPECT_THROW(
      pq::read_dictionary_indices(chunk_of(plain, pq::PhysicalType::byte_array, 1, 0), keys.data()),
      pq::Unsupported);
}

}  // namespace
