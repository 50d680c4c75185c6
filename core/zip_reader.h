// ZipReader: the subset of the ZIP container that numpy.savez and
// numpy.savez_compressed write (stored and deflate entries, zip64 sizes), read
// from hostile bytes. The central directory is the only index trusted for
// where entries are; every offset and size is checked against the buffer and
// the caller's limits before anything is read or allocated, and inflation
// stops at the entry's declared size (a zip bomb cannot grow past it).
// Encrypted entries, multi-disk archives and other compression methods are
// refused with INVALID_ARGUMENT naming the entry.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace q8::core {

struct ZipLimits {
  int64_t max_entries = 256;
  // Sum of the declared uncompressed sizes of all entries (what Extract may
  // allocate in total).
  int64_t max_total_bytes = int64_t{1} << 30;
};

struct ZipEntry {
  std::string name;
  uint16_t method = 0;  // 0 stored, 8 deflate
  uint32_t crc32 = 0;
  int64_t compressed_size = 0;
  int64_t uncompressed_size = 0;
  int64_t data_offset = 0;  // of the (compressed) data in the archive
};

class ZipReader {
 public:
  // Parses the directory of `bytes` (which must outlive the reader).
  static absl::StatusOr<ZipReader> Open(absl::string_view bytes, const ZipLimits& limits = {});

  const std::vector<ZipEntry>& entries() const { return entries_; }
  // The entry's uncompressed bytes, CRC-checked.
  absl::StatusOr<std::string> Extract(const ZipEntry& entry) const;

 private:
  absl::string_view bytes_;
  std::vector<ZipEntry> entries_;
};

// For tests and tools: an archive of stored (uncompressed) entries, zip64
// fields only where sizes need them (never for small files).
std::string WriteStoredZip(const std::vector<std::pair<std::string, std::string>>& files);

}  // namespace q8::core
