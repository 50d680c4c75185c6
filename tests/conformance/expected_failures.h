// The expected-failures list of the conformance test: which ONNX conformance
// cases q8serve does not pass yet, each with its reason. The list may only
// shrink: a case that fails without being listed fails the test, and so does
// a listed case that passes (remove it). File format, one case per line:
//   <suite>/<case> <reason>
// '#' lines and blank lines are comments; the generated file groups cases by
// the shape of their reason (names and numbers stripped) under a '#' header.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace q8::testing {

using ExpectedFailures = std::map<std::string, std::string>;  // case -> reason

struct CaseResult {
  std::string name;  // "<suite>/<case>"
  bool passed = false;
  std::string message;  // why it failed (empty when it passed)
};

// INVALID_ARGUMENT naming the line for a line without a reason or a case listed twice.
absl::StatusOr<ExpectedFailures> ParseExpectedFailures(absl::string_view text);
std::string FormatExpectedFailures(const ExpectedFailures& failures);

// The message with quoted names, numbers and shapes stripped: cases failing
// for the same reason share it ("node '…' (Sub): op Sub is not supported").
std::string ReasonGroup(absl::string_view message);
// A failure message as one file line's reason (one line, bounded length).
std::string ReasonLine(absl::string_view message);

struct Verdict {
  int total = 0, passed = 0, listed_failing = 0;
  std::vector<std::string> unexpected_failures;  // "<case>: <message>"
  std::vector<std::string> unexpected_passes;    // listed, yet passed
  std::vector<std::string> stale;                // listed, not a case at all (only when every case ran)
  bool ok() const { return unexpected_failures.empty() && unexpected_passes.empty() && stale.empty(); }
};
// `all_ran` says whether `results` covers every case (no filter), which is
// when listed names that match no case are reported as stale.
Verdict Judge(const std::vector<CaseResult>& results, const ExpectedFailures& listed, bool all_ran);

// The list after this run: results' failures (with their current messages)
// replace results' cases; listed cases that did not run are kept.
ExpectedFailures Updated(const ExpectedFailures& listed, const std::vector<CaseResult>& results);

}  // namespace q8::testing
