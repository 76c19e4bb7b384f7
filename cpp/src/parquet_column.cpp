#include "perfstats/parquet_column.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#ifdef PERFSTATS_HAVE_SNAPPY
#include <snappy.h>
#endif
#ifdef PERFSTATS_HAVE_ZSTD
#include <zstd.h>
#endif

namespace perfstats::parquet {
namespace {

// A page's uncompressed size beyond this is refused before anything is allocated for it
// (pages are usually 1 MiB; the format allows up to 2 GiB).
constexpr std::size_t kMaxPageBytes = std::size_t{1} << 27;
// More distinct values than this in a key column's dictionary: not a grouping key.
constexpr std::size_t kMaxKeys = std::size_t{1} << 22;

[[noreturn]] void malformed(const std::string& what) {
  throw std::invalid_argument("malformed Parquet column chunk: " + what);
}

std::string at_byte(std::size_t offset) { return " (byte " + std::to_string(offset) + ")"; }

// An unsigned LEB128 varint at p (advanced past it); false if it runs past `end` or 64 bits.
bool read_varint(const std::uint8_t*& p, const std::uint8_t* end, std::uint64_t& v) {
  v = 0;
  for (int shift = 0; p != end && shift < 64; shift += 7) {
    const std::uint8_t b = *p++;
    v |= static_cast<std::uint64_t>(b & 0x7FU) << shift;
    if ((b & 0x80U) == 0) return true;
  }
  return false;
}

// ---- Thrift compact protocol: just enough to read a PageHeader and skip the rest -------

enum CompactType : int {
  kStop = 0,
  kTrue = 1,
  kFalse = 2,
  kByte = 3,
  kI16 = 4,
  kI32 = 5,
  kI64 = 6,
  kDouble = 7,
  kBinary = 8,
  kList = 9,
  kSet = 10,
  kMap = 11,
  kStruct = 12,
};

class CompactReader {
 public:
  CompactReader(const std::uint8_t* begin, const std::uint8_t* end) : begin_(begin), p_(begin), end_(end) {}

  std::size_t consumed() const noexcept { return static_cast<std::size_t>(p_ - begin_); }

  std::uint8_t byte() {
    if (p_ == end_) malformed("page header runs past the end of the chunk" + at_byte(consumed()));
    return *p_++;
  }

  std::uint64_t varint() {
    std::uint64_t v = 0;
    if (!read_varint(p_, end_, v)) {
      malformed("page header varint runs past the chunk or 64 bits" + at_byte(consumed()));
    }
    return v;
  }

  std::int64_t zigzag() {
    const std::uint64_t v = varint();
    return static_cast<std::int64_t>(v >> 1) ^ -static_cast<std::int64_t>(v & 1U);
  }

  std::int32_t i32() {
    const std::int64_t v = zigzag();
    if (v < std::numeric_limits<std::int32_t>::min() ||
        v > std::numeric_limits<std::int32_t>::max()) {
      malformed("32-bit field out of range in a page header" + at_byte(consumed()));
    }
    return static_cast<std::int32_t>(v);
  }

  // The next field of the current struct: false at its end. `id` carries the previous id in.
  bool field(int& id, int& type) {
    const std::uint8_t b = byte();
    if (b == kStop) return false;
    type = b & 0x0F;
    const int delta = b >> 4;
    if (delta != 0) {
      id += delta;
    } else {
      const std::int64_t wide = zigzag();
      if (wide < -32768 || wide > 32767) malformed("field id out of range" + at_byte(consumed()));
      id = static_cast<int>(wide);
    }
    return true;
  }

