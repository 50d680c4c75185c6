// ZIP directory parsing and bounded extraction (see zip_reader.h). Layout
// references: PKWARE APPNOTE sections 4.3.7 (local header), 4.3.12 (central
// directory header), 4.3.14-16 (zip64 end of central directory and locator),
// 4.5.3 (zip64 extra field).
#include "core/zip_reader.h"

#include <zlib.h>

#include <algorithm>
#include <limits>

#include "absl/strings/str_cat.h"
#include "core/checked_math.h"
#include "core/quote.h"

namespace q8::core {
namespace {

constexpr uint32_t kLocalSig = 0x04034b50;
constexpr uint32_t kCentralSig = 0x02014b50;
constexpr uint32_t kEndSig = 0x06054b50;
constexpr uint32_t kZip64EndSig = 0x06064b50;
constexpr uint32_t kZip64LocatorSig = 0x07064b50;
constexpr int64_t kEndSize = 22, kCentralSize = 46, kLocalSize = 30, kLocatorSize = 20, kZip64EndSize = 56;
constexpr uint32_t kMax32 = 0xffffffffu;
constexpr uint16_t kMax16 = 0xffffu;

absl::Status Bad(absl::string_view what) { return absl::InvalidArgumentError(absl::StrCat("zip archive: ", what)); }

// Little-endian reads at an offset already checked to be in range.
uint64_t Le(absl::string_view b, int64_t at, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; ++i) v |= uint64_t{static_cast<unsigned char>(b[at + i])} << (8 * i);
  return v;
}

// [at, at + n) lies inside a buffer of `size` bytes (no overflow).
bool InRange(int64_t size, int64_t at, int64_t n) { return at >= 0 && n >= 0 && at <= size && n <= size - at; }

// Values of the fixed header fields that were 0xFFFFFFFF, replaced from the
// zip64 extra field (id 1), which lists only those, in this order.
absl::Status ApplyZip64Extra(absl::string_view extra, uint64_t* uncompressed, uint64_t* compressed, uint64_t* offset) {
  int64_t at = 0;
  const int64_t size = static_cast<int64_t>(extra.size());
  while (InRange(size, at, 4)) {
    const uint64_t id = Le(extra, at, 2), len = Le(extra, at + 2, 2);
    if (!InRange(size, at + 4, static_cast<int64_t>(len))) return Bad("extra field overruns its header");
    if (id == 1) {
      int64_t p = at + 4;
      for (uint64_t* field : {uncompressed, compressed, offset}) {
        if (field == nullptr || *field != kMax32) continue;
        if (p + 8 > at + 4 + static_cast<int64_t>(len)) return Bad("zip64 extra field is too short");
        *field = Le(extra, p, 8);
        p += 8;
      }
      return absl::OkStatus();
    }
    at += 4 + static_cast<int64_t>(len);
  }
  return absl::OkStatus();
}

// Offset and entry count of the central directory, from the end records.
struct Directory {
  uint64_t entries = 0, size = 0, offset = 0;
};

absl::StatusOr<Directory> FindDirectory(absl::string_view b) {
  const int64_t n = static_cast<int64_t>(b.size());
  if (n < kEndSize) return Bad("too short to be a zip archive (no end of central directory)");
  // The end record is last, followed only by a comment of at most 64 KiB.
  int64_t end = -1;
  for (int64_t at = n - kEndSize; at >= 0 && at >= n - kEndSize - kMax16; --at) {
    if (Le(b, at, 4) == kEndSig && at + kEndSize + static_cast<int64_t>(Le(b, at + 20, 2)) == n) {
      end = at;
      break;
    }
  }
  if (end < 0) return Bad("no end of central directory record (not a .npz/.zip file?)");
  if (Le(b, end + 4, 2) != 0 || Le(b, end + 6, 2) != 0) return Bad("multi-disk archives are not supported");
  Directory d{Le(b, end + 10, 2), Le(b, end + 12, 4), Le(b, end + 16, 4)};
  if (d.entries == kMax16 || d.size == kMax32 || d.offset == kMax32) {
    const int64_t loc = end - kLocatorSize;
    if (loc < 0 || Le(b, loc, 4) != kZip64LocatorSig) return Bad("zip64 end of central directory locator missing");
    const uint64_t at = Le(b, loc + 8, 8);
    if (at > static_cast<uint64_t>(n) || !InRange(n, static_cast<int64_t>(at), kZip64EndSize) ||
        Le(b, static_cast<int64_t>(at), 4) != kZip64EndSig) {
      return Bad("zip64 end of central directory record missing or out of range");
    }
    d = Directory{Le(b, static_cast<int64_t>(at) + 32, 8), Le(b, static_cast<int64_t>(at) + 40, 8),
                  Le(b, static_cast<int64_t>(at) + 48, 8)};
  }
  if (d.offset > static_cast<uint64_t>(n) || d.size > static_cast<uint64_t>(n) ||
      !InRange(n, static_cast<int64_t>(d.offset), static_cast<int64_t>(d.size))) {
    return Bad("central directory lies outside the file");
  }
  return d;
}

}  // namespace

