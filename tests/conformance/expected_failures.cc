// Expected-failures list: parsing, formatting, judging a run; see expected_failures.h.
#include "tests/conformance/expected_failures.h"

#include <cctype>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace q8::testing {
namespace {

constexpr size_t kMaxReasonChars = 300;
constexpr absl::string_view kHeader =
    "# ONNX conformance cases (libonnx-testdata) that q8serve does not pass yet: \"<suite>/<case> <reason>\".\n"
    "# Read by tests/conformance/conformance_test.cc: an unlisted failure fails the test, and so does a listed\n"
    "# case that passes, so this list only shrinks. Regenerate (keeping cases a filter excludes) with\n"
    "#   Q8_CONFORMANCE_UPDATE=1 [Q8_CONFORMANCE_FILTER=<regex>] build/tests/conformance/conformance_test\n"
    "# Cases are grouped by the shape of their failure message.\n";

}  // namespace

absl::StatusOr<ExpectedFailures> ParseExpectedFailures(absl::string_view text) {
  ExpectedFailures out;
  int line_no = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_no;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line[0] == '#') continue;
    const size_t space = line.find_first_of(" \t");
    const absl::string_view name = line.substr(0, space);
    const absl::string_view reason =
        space == absl::string_view::npos ? absl::string_view() : absl::StripAsciiWhitespace(line.substr(space));
    if (reason.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("line ", line_no, ": case '", name, "' has no reason"));
    }
    if (!out.emplace(std::string(name), std::string(reason)).second) {
      return absl::InvalidArgumentError(absl::StrCat("line ", line_no, ": case '", name, "' is listed twice"));
    }
  }
  return out;
}

std::string ReasonGroup(absl::string_view message) {
  std::string out;
  for (size_t i = 0; i < message.size(); ++i) {
    const char c = message[i];
    if (c == '\'') {  // quoted name, except an op type: each unsupported op is its own reason
      const size_t close = message.find('\'', i + 1);
      if (close == absl::string_view::npos) break;
      out += absl::EndsWith(out, "op ") ? std::string(message.substr(i, close + 1 - i)) : "'*'";
      i = close;
    } else if (c == '[') {  // shape
      const size_t close = message.find(']', i + 1);
      if (close == absl::string_view::npos) break;
      out += "[*]";
      i = close;
    } else if (std::isdigit(static_cast<unsigned char>(c)) &&
               (i == 0 || !std::isalnum(static_cast<unsigned char>(message[i - 1])))) {  // a number, not "q8serve"
      while (i + 1 < message.size() && (std::isdigit(static_cast<unsigned char>(message[i + 1])) ||
                                        message[i + 1] == '.' || message[i + 1] == 'e' || message[i + 1] == '-')) {
        ++i;
      }
      out += 'N';
    } else {
      out += c;
    }
  }
  return out;
}

std::string ReasonLine(absl::string_view message) {
  // The list of supported ops grows with every op added; it is no part of why a case fails.
  message = message.substr(0, message.find("; q8serve supports:"));
  std::string line(message.substr(0, kMaxReasonChars));
  for (char& c : line) {
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  }
  if (message.size() > kMaxReasonChars) line += "...";
  if (absl::StripAsciiWhitespace(line).empty()) line = "(no message)";
  return line;
}

std::string FormatExpectedFailures(const ExpectedFailures& failures) {
  std::map<std::string, std::vector<const std::pair<const std::string, std::string>*>> groups;
  for (const auto& entry : failures) groups[ReasonGroup(entry.second)].push_back(&entry);
  // Largest groups first: they are what to work on next.
  std::multimap<size_t, const std::string*, std::greater<>> by_size;
  for (const auto& [key, entries] : groups) by_size.emplace(entries.size(), &key);
  std::string out(kHeader);
  absl::StrAppend(&out, "# ", failures.size(), " cases in ", groups.size(), " groups.\n");
  for (const auto& [size, key] : by_size) {
    absl::StrAppend(&out, "\n# ", size, " x ", ReasonLine(*key), "\n");
    for (const auto* entry : groups[*key]) absl::StrAppend(&out, entry->first, " ", entry->second, "\n");
  }
  return out;
}

Verdict Judge(const std::vector<CaseResult>& results, const ExpectedFailures& listed, bool all_ran) {
  Verdict v;
  std::set<std::string> ran;
  for (const CaseResult& r : results) {
    ran.insert(r.name);
    ++v.total;
    const bool is_listed = listed.count(r.name) > 0;
    if (r.passed) {
      ++v.passed;
      if (is_listed) v.unexpected_passes.push_back(r.name);
    } else if (is_listed) {
      ++v.listed_failing;
    } else {
      v.unexpected_failures.push_back(absl::StrCat(r.name, ": ", r.message));
    }
  }
  if (all_ran) {
    for (const auto& [name, reason] : listed) {
      if (!ran.count(name)) v.stale.push_back(name);
    }
  }
  return v;
}

ExpectedFailures Updated(const ExpectedFailures& listed, const std::vector<CaseResult>& results) {
  ExpectedFailures out = listed;
  for (const CaseResult& r : results) {
    out.erase(r.name);
    if (!r.passed) out[r.name] = ReasonLine(r.message);
  }
  return out;
}

}  // namespace q8::testing