  // Skips a value of `type`; in lists and sets, booleans take one byte (`in_list`).
  void skip(int type, int depth, bool in_list = false) {
    if (depth > 32) malformed("page header nested too deeply");
    switch (type) {
      case kTrue:
      case kFalse:
        if (in_list) byte();
        return;
      case kByte:
        byte();
        return;
      case kI16:
      case kI32:
      case kI64:
        varint();
        return;
      case kDouble:
        advance(8);
        return;
      case kBinary:
        advance(varint());
        return;
      case kList:
      case kSet: {
        const std::uint8_t h = byte();
        std::uint64_t n = h >> 4;
        if (n == 15) n = varint();
        // Every element takes at least one byte, so a hostile count ends at the chunk's end.
        for (std::uint64_t i = 0; i < n; ++i) skip(h & 0x0F, depth + 1, true);
        return;
      }
      case kMap: {
        const std::uint64_t n = varint();
        if (n == 0) return;
        const std::uint8_t kv = byte();
        for (std::uint64_t i = 0; i < n; ++i) {
          skip(kv >> 4, depth + 1, true);
          skip(kv & 0x0F, depth + 1, true);
        }
        return;
      }
      case kStruct: {
        int id = 0, t = 0;
        while (field(id, t)) skip(t, depth + 1);
        return;
      }
      default:
        malformed("unknown type " + std::to_string(type) + " in a page header" +
                  at_byte(consumed()));
    }
  }

 private:
  void advance(std::uint64_t n) {
    if (n > static_cast<std::uint64_t>(end_ - p_)) {
      malformed("page header runs past the end of the chunk" + at_byte(consumed()));
    }
    p_ += n;
  }

  const std::uint8_t* begin_;
  const std::uint8_t* p_;
  const std::uint8_t* end_;
};

enum PageType : int { kDataPage = 0, kIndexPage = 1, kDictionaryPage = 2, kDataPageV2 = 3 };
enum Encoding : int { kPlain = 0, kPlainDictionary = 2, kRle = 3, kRleDictionary = 8 };

struct PageHeader {
  int type = -1;
  std::int32_t uncompressed = -1;
  std::int32_t compressed = -1;
  bool has_header = false;  // the header struct matching `type` was present
  std::int32_t num_values = -1;
  int encoding = -1;
  int def_encoding = kRle;     // v1
  std::int32_t def_bytes = 0;  // v2: definition levels' length, stored uncompressed
  std::int32_t rep_bytes = 0;  // v2
  bool is_compressed = true;   // v2
};

void expect_type(int got, int want, const char* field) {
  if (got != want) malformed(std::string("page header field ") + field + " has the wrong type");
}

// The fields of DataPageHeader, DictionaryPageHeader or DataPageHeaderV2 (by `kind`).
void read_page_struct(CompactReader& r, int kind, PageHeader& h) {
  int id = 0, t = 0;
  bool got_values = false, got_encoding = false;
  while (r.field(id, t)) {
    if (id == 1) {
      expect_type(t, kI32, "num_values");
      h.num_values = r.i32();
      got_values = true;
    } else if (id == (kind == kDataPageV2 ? 4 : 2)) {
      expect_type(t, kI32, "encoding");
      h.encoding = r.i32();
      got_encoding = true;
    } else if (kind == kDataPage && id == 3) {
      expect_type(t, kI32, "definition_level_encoding");
      h.def_encoding = r.i32();
    } else if (kind == kDataPageV2 && id == 5) {
      expect_type(t, kI32, "definition_levels_byte_length");
      h.def_bytes = r.i32();
    } else if (kind == kDataPageV2 && id == 6) {
      expect_type(t, kI32, "repetition_levels_byte_length");
      h.rep_bytes = r.i32();
    } else if (kind == kDataPageV2 && id == 7) {
      if (t != kTrue && t != kFalse) malformed("page header field is_compressed is not a bool");
      h.is_compressed = t == kTrue;
    } else {
      r.skip(t, 1);
    }
  }
  if (!got_values || !got_encoding) malformed("page header lacks num_values or encoding");
  h.has_header = true;
}

PageHeader read_page_header(CompactReader& r) {
  PageHeader h;
  int id = 0, t = 0;
  while (r.field(id, t)) {
    if (id == 1) {
      expect_type(t, kI32, "type");
      h.type = r.i32();
    } else if (id == 2) {
      expect_type(t, kI32, "uncompressed_page_size");
      h.uncompressed = r.i32();
    } else if (id == 3) {
      expect_type(t, kI32, "compressed_page_size");
      h.compressed = r.i32();
    } else if ((id == 5 || id == 7 || id == 8) && t == kStruct) {
      const int kind = id == 5 ? kDataPage : id == 7 ? kDictionaryPage : kDataPageV2;
      if (kind != h.type) {
        r.skip(t, 1);  // a header for another page type: not this page's
      } else {
        read_page_struct(r, kind, h);
      }
    } else {
      r.skip(t, 1);
    }
  }
  if (h.type < 0 || h.uncompressed < 0 || h.compressed < 0) {
    malformed("page header lacks its type or sizes");
  }
  return h;
}

// ---- per-thread buffers ----------------------------------------------------------------

struct Scratch {
  std::unique_ptr<std::uint8_t[]> bytes;  // decompressed page (not zeroed when it grows)
  std::size_t capacity = 0;
  std::vector<std::uint32_t> indices;
  std::vector<std::uint8_t> defined;
#ifdef PERFSTATS_HAVE_ZSTD
  std::unique_ptr<ZSTD_DCtx, decltype(&ZSTD_freeDCtx)> zstd{nullptr, &ZSTD_freeDCtx};
#endif

