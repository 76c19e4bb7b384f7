// Little-endian byte writer/reader shared by every serialized perfstats format.
//
// Every format is: 4-byte magic, 1-byte version, payload, CRC-32 of all preceding bytes.
// The reader bounds-checks every read and reports the byte offset of a failure, so a
// truncated or hostile buffer becomes std::invalid_argument, never undefined behaviour.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace perfstats::detail {

std::uint32_t crc32(const std::uint8_t* data, std::size_t size) noexcept;

class ByteWriter {
 public:
  ByteWriter(std::string_view magic, std::uint8_t version);
  void u8(std::uint8_t value);
  void varint(std::uint64_t value);
  void zigzag(std::int64_t value);
  void f64(double value);
  // Appends the CRC-32 trailer and returns the finished buffer.
  std::string finish();

 private:
  std::string buffer_;
};

class ByteReader {
 public:
  // Checks length, magic, version (must be <= max_version) and the CRC-32 trailer.
  // `what` names the format in error messages ("QuantileSketch").
  ByteReader(const std::uint8_t* data, std::size_t size, std::string_view magic,
             std::uint8_t max_version, std::string what);
  std::uint8_t version() const noexcept { return version_; }
  std::uint8_t u8();
  std::uint64_t varint();
  std::int64_t zigzag();
  double f64();
  std::size_t remaining() const noexcept { return end_ - pos_; }
  // Throws unless every payload byte was consumed.
  void expect_end() const;
  [[noreturn]] void fail(const std::string& message) const;

 private:
  const std::uint8_t* data_;
  std::size_t pos_;
  std::size_t end_;  // payload end (start of the CRC trailer)
  std::uint8_t version_ = 0;
  std::string what_;
};

}  // namespace perfstats::detail
