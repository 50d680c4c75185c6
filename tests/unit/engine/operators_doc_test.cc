// OPERATORS.md is generated from the op table: this test fails when the
// committed page and the table differ, so the page cannot drift. With
// Q8_UPDATE_OPERATORS_DOC=1 it rewrites the page instead.
#include "engine/ops/operators_doc.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "engine/ops/op_table.h"

namespace q8::engine {
namespace {

TEST(OperatorsDocTest, CommittedPageMatchesTheOpTable) {
  const std::string path = std::string(Q8_SOURCE_DIR) + "/OPERATORS.md";
  const std::string generated = SupportedOperatorsMarkdown();
  const char* update = std::getenv("Q8_UPDATE_OPERATORS_DOC");
  if (update != nullptr && std::string(update) == "1") {
    std::ofstream(path, std::ios::trunc) << generated;
  }
  std::ifstream in(path);
  ASSERT_TRUE(in.good()) << "cannot read " << path;
  std::stringstream committed;
  committed << in.rdbuf();
  EXPECT_EQ(committed.str(), generated)
      << path << " is out of date; regenerate it with Q8_UPDATE_OPERATORS_DOC=1 (see its header)";
}

TEST(OperatorsDocTest, ListsEveryOpOnce) {
  const std::string md = SupportedOperatorsMarkdown();
  for (const std::string& op : SupportedOps()) {
    const std::string row = "| " + op + " |";
    const size_t at = md.find(row);
    ASSERT_NE(at, std::string::npos) << op;
    EXPECT_EQ(md.find(row, at + 1), std::string::npos) << op << " listed twice";
  }
  for (const std::string& op : ConstantOnlyOps()) EXPECT_NE(md.find("| " + op + " |"), std::string::npos) << op;
  EXPECT_NE(md.find("| Conv | 2-3 | 1 | FP32 | channels-last (NHWC) |"), std::string::npos) << md;
}

}  // namespace
}  // namespace q8::engine
