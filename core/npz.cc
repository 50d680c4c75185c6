// .npz = ZIP of .npy entries (see npz.h).
#include "core/npz.h"

#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "core/npy.h"
#include "core/quote.h"

namespace q8::core {

absl::StatusOr<std::vector<NamedTensor>> ParseNpz(absl::string_view bytes, const ZipLimits& limits) {
  auto zip = ZipReader::Open(bytes, limits);
  if (!zip.ok()) return zip.status();
  std::vector<NamedTensor> out;
  std::set<std::string> seen;
  for (const ZipEntry& e : zip->entries()) {
    absl::string_view key = e.name;
    if (!absl::ConsumeSuffix(&key, ".npy") || key.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(".npz entry '", Quote(e.name), "' is not a .npy array (numpy.savez names entries <key>.npy)"));
    }
    if (!seen.insert(std::string(key)).second) {
      return absl::InvalidArgumentError(absl::StrCat(".npz key '", Quote(key), "' is given twice"));
    }
    auto raw = zip->Extract(e);
    if (!raw.ok()) return raw.status();
    auto tensor = ParseNpy(*raw);
    if (!tensor.ok()) {
      return absl::Status(tensor.status().code(),
                          absl::StrCat(".npz key '", Quote(key), "': ", tensor.status().message()));
    }
    out.push_back({std::string(key), *std::move(tensor)});
  }
  if (out.empty()) return absl::InvalidArgumentError(".npz archive holds no arrays");
  return out;
}

std::string SerializeNpz(const std::vector<std::pair<std::string, TensorView>>& tensors) {
  std::vector<std::pair<std::string, std::string>> files;
  for (const auto& [name, view] : tensors) files.push_back({absl::StrCat(name, ".npy"), SerializeNpy(view)});
  return WriteStoredZip(files);
}

}  // namespace q8::core