  std::uint8_t* reserve(std::size_t n) {
    if (n > capacity) {
      bytes.reset(new std::uint8_t[n]);
      capacity = n;
    }
    return bytes.get();
  }
};

Scratch& scratch() {
  thread_local Scratch s;
  return s;
}

// The `expected` bytes `src[0, len)` decompress to (src itself when uncompressed).
const std::uint8_t* decompress(Codec codec, const std::uint8_t* src, std::size_t len,
                               std::size_t expected, std::size_t page) {
  const auto where = [page] { return " in page " + std::to_string(page); };
  if (expected > kMaxPageBytes) malformed("page of " + std::to_string(expected) + " bytes" + where());
  if (codec == Codec::uncompressed) {
    if (len != expected) malformed("uncompressed page's sizes differ" + where());
    return src;
  }
#ifdef PERFSTATS_HAVE_SNAPPY
  if (codec == Codec::snappy) {
    const auto* s = reinterpret_cast<const char*>(src);
    std::size_t n = 0;
    if (!snappy::GetUncompressedLength(s, len, &n) || n != expected) {
      malformed("Snappy data does not match the page's size" + where());
    }
    std::uint8_t* out = scratch().reserve(expected);
    if (!snappy::RawUncompress(s, len, reinterpret_cast<char*>(out))) {
      malformed("corrupt Snappy data" + where());
    }
    return out;
  }
#endif
#ifdef PERFSTATS_HAVE_ZSTD
  if (codec == Codec::zstd) {
    const unsigned long long declared = ZSTD_getFrameContentSize(src, len);
    if (declared == ZSTD_CONTENTSIZE_ERROR ||
        (declared != ZSTD_CONTENTSIZE_UNKNOWN && declared != expected)) {
      malformed("Zstandard data does not match the page's size" + where());
    }
    Scratch& s = scratch();
    if (!s.zstd) s.zstd.reset(ZSTD_createDCtx());
    if (!s.zstd) throw std::bad_alloc();
    std::uint8_t* out = s.reserve(expected);
    const std::size_t got = ZSTD_decompressDCtx(s.zstd.get(), out, expected, src, len);
    if (ZSTD_isError(got) != 0U || got != expected) malformed("corrupt Zstandard data" + where());
    return out;
  }
#endif
  throw Unsupported("pages compressed with codec " + std::to_string(static_cast<int>(codec)));
}

// ---- RLE / bit-packed hybrid (definition levels and dictionary indices) ------------------

// Decodes `count` values of `width` bits from [p, end) into out.
void decode_hybrid(const std::uint8_t* p, const std::uint8_t* end, int width, std::size_t count,
                   std::uint32_t* out, std::size_t page) {
  const std::size_t value_bytes = static_cast<std::size_t>(width + 7) / 8;
  const std::uint64_t mask = width == 32 ? 0xFFFFFFFFULL : (1ULL << width) - 1;
  std::size_t done = 0;
  while (done < count) {
    std::uint64_t header = 0;
    if (!read_varint(p, end, header)) {
      malformed("levels or indices end early in page " + std::to_string(page));
    }
    const auto avail = static_cast<std::size_t>(end - p);
    if ((header & 1U) != 0) {  // bit-packed: (header >> 1) groups of 8 values
      const std::uint64_t groups = header >> 1;
      const std::size_t take =
          groups >= (count - done + 7) / 8 ? count - done : static_cast<std::size_t>(groups * 8);
      const auto w = static_cast<std::size_t>(width);
      const std::size_t need = (take * w + 7) / 8;
      if (need > avail) malformed("bit-packed run past the end of page " + std::to_string(page));
      std::uint32_t* o = out + done;
      std::size_t i = 0;
      if (w <= 8) {  // a group of 8 values is w bytes: one load, eight shifts
        for (; i + 8 <= take && (i / 8) * w + 8 <= avail; i += 8) {
          std::uint64_t word = 0;
          std::memcpy(&word, p + (i / 8) * w, 8);
          for (std::size_t k = 0; k < 8; ++k) {
            o[i + k] = static_cast<std::uint32_t>((word >> (k * w)) & mask);
          }
        }
      }
      for (; i < take; ++i) {  // one 8-byte window per value (up to 32 + 7 bits)
        const std::size_t bit = i * w;
        const std::size_t at = bit / 8;
        std::uint64_t word = 0;
        if (at + 8 <= avail) {
          std::memcpy(&word, p + at, 8);
        } else {
          std::memcpy(&word, p + at, avail - at);
        }
        o[i] = static_cast<std::uint32_t>((word >> (bit % 8)) & mask);
      }
      done += take;
      const std::uint64_t run_bytes = groups * static_cast<std::uint64_t>(width);
      p += run_bytes < avail ? static_cast<std::size_t>(run_bytes) : avail;
    } else {  // a run of one value
      if (value_bytes > avail) malformed("RLE run past the end of page " + std::to_string(page));
      std::uint64_t v = 0;
      std::memcpy(&v, p, value_bytes);
      p += value_bytes;
      if (v > mask) malformed("RLE value wider than its bit width in page " + std::to_string(page));
      const std::uint64_t run = header >> 1;
      const std::size_t take = run < count - done ? static_cast<std::size_t>(run) : count - done;
      std::fill(out + done, out + done + take, static_cast<std::uint32_t>(v));
      done += take;
    }
  }
}

// Definition levels of a page's n slots: nullptr when every slot holds a value, else one
// byte per slot (1: value, 0: null) in scratch; `present` counts the values.
const std::uint8_t* definition_levels(const std::uint8_t* p, const std::uint8_t* end,
                                      std::size_t n, std::size_t& present, std::size_t page) {
  // The usual page without nulls: one RLE run of 1s covering every slot.
  std::uint64_t header = 0;
  const std::uint8_t* q = p;
  if (read_varint(q, end, header) && (header & 1U) == 0 && (header >> 1) >= n && q != end &&
      *q == 1) {
    present = n;
    return nullptr;
  }
  Scratch& s = scratch();
  s.indices.resize(n);
  decode_hybrid(p, end, 1, n, s.indices.data(), page);
  present = static_cast<std::size_t>(
      std::count(s.indices.begin(), s.indices.end(), std::uint32_t{1}));
  if (present == n) return nullptr;
  s.defined.resize(n);
  for (std::size_t i = 0; i < n; ++i) s.defined[i] = static_cast<std::uint8_t>(s.indices[i]);
  return s.defined.data();
}

// ---- the page loop -----------------------------------------------------------------------

// Sink: what a column's values become. dictionary() takes the dictionary page, plain() a
// page of PLAIN values, indices() a page's dictionary indices (one per present value);
// `defined` is nullptr when no slot of the page is null.
template <class Sink>
void read_pages(const ColumnChunk& c, Sink& sink) {
  if (c.num_values < 0) throw std::invalid_argument("num_values must not be negative");
  if (c.max_definition_level < 0) throw std::invalid_argument("negative definition level");
  if (c.max_definition_level > 1) throw Unsupported("nested or repeated columns");
  if (!codec_available(c.codec)) {
    throw Unsupported("pages compressed with codec " + std::to_string(static_cast<int>(c.codec)));
  }
  if (c.data == nullptr && c.size > 0) throw std::invalid_argument("no column chunk bytes");
  const auto rows = static_cast<std::size_t>(c.num_values);
  std::size_t pos = 0, row = 0, page = 0;
  bool have_dictionary = false;
  while (row < rows) {
    if (pos >= c.size) {
      malformed("chunk ends after " + std::to_string(row) + " of " + std::to_string(rows) +
                " values");
    }
    CompactReader r(c.data + pos, c.data + c.size);
    const PageHeader h = read_page_header(r);
    pos += r.consumed();
    const auto compressed = static_cast<std::size_t>(h.compressed);
    if (compressed > c.size - pos) {
      malformed("page " + std::to_string(page) + " runs past the end of the chunk" +
                at_byte(pos));
    }
    const std::uint8_t* payload = c.data + pos;
    pos += compressed;
    const auto uncompressed = static_cast<std::size_t>(h.uncompressed);
    if (h.type == kIndexPage) {
      ++page;
      continue;
    }
    if (h.type != kDataPage && h.type != kDictionaryPage && h.type != kDataPageV2) {
      malformed("unknown page type " + std::to_string(h.type) + " (page " +
                std::to_string(page) + ")");
    }
    if (!h.has_header) malformed("page " + std::to_string(page) + " lacks its header struct");
    if (h.num_values < 0) malformed("negative value count in page " + std::to_string(page));
    const auto n = static_cast<std::size_t>(h.num_values);

    if (h.type == kDictionaryPage) {
      if (have_dictionary) malformed("second dictionary page (page " + std::to_string(page) + ")");
      if (h.encoding != kPlain && h.encoding != kPlainDictionary) {
        throw Unsupported("dictionary page encoding " + std::to_string(h.encoding));
      }
      const std::uint8_t* body = decompress(c.codec, payload, compressed, uncompressed, page);
      sink.dictionary(body, uncompressed, n, page);
      have_dictionary = true;
      ++page;
      continue;
    }

    if (n > rows - row) {
      malformed("page " + std::to_string(page) + " holds more values than the chunk");
    }
    const std::uint8_t* levels = nullptr;  // definition levels, RLE/bit-packed
    const std::uint8_t* levels_end = nullptr;
    const std::uint8_t* values = nullptr;
    const std::uint8_t* values_end = nullptr;
    if (h.type == kDataPage) {
      const std::uint8_t* body = decompress(c.codec, payload, compressed, uncompressed, page);
      const std::uint8_t* end = body + uncompressed;
      values = body;
      if (c.max_definition_level > 0) {
        if (h.def_encoding != kRle) {
          throw Unsupported("definition level encoding " + std::to_string(h.def_encoding));
        }
        std::uint32_t len = 0;
        if (uncompressed < 4) malformed("page " + std::to_string(page) + " lacks its levels");
        std::memcpy(&len, body, 4);
        if (len > uncompressed - 4) {
          malformed("definition levels run past page " + std::to_string(page));
        }
        levels = body + 4;
        levels_end = levels + len;
        values = levels_end;
      }
      values_end = end;
    } else {  // data page v2: levels first and never compressed
      if (h.rep_bytes != 0) malformed("repetition levels in a flat column's page");
      if (h.def_bytes < 0 || static_cast<std::size_t>(h.def_bytes) > compressed ||
          static_cast<std::size_t>(h.def_bytes) > uncompressed) {
        malformed("definition levels' length out of range in page " + std::to_string(page));
      }
      const auto def_bytes = static_cast<std::size_t>(h.def_bytes);
      if (c.max_definition_level == 0 && def_bytes != 0) {
        malformed("definition levels in a required column's page");
      }
      levels = payload;
      levels_end = payload + def_bytes;
      const std::size_t in = compressed - def_bytes;
      const std::size_t out = uncompressed - def_bytes;
      values = decompress(h.is_compressed ? c.codec : Codec::uncompressed, payload + def_bytes,
                          in, out, page);
      values_end = values + out;
    }

    std::size_t present = n;
    const std::uint8_t* defined =
        levels == nullptr ? nullptr : definition_levels(levels, levels_end, n, present, page);
    if (h.encoding == kPlain) {
      sink.plain(values, static_cast<std::size_t>(values_end - values), row, n, defined, present,
                 page);
    } else if (h.encoding == kPlainDictionary || h.encoding == kRleDictionary) {
      if (!have_dictionary) {
        malformed("dictionary indices without a dictionary page (page " + std::to_string(page) +
                  ")");
      }
      std::vector<std::uint32_t>& idx = scratch().indices;
      idx.resize(present);
      if (present > 0) {
        if (values == values_end) malformed("page " + std::to_string(page) + " lacks indices");
        const int width = values[0];
        if (width > 32) malformed("index bit width " + std::to_string(width));
        decode_hybrid(values + 1, values_end, width, present, idx.data(), page);
      }
      sink.indices(idx.data(), row, n, defined, present, page);
    } else {
      throw Unsupported("value encoding " + std::to_string(h.encoding));
    }
    row += n;
    ++page;
  }
}

// Refuses a page whose dictionary indices reach past the dictionary's `size` entries.
void check_indices(const std::uint32_t* idx, std::size_t present, std::size_t size,
                   std::size_t page) {
  std::uint32_t worst = 0;
  for (std::size_t j = 0; j < present; ++j) worst = std::max(worst, idx[j]);
  if (present > 0 && worst >= size) {
    malformed("dictionary index " + std::to_string(worst) + " past the dictionary's " +
              std::to_string(size) + " entries in page " + std::to_string(page));
  }
}

// Fixed-width numbers: T as stored, Out as written.
template <class T, class Out>
struct NumberSink {
  Out* out;
  Out null_value;
  std::int64_t first_null = -1;
  std::vector<Out> dict;

