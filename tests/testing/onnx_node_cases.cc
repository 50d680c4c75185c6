// Case selection over ONNX's node conformance suite; see onnx_node_cases.h.
#include "tests/testing/onnx_node_cases.h"

#include <dirent.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "onnx/onnx_pb.h"

namespace q8::testing {

std::string ReadFileBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> NodeCasesWhere(const std::string& node_dir,
                                        const std::function<bool(const std::string& op_type)>& keep) {
  std::vector<std::string> names;
  DIR* dir = opendir(node_dir.c_str());
  if (dir == nullptr) return names;
  while (dirent* e = readdir(dir)) {
    const std::string name = e->d_name;
    if (!absl::StartsWith(name, "test_")) continue;
    onnx::ModelProto m;
    if (!m.ParseFromString(ReadFileBytes(absl::StrCat(node_dir, "/", name, "/model.onnx")))) continue;
    bool mine = m.graph().node_size() > 0;
    for (const auto& n : m.graph().node()) mine = mine && keep(n.op_type());
    if (mine) names.push_back(name);
  }
  closedir(dir);
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace q8::testing
