// Byte-level helpers for the serialized formats (see detail/bytes.hpp).
#include "perfstats/detail/bytes.hpp"

#include <array>
#include <cstring>
#include <stdexcept>

namespace perfstats::detail {
namespace {

constexpr std::array<std::uint32_t, 256> make_crc_table() {
  std::array<std::uint32_t, 256> table{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1U) ? 0xEDB88320U ^ (c >> 1) : c >> 1;
    table[i] = c;
  }
  return table;
}
constexpr auto kCrcTable = make_crc_table();
constexpr std::size_t kMagicSize = 4;
constexpr std::size_t kCrcSize = 4;

}  // namespace

std::uint32_t crc32(const std::uint8_t* data, std::size_t size) noexcept {
  std::uint32_t c = 0xFFFFFFFFU;
  for (std::size_t i = 0; i < size; ++i) c = kCrcTable[(c ^ data[i]) & 0xFFU] ^ (c >> 8);
  return c ^ 0xFFFFFFFFU;
}

ByteWriter::ByteWriter(std::string_view magic, std::uint8_t version) {
  buffer_.append(magic.data(), magic.size());
  u8(version);
}

void ByteWriter::u8(std::uint8_t value) { buffer_.push_back(static_cast<char>(value)); }

void ByteWriter::varint(std::uint64_t value) {
  while (value >= 0x80U) {
    u8(static_cast<std::uint8_t>((value & 0x7FU) | 0x80U));
    value >>= 7;
  }
  u8(static_cast<std::uint8_t>(value));
}

void ByteWriter::zigzag(std::int64_t value) {
  varint((static_cast<std::uint64_t>(value) << 1) ^ static_cast<std::uint64_t>(value >> 63));
}

void ByteWriter::f64(double value) {
  std::uint64_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  for (int i = 0; i < 8; ++i) u8(static_cast<std::uint8_t>(bits >> (8 * i)));
}

std::string ByteWriter::finish() {
  const auto crc = crc32(reinterpret_cast<const std::uint8_t*>(buffer_.data()), buffer_.size());
  for (int i = 0; i < 4; ++i) u8(static_cast<std::uint8_t>(crc >> (8 * i)));
  return std::move(buffer_);
}

ByteReader::ByteReader(const std::uint8_t* data, std::size_t size, std::string_view magic,
                       std::uint8_t max_version, std::string what)
    : data_(data), pos_(0), end_(0), what_(std::move(what)) {
  if (size < kMagicSize + 1 + kCrcSize) {
    throw std::invalid_argument(what_ + ": " + std::to_string(size) +
                                " bytes is too short to be a serialized " + what_);
  }
  if (std::memcmp(data, magic.data(), kMagicSize) != 0) {
    throw std::invalid_argument(what_ + ": bad magic bytes (not a serialized " + what_ + ")");
  }
  end_ = size - kCrcSize;
  std::uint32_t stored = 0;
  for (std::size_t i = 0; i < kCrcSize; ++i) {
    stored |= static_cast<std::uint32_t>(data[end_ + i]) << (8 * i);
  }
  if (crc32(data, end_) != stored) {
    throw std::invalid_argument(what_ + ": checksum mismatch (corrupted or truncated data)");
  }
  pos_ = kMagicSize;
  version_ = u8();
  if (version_ == 0 || version_ > max_version) {
    throw std::invalid_argument(what_ + ": unsupported format version " +
                                std::to_string(version_) + " (this build reads up to " +
                                std::to_string(max_version) + ")");
  }
}

void ByteReader::fail(const std::string& message) const {
  throw std::invalid_argument(what_ + ": " + message + " (at byte " + std::to_string(pos_) + ")");
}

std::uint8_t ByteReader::u8() {
  if (pos_ >= end_) fail("unexpected end of data");
  return data_[pos_++];
}

std::uint64_t ByteReader::varint() {
  std::uint64_t value = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    const std::uint8_t byte = u8();
    if (shift == 63 && byte > 1) fail("varint overflows 64 bits");
    value |= static_cast<std::uint64_t>(byte & 0x7FU) << shift;
    if ((byte & 0x80U) == 0) return value;
  }
  fail("varint longer than 10 bytes");
}

std::int64_t ByteReader::zigzag() {
  const std::uint64_t v = varint();
  return static_cast<std::int64_t>(v >> 1) ^ -static_cast<std::int64_t>(v & 1U);
}

double ByteReader::f64() {
  if (end_ - pos_ < 8) fail("unexpected end of data");
  std::uint64_t bits = 0;
  for (std::size_t i = 0; i < 8; ++i) bits |= static_cast<std::uint64_t>(data_[pos_ + i]) << (8 * i);
  pos_ += 8;
  double value;
  std::memcpy(&value, &bits, sizeof value);
  return value;
}

void ByteReader::expect_end() const {
  if (pos_ != end_) {
    throw std::invalid_argument(what_ + ": " + std::to_string(end_ - pos_) +
                                " unexpected trailing bytes");
  }
}

}  // namespace perfstats::detail