  void dictionary(const std::uint8_t* p, std::size_t len, std::size_t n, std::size_t page) {
    if (n > len / sizeof(T)) malformed("dictionary page " + std::to_string(page) + " is short");
    dict.resize(n);
    for (std::size_t i = 0; i < n; ++i) dict[i] = load(p + i * sizeof(T));
  }

  void plain(const std::uint8_t* p, std::size_t len, std::size_t row, std::size_t n,
             const std::uint8_t* defined, std::size_t present, std::size_t page) {
    if (present > len / sizeof(T)) {
      malformed("page " + std::to_string(page) + " holds fewer values than its levels say");
    }
    if (defined == nullptr) {
      if constexpr (std::is_same_v<T, Out>) {
        std::memcpy(out + row, p, n * sizeof(T));
      } else {
        for (std::size_t i = 0; i < n; ++i) out[row + i] = load(p + i * sizeof(T));
      }
      return;
    }
    std::size_t j = 0;
    for (std::size_t i = 0; i < n; ++i) {
      if (defined[i] != 0) {
        out[row + i] = load(p + (j++) * sizeof(T));
      } else {
        null_at(row + i);
      }
    }
  }

  void indices(const std::uint32_t* idx, std::size_t row, std::size_t n,
               const std::uint8_t* defined, std::size_t present, std::size_t page) {
    check_indices(idx, present, dict.size(), page);
    if (defined == nullptr) {
      for (std::size_t i = 0; i < n; ++i) out[row + i] = dict[idx[i]];
      return;
    }
    std::size_t j = 0;
    for (std::size_t i = 0; i < n; ++i) {
      if (defined[i] != 0) {
        out[row + i] = dict[idx[j++]];
      } else {
        null_at(row + i);
      }
    }
  }

