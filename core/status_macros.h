// Error-propagation macros: the only two q8serve uses. Debian 12's Abseil
// (20220623) ships no RETURN_IF_ERROR / ASSIGN_OR_RETURN, so we define ours once.
#pragma once

#include "absl/status/status.h"
#include "absl/status/statusor.h"

// Returns from the enclosing function if `expr` (an absl::Status) is not OK.
#define Q8_RETURN_IF_ERROR(expr)                 \
  do {                                           \
    ::absl::Status q8_status_ = (expr);          \
    if (!q8_status_.ok()) return q8_status_;     \
  } while (0)

#define Q8_CONCAT_INNER_(a, b) a##b
#define Q8_CONCAT_(a, b) Q8_CONCAT_INNER_(a, b)

// `lhs` = value of `rexpr` (an absl::StatusOr<T>), or return its error.
// `lhs` may be a declaration: Q8_ASSIGN_OR_RETURN(auto x, MakeX());
#define Q8_ASSIGN_OR_RETURN(lhs, rexpr) \
  Q8_ASSIGN_OR_RETURN_IMPL_(Q8_CONCAT_(q8_statusor_, __LINE__), lhs, rexpr)

#define Q8_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, rexpr) \
  auto tmp = (rexpr);                              \
  if (!tmp.ok()) return tmp.status();              \
  lhs = std::move(tmp).value()
