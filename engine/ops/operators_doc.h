// The "Supported operators" page (OPERATORS.md), generated from the op table
// so it cannot drift: tests/unit/engine/operators_doc_test.cc compares the
// committed file with this text.
#pragma once

#include <string>

namespace q8::engine {

std::string SupportedOperatorsMarkdown();

}  // namespace q8::engine
