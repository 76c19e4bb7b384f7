#include "perfstats/packed_rows.hpp"

#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>

namespace perfstats {

namespace {

template <class T>
void fold(std::variant<QuantileSketch, Moments, Histogram>& into, const std::uint8_t* p,
          std::size_t size) {
  std::get<T>(into).merge(T::from_bytes(p, size));
}

std::variant<QuantileSketch, Moments, Histogram> read(char kind, const std::uint8_t* p,
                                                      std::size_t size) {
  switch (kind) {
    case 's':
      return QuantileSketch::from_bytes(p, size);
    case 'm':
      return Moments::from_bytes(p, size);
    default:
      return Histogram::from_bytes(p, size);
  }
}

}  // namespace

std::vector<PackedMerge> merge_packed_rows(const std::uint8_t* data, const std::size_t* ends,
                                           const std::int64_t* groups, std::size_t n) {
  std::vector<PackedMerge> out;
  std::map<std::tuple<std::int64_t, char, std::string_view>, std::size_t> slots;
  std::size_t start = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t end = ends[i];
    const auto fail = [&](const std::string& what) {
      throw std::invalid_argument("row " + std::to_string(i) + ": " + what);
    };
    if (end < start) fail("ends before its start");
    if (groups[i] < 0) {
      start = end;
      continue;
    }
    std::size_t pos = start;
    while (pos < end) {
      if (end - pos < 2) fail("stored windows blob is truncated");
      const char kind = static_cast<char>(data[pos]);
      if (kind != 's' && kind != 'm' && kind != 'h') {
        fail(std::string("stored windows blob has an entry of unknown kind '") + kind + "'");
      }
      const std::size_t name_len = data[pos + 1];
      if (end - pos - 2 < name_len + 4) fail("stored windows blob is truncated");
      const std::string_view name(reinterpret_cast<const char*>(data + pos + 2), name_len);
      const std::uint8_t* len = data + pos + 2 + name_len;
      const std::size_t size = (std::size_t{len[0]} << 24) | (std::size_t{len[1]} << 16) |
                               (std::size_t{len[2]} << 8) | std::size_t{len[3]};
      const std::size_t payload = pos + 2 + name_len + 4;
      if (end - payload < size) fail("stored windows blob is truncated");
      try {
        const auto key = std::make_tuple(groups[i], kind, name);
        const auto found = slots.find(key);
        if (found == slots.end()) {
          slots.emplace(key, out.size());
          out.push_back(PackedMerge{groups[i], kind, std::string(name),
                                    read(kind, data + payload, size), 1});
        } else {
          PackedMerge& m = out[found->second];
          if (kind == 's') {
            fold<QuantileSketch>(m.object, data + payload, size);
          } else if (kind == 'm') {
            fold<Moments>(m.object, data + payload, size);
          } else {
            fold<Histogram>(m.object, data + payload, size);
          }
          ++m.rows;
        }
      } catch (const std::invalid_argument& e) {
        fail(std::string(1, kind) + " " + std::string(name) + ": " + e.what());
      }
      pos = payload + size;
    }
    start = end;
  }
  return out;
}

}  // namespace perfstats
