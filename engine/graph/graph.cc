// Graph editing, validation and Kahn topological sort.
#include "engine/graph/graph.h"

#include <deque>
#include <set>

#include "absl/strings/str_cat.h"
#include "core/quote.h"

namespace q8::engine {

std::string Node::Describe() const {
  return absl::StrCat("node '", core::Quote(name), "' (", core::Quote(op_type), ")");
}

ValueId Graph::AddValue(Value v) {
  values_.push_back(std::move(v));
  return static_cast<ValueId>(values_.size() - 1);
}

ValueId Graph::AddConstant(std::string name, std::shared_ptr<const core::Tensor> t) {
  Value v;
  v.name = std::move(name);
  v.dtype = t->dtype();
  v.constant = std::move(t);
  return AddValue(std::move(v));
}

int Graph::AddNode(Node n) {
  const int index = static_cast<int>(nodes_.size());
  for (ValueId out : n.outputs) {
    if (out != kNoValue) values_[out].producer = index;
  }
  n.attrs.set_owner(n.Describe());
  nodes_.push_back(std::move(n));
  return index;
}

bool Graph::IsGraphOutput(ValueId id) const {
  for (const GraphOutput& o : outputs_) {
    if (o.value == id) return true;
  }
  return false;
}

std::vector<int> Graph::Consumers(ValueId id) const {
  std::vector<int> result;
  for (size_t i = 0; i < nodes_.size(); ++i) {
    if (nodes_[i].removed) continue;
    for (ValueId in : nodes_[i].inputs) {
      if (in == id) {
        result.push_back(static_cast<int>(i));
        break;
      }
    }
  }
  return result;
}

void Graph::ReplaceAllUses(ValueId from, ValueId to) {
  for (Node& n : nodes_) {
    if (n.removed) continue;
    for (ValueId& in : n.inputs) {
      if (in == from) in = to;
    }
  }
  for (GraphOutput& o : outputs_) {
    if (o.value == from) o.value = to;
  }
}

void Graph::Compact() {
  std::vector<Node> kept;
  for (Node& n : nodes_) {
    if (!n.removed) kept.push_back(std::move(n));
  }
  nodes_ = std::move(kept);
  for (Value& v : values_) v.producer = -1;
  for (size_t i = 0; i < nodes_.size(); ++i) {
    for (ValueId out : nodes_[i].outputs) {
      if (out != kNoValue) values_[out].producer = static_cast<int>(i);
    }
  }
}

int Graph::num_live_nodes() const {
  int n = 0;
  for (const Node& node : nodes_) n += node.removed ? 0 : 1;
  return n;
}

absl::Status Graph::Validate() const {
  std::vector<bool> defined(values_.size(), false);
  for (const GraphInput& in : inputs_) defined[in.value] = true;
  for (size_t v = 0; v < values_.size(); ++v) {
    if (values_[v].constant) defined[v] = true;
  }
  for (const Node& n : nodes_) {
    if (n.removed) continue;
    for (ValueId in : n.inputs) {
      if (in == kNoValue) continue;
      if (!defined[in]) {
        return absl::InvalidArgumentError(absl::StrCat(n.Describe(), " reads '", core::Quote(values_[in].name),
                                                       "', which no earlier node, initializer or graph "
                                                       "input defines"));
      }
    }
    for (ValueId out : n.outputs) {
      if (out == kNoValue) continue;
      if (defined[out]) {
        return absl::InvalidArgumentError(
            absl::StrCat(n.Describe(), " writes '", core::Quote(values_[out].name), "', which is already defined"));
      }
      defined[out] = true;
    }
  }
  for (const GraphOutput& o : outputs_) {
    if (!defined[o.value]) {
      return absl::InvalidArgumentError(absl::StrCat("graph output '", core::Quote(o.name), "' is never produced"));
    }
  }
  return absl::OkStatus();
}

absl::Status Graph::SortTopologically() {
  // Kahn's algorithm over live nodes, keeping the original order among ready nodes.
  const int n = static_cast<int>(nodes_.size());
  std::vector<int> producer_of(values_.size(), -1);
  for (int i = 0; i < n; ++i) {
    for (ValueId out : nodes_[i].outputs) {
      if (out == kNoValue) continue;
      if (producer_of[out] != -1) {
        return absl::InvalidArgumentError(absl::StrCat(nodes_[i].Describe(), " writes '",
                                                       core::Quote(values_[out].name), "', which ",
                                                       nodes_[producer_of[out]].Describe(), " also writes"));
      }
      producer_of[out] = i;
    }
  }
  std::vector<int> pending(n, 0);
  std::vector<std::vector<int>> users(n);
  for (int i = 0; i < n; ++i) {
    for (ValueId in : nodes_[i].inputs) {
      if (in == kNoValue || producer_of[in] == -1) continue;
      ++pending[i];
      users[producer_of[in]].push_back(i);
    }
  }
  std::deque<int> ready;
  for (int i = 0; i < n; ++i) {
    if (pending[i] == 0) ready.push_back(i);
  }
  std::vector<int> order;
  while (!ready.empty()) {
    int i = ready.front();
    ready.pop_front();
    order.push_back(i);
    for (int u : users[i]) {
      if (--pending[u] == 0) ready.push_back(u);
    }
  }
  if (static_cast<int>(order.size()) != n) {
    for (int i = 0; i < n; ++i) {
      if (pending[i] > 0) {
        return absl::InvalidArgumentError(absl::StrCat("the graph has a cycle through ", nodes_[i].Describe()));
      }
    }
  }
  std::vector<Node> sorted;
  sorted.reserve(n);
  for (int i : order) sorted.push_back(std::move(nodes_[i]));
  nodes_ = std::move(sorted);
  Compact();
  return absl::OkStatus();
}

Graph Graph::WithoutLargeConstants(int64_t min_bytes) const {
  Graph copy = *this;
  for (Value& v : copy.values_) {
    if (v.constant && v.constant->dtype() == core::DataType::kFloat32 && v.constant->byte_size() >= min_bytes) {
      v.constant = std::make_shared<core::Tensor>(core::Tensor::Placeholder(v.constant->dtype(), v.constant->dims()));
    }
  }
  return copy;
}

int64_t Graph::ConstantBytes() const {
  std::set<const core::Tensor*> seen;
  int64_t bytes = 0;
  for (const Value& v : values_) {
    if (v.constant && v.constant->has_storage() && seen.insert(v.constant.get()).second)
      bytes += v.constant->byte_size();
  }
  return bytes;
}

}  // namespace q8::engine