 private:
  static Out load(const std::uint8_t* p) {
    T v;
    std::memcpy(&v, p, sizeof(T));
    return static_cast<Out>(v);
  }
  void null_at(std::size_t row) {
    out[row] = null_value;
    if (first_null < 0) first_null = static_cast<std::int64_t>(row);
  }
};

struct DictionaryIndexSink {
  std::int32_t* out;
  std::vector<std::string> dict;

  void dictionary(const std::uint8_t* p, std::size_t len, std::size_t n, std::size_t page) {
    if (n > len / 4) malformed("dictionary page " + std::to_string(page) + " is short");
    if (n > kMaxKeys) throw Unsupported("a dictionary of " + std::to_string(n) + " keys");
    std::size_t at = 0;
    for (std::size_t i = 0; i < n; ++i) {
      std::uint32_t size = 0;
      if (len - at < 4) malformed("dictionary page " + std::to_string(page) + " is short");
      std::memcpy(&size, p + at, 4);
      at += 4;
      if (size > len - at) malformed("dictionary page " + std::to_string(page) + " is short");
      dict.emplace_back(reinterpret_cast<const char*>(p + at), size);
      at += size;
    }
  }

  void plain(const std::uint8_t*, std::size_t, std::size_t, std::size_t, const std::uint8_t*,
             std::size_t, std::size_t) {
    throw Unsupported("plain values in a dictionary column");
  }

