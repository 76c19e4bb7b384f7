// The shared byte format: varints round trip and hostile buffers are rejected cleanly.
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>

#include "perfstats/detail/bytes.hpp"

using perfstats::detail::ByteReader;
using perfstats::detail::ByteWriter;

namespace {
const std::uint8_t* bytes(const std::string& s) {
  return reinterpret_cast<const std::uint8_t*>(s.data());
}
}  // namespace

TEST(Bytes, RoundTripsEveryFieldKind) {
  ByteWriter w("TEST", 1);
  w.varint(0);
  w.varint(std::numeric_limits<std::uint64_t>::max());
  w.zigzag(-1);
  w.zigzag(std::numeric_limits<std::int64_t>::min());
  w.f64(-0.125);
  const std::string s = w.finish();
  ByteReader r(bytes(s), s.size(), "TEST", 1, "Test");
  EXPECT_EQ(r.varint(), 0U);
  EXPECT_EQ(r.varint(), std::numeric_limits<std::uint64_t>::max());
  EXPECT_EQ(r.zigzag(), -1);
  EXPECT_EQ(r.zigzag(), std::numeric_limits<std::int64_t>::min());
  EXPECT_EQ(r.f64(), -0.125);
  r.expect_end();
}

TEST(Bytes, CrcMatchesTheStandardCheckValue) {
  const std::string s = "123456789";
  EXPECT_EQ(perfstats::detail::crc32(bytes(s), s.size()), 0xCBF43926U);
}

TEST(Bytes, RejectsEveryTruncationAndBitFlip) {
  ByteWriter w("TEST", 1);
  w.varint(300);
  w.f64(1.5);
  const std::string s = w.finish();
  for (std::size_t n = 0; n < s.size(); ++n) {
    EXPECT_THROW(ByteReader(bytes(s), n, "TEST", 1, "Test"), std::invalid_argument) << n;
  }
  for (std::size_t i = 0; i < s.size(); ++i) {
    std::string t = s;
    t[i] = static_cast<char>(t[i] ^ 0x10);
    EXPECT_THROW(ByteReader(bytes(t), t.size(), "TEST", 1, "Test"), std::invalid_argument) << i;
  }
}

TEST(Bytes, ReadingPastThePayloadThrows) {
  ByteWriter w("TEST", 1);
  w.u8(7);
  const std::string s = w.finish();
  ByteReader r(bytes(s), s.size(), "TEST", 1, "Test");
  EXPECT_EQ(r.u8(), 7);
  EXPECT_THROW(r.f64(), std::invalid_argument);
  EXPECT_THROW(r.varint(), std::invalid_argument);
}

TEST(Bytes, NewerVersionsAreRefused) {
  ByteWriter w("TEST", 2);
  const std::string s = w.finish();
  EXPECT_THROW(ByteReader(bytes(s), s.size(), "TEST", 1, "Test"), std::invalid_argument);
}
