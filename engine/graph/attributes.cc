// Attribute accessors: one template does the lookup and the type check.
#include "engine/graph/attributes.h"

#include "absl/strings/str_cat.h"

namespace q8::engine {
namespace {

constexpr const char* kTypeNames[] = {"INT", "FLOAT", "STRING", "INTS", "FLOATS", "STRINGS", "TENSOR"};

}  // namespace

template <typename T>
absl::StatusOr<T> Attributes::Get(const std::string& name, const char* type_name) const {
  auto it = values_.find(name);
  if (it == values_.end()) {
    return absl::NotFoundError(absl::StrCat(owner_, " has no attribute '", name, "'"));
  }
  if (const T* v = std::get_if<T>(&it->second)) return *v;
  return absl::InvalidArgumentError(absl::StrCat("attribute '", name, "' of ", owner_, " has type ",
                                                 kTypeNames[it->second.index()], ", expected ",
                                                 type_name));
}

absl::StatusOr<int64_t> Attributes::GetInt(const std::string& name, int64_t fallback) const {
  if (!Has(name)) return fallback;
  return Get<int64_t>(name, "INT");
}

absl::StatusOr<float> Attributes::GetFloat(const std::string& name, float fallback) const {
  if (!Has(name)) return fallback;
  return Get<float>(name, "FLOAT");
}

absl::StatusOr<std::string> Attributes::GetString(const std::string& name, std::string fallback) const {
  if (!Has(name)) return fallback;
  return Get<std::string>(name, "STRING");
}

absl::StatusOr<std::vector<int64_t>> Attributes::GetInts(const std::string& name,
                                                         std::vector<int64_t> fallback) const {
  if (!Has(name)) return fallback;
  return Get<std::vector<int64_t>>(name, "INTS");
}

absl::StatusOr<std::vector<float>> Attributes::GetFloats(const std::string& name) const {
  return Get<std::vector<float>>(name, "FLOATS");
}

absl::StatusOr<std::shared_ptr<const core::Tensor>> Attributes::GetTensor(const std::string& name) const {
  return Get<std::shared_ptr<const core::Tensor>>(name, "TENSOR");
}

}  // namespace q8::engine