absl::StatusOr<ZipReader> ZipReader::Open(absl::string_view bytes, const ZipLimits& limits) {
  ZipReader r;
  r.bytes_ = bytes;
  const int64_t n = static_cast<int64_t>(bytes.size());
  auto dir = FindDirectory(bytes);
  if (!dir.ok()) return dir.status();
  if (dir->entries > static_cast<uint64_t>(limits.max_entries)) {
    return Bad(absl::StrCat("archive lists ", dir->entries, " entries, more than the limit of ", limits.max_entries));
  }
  int64_t at = static_cast<int64_t>(dir->offset);
  const int64_t dir_end = at + static_cast<int64_t>(dir->size);
  int64_t total = 0;
  for (uint64_t i = 0; i < dir->entries; ++i) {
    if (!InRange(dir_end, at, kCentralSize) || Le(bytes, at, 4) != kCentralSig) {
      return Bad(absl::StrCat("central directory entry ", i, " is truncated or malformed"));
    }
    const uint64_t flags = Le(bytes, at + 8, 2);
    ZipEntry e;
    e.method = static_cast<uint16_t>(Le(bytes, at + 10, 2));
    e.crc32 = static_cast<uint32_t>(Le(bytes, at + 16, 4));
    uint64_t compressed = Le(bytes, at + 20, 4), uncompressed = Le(bytes, at + 24, 4);
    const int64_t name_len = static_cast<int64_t>(Le(bytes, at + 28, 2));
    const int64_t extra_len = static_cast<int64_t>(Le(bytes, at + 30, 2));
    const int64_t comment_len = static_cast<int64_t>(Le(bytes, at + 32, 2));
    uint64_t local = Le(bytes, at + 42, 4);
    const int64_t record = kCentralSize + name_len + extra_len + comment_len;
    if (!InRange(dir_end, at, record)) return Bad(absl::StrCat("central directory entry ", i, " is truncated"));
    e.name = std::string(bytes.substr(at + kCentralSize, name_len));
    const std::string entry = absl::StrCat("entry '", Quote(e.name), "'");
    auto extra =
        ApplyZip64Extra(bytes.substr(at + kCentralSize + name_len, extra_len), &uncompressed, &compressed, &local);
    if (!extra.ok()) return Bad(absl::StrCat(entry, ": ", extra.message()));
    at += record;
    if (flags & 1) return Bad(absl::StrCat(entry, " is encrypted"));
    if (e.method != 0 && e.method != 8) {
      return Bad(
          absl::StrCat(entry, " uses compression method ", e.method, " (only stored and deflate are supported)"));
    }
    // Sizes checked before any arithmetic: each fits the file (compressed) or
    // the caller's total (uncompressed), so the sums below cannot overflow.
    const auto max_total = static_cast<uint64_t>(limits.max_total_bytes);
    if (compressed > static_cast<uint64_t>(n) || local > static_cast<uint64_t>(n) || uncompressed > max_total) {
      return Bad(
          absl::StrCat(entry, " declares sizes beyond the archive or the limit of ", limits.max_total_bytes, " bytes"));
    }
    e.compressed_size = static_cast<int64_t>(compressed);
    e.uncompressed_size = static_cast<int64_t>(uncompressed);
    if (e.method == 0 && e.compressed_size != e.uncompressed_size) {
      return Bad(absl::StrCat(entry, " is stored but its sizes differ"));
    }
    total += e.uncompressed_size;
    if (total > limits.max_total_bytes) {
      return Bad(absl::StrCat("entries hold more than the limit of ", limits.max_total_bytes, " bytes uncompressed"));
    }
    // The local header repeats the name; its own extra field length decides
    // where the data starts.
    const int64_t lh = static_cast<int64_t>(local);
    if (!InRange(n, lh, kLocalSize) || Le(bytes, lh, 4) != kLocalSig) {
      return Bad(absl::StrCat(entry, ": local header is missing or out of range"));
    }
    const int64_t data =
        lh + kLocalSize + static_cast<int64_t>(Le(bytes, lh + 26, 2)) + static_cast<int64_t>(Le(bytes, lh + 28, 2));
    if (!InRange(n, data, e.compressed_size)) return Bad(absl::StrCat(entry, ": data runs past the end of the file"));
    e.data_offset = data;
    r.entries_.push_back(std::move(e));
  }
  return r;
}