  void indices(const std::uint32_t* idx, std::size_t row, std::size_t n,
               const std::uint8_t* defined, std::size_t present, std::size_t page) {
    check_indices(idx, present, dict.size(), page);
    std::size_t j = 0;
    for (std::size_t i = 0; i < n; ++i) {
      out[row + i] =
          defined == nullptr || defined[i] != 0 ? static_cast<std::int32_t>(idx[j++]) : -1;
    }
  }
};

}  // namespace

bool codec_available(Codec codec) noexcept {
  switch (codec) {
    case Codec::uncompressed:
      return true;
#ifdef PERFSTATS_HAVE_SNAPPY
    case Codec::snappy:
      return true;
#endif
#ifdef PERFSTATS_HAVE_ZSTD
    case Codec::zstd:
      return true;
#endif
    default:
      return false;
  }
}

std::int64_t read_int64(const ColumnChunk& chunk, std::int64_t* out) {
  if (chunk.type != PhysicalType::int64) throw std::invalid_argument("not an INT64 column");
  NumberSink<std::int64_t, std::int64_t> sink{out, 0, -1, {}};
  read_pages(chunk, sink);
  return sink.first_null < 0 ? chunk.num_values : sink.first_null;
}

void read_double(const ColumnChunk& chunk, double* out) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  if (chunk.type == PhysicalType::float64) {
    NumberSink<double, double> sink{out, nan, -1, {}};
    read_pages(chunk, sink);
  } else if (chunk.type == PhysicalType::float32) {
    NumberSink<float, double> sink{out, nan, -1, {}};
    read_pages(chunk, sink);
  } else {
    throw std::invalid_argument("not a FLOAT or DOUBLE column");
  }
}

std::vector<std::string> read_dictionary_indices(const ColumnChunk& chunk, std::int32_t* out) {
  if (chunk.type != PhysicalType::byte_array) throw std::invalid_argument("not a BYTE_ARRAY column");
  DictionaryIndexSink sink{out, {}};
  read_pages(chunk, sink);
  return std::move(sink.dict);
}

}  // namespace perfstats::parquet
