// Typed access to ONNX node attributes. Every error message names the node,
// the attribute and the expected vs actual type, so a bad upload can be fixed
// from the message alone.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "core/tensor.h"

namespace q8::engine {

using AttrValue = std::variant<int64_t, float, std::string, std::vector<int64_t>, std::vector<float>,
                               std::vector<std::string>, std::shared_ptr<const core::Tensor>>;

class Attributes {
 public:
  // `owner` is how messages refer to the node, e.g. "node 'conv1' (Conv)".
  void set_owner(std::string owner) { owner_ = std::move(owner); }
  void Set(const std::string& name, AttrValue value) { values_[name] = std::move(value); }
  bool Has(const std::string& name) const { return values_.count(name) > 0; }
  const std::map<std::string, AttrValue>& all() const { return values_; }

  absl::StatusOr<int64_t> GetInt(const std::string& name, int64_t fallback) const;
  absl::StatusOr<float> GetFloat(const std::string& name, float fallback) const;
  absl::StatusOr<std::string> GetString(const std::string& name, std::string fallback) const;
  absl::StatusOr<std::vector<int64_t>> GetInts(const std::string& name,
                                               std::vector<int64_t> fallback) const;
  absl::StatusOr<std::vector<float>> GetFloats(const std::string& name) const;
  absl::StatusOr<std::shared_ptr<const core::Tensor>> GetTensor(const std::string& name) const;

 private:
  template <typename T>
  absl::StatusOr<T> Get(const std::string& name, const char* type_name) const;

  std::string owner_;
  std::map<std::string, AttrValue> values_;
};

}  // namespace q8::engine