absl::StatusOr<std::string> ZipReader::Extract(const ZipEntry& e) const {
  const std::string entry = absl::StrCat("zip archive: entry '", Quote(e.name), "'");
  absl::string_view in = bytes_.substr(e.data_offset, e.compressed_size);
  std::string out;
  if (e.method == 0) {
    out = std::string(in);
  } else {
    // The output buffer is the declared size and inflate never writes past
    // it: a stream that would produce more is refused, not followed.
    out.resize(e.uncompressed_size);
    z_stream z{};
    if (inflateInit2(&z, -MAX_WBITS) != Z_OK) return absl::InternalError("zlib inflateInit2 failed");
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    z.next_out = reinterpret_cast<Bytef*>(out.data());
    int rc = Z_OK;
    int64_t in_left = e.compressed_size, out_left = e.uncompressed_size;
    // zlib counts in uInt: feed both buffers in chunks that fit.
    constexpr int64_t kChunk = std::numeric_limits<uInt>::max();
    while (rc == Z_OK) {
      if (z.avail_in == 0 && in_left > 0) {
        z.avail_in = static_cast<uInt>(std::min(in_left, kChunk));
        in_left -= z.avail_in;
      }
      if (z.avail_out == 0 && out_left > 0) {
        z.avail_out = static_cast<uInt>(std::min(out_left, kChunk));
        out_left -= z.avail_out;
      }
      const uInt before_in = z.avail_in, before_out = z.avail_out;
      rc = inflate(&z, Z_NO_FLUSH);
      if (rc == Z_BUF_ERROR || (rc == Z_OK && z.avail_in == before_in && z.avail_out == before_out)) break;
    }
    const int64_t produced = static_cast<int64_t>(z.total_out);
    inflateEnd(&z);
    if (rc != Z_STREAM_END) {
      return absl::InvalidArgumentError(absl::StrCat(
          entry, ": deflate data is corrupt, truncated or inflates past its declared ", e.uncompressed_size, " bytes"));
    }
    if (produced != e.uncompressed_size) {
      return absl::InvalidArgumentError(
          absl::StrCat(entry, ": inflates to ", produced, " bytes, declared ", e.uncompressed_size));
    }
  }
  const uLong crc = crc32_z(0L, reinterpret_cast<const Bytef*>(out.data()), out.size());
  if (static_cast<uint32_t>(crc) != e.crc32) return absl::InvalidArgumentError(absl::StrCat(entry, ": CRC mismatch"));
  return out;
}

namespace {

void PutLe(std::string& out, uint64_t v, int n) {
  for (int i = 0; i < n; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

}  // namespace

std::string WriteStoredZip(const std::vector<std::pair<std::string, std::string>>& files) {
  std::string out, dir;
  for (const auto& file : files) {
    const std::string& name = file.first;
    const std::string& data = file.second;
    const uint64_t offset = out.size();
    const uint32_t crc = static_cast<uint32_t>(crc32_z(0L, reinterpret_cast<const Bytef*>(data.data()), data.size()));
    auto header = [&](std::string& s, bool central) {
      PutLe(s, central ? kCentralSig : kLocalSig, 4);
      if (central) PutLe(s, 20, 2);  // version made by
      PutLe(s, 20, 2);               // version needed
      PutLe(s, 0, 2);                // flags
      PutLe(s, 0, 2);                // method: stored
      PutLe(s, 0, 4);                // time, date
      PutLe(s, crc, 4);
      PutLe(s, data.size(), 4);
      PutLe(s, data.size(), 4);
      PutLe(s, name.size(), 2);
      PutLe(s, 0, 2);  // extra
      if (central) {
        PutLe(s, 0, 2);  // comment
        PutLe(s, 0, 2);  // disk
        PutLe(s, 0, 2);  // internal attributes
        PutLe(s, 0, 4);  // external attributes
        PutLe(s, offset, 4);
      }
      s += name;
    };
    header(out, false);
    out += data;
    header(dir, true);
  }
  const uint64_t dir_offset = out.size();
  out += dir;
  PutLe(out, kEndSig, 4);
  PutLe(out, 0, 4);  // disk numbers
  PutLe(out, files.size(), 2);
  PutLe(out, files.size(), 2);
  PutLe(out, dir.size(), 4);
  PutLe(out, dir_offset, 4);
  PutLe(out, 0, 2);  // comment
  return out;
}

}  // namespace q8::core
