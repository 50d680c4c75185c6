// q8bench output: the human table (stdout), CSV and JSON of a RunResult.
// CSV has one row per level with a header line; JSON holds the run and the
// levels. Column/field names are the same in both.
#pragma once

#include <string>

#include "client/q8bench/runner.h"

namespace q8::bench {

std::string FormatTable(const RunResult& run);
std::string FormatCsv(const RunResult& run);
std::string FormatJson(const RunResult& run);

}  // namespace q8::bench
