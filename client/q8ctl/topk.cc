// Top-k selection, softmax and formatting (see topk.h).
#include "client/q8ctl/topk.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace q8::client {
namespace {

// Ranking key: NaN below every number, including -inf.
bool Better(float a, int64_t ia, float b, int64_t ib) {
  const bool a_nan = std::isnan(a);
  const bool b_nan = std::isnan(b);
  if (a_nan != b_nan) return b_nan;
  if (!a_nan && a != b) return a > b;
  return ia < ib;
}

}  // namespace

std::vector<float> Softmax(absl::Span<const float> row) {
  std::vector<float> out(row.size(), 0.0f);
  float max_value = -std::numeric_limits<float>::infinity();
  bool any_number = false;
  for (float v : row) {
    if (std::isnan(v)) continue;
    any_number = true;
    max_value = std::max(max_value, v);
  }
  if (!any_number) {
    std::fill(out.begin(), out.end(), std::numeric_limits<float>::quiet_NaN());
    return out;
  }
  double sum = 0;
  for (size_t i = 0; i < row.size(); ++i) {
    if (std::isnan(row[i])) continue;
    // An infinite max would give inf - inf: the entries equal to it share the mass.
    const double shifted = !std::isinf(max_value) ? double{row[i]} - max_value
                           : row[i] == max_value   ? 0.0
                                                   : -std::numeric_limits<double>::infinity();
    const double e = std::exp(shifted);
    out[i] = static_cast<float>(e);
    sum += e;
  }
  for (float& v : out) v = static_cast<float>(v / sum);
  return out;
}

std::vector<ClassScore> TopK(absl::Span<const float> row, int k) {
  const size_t n = std::min<size_t>(row.size(), static_cast<size_t>(std::max(k, 0)));
  std::vector<int64_t> order(row.size());
  std::iota(order.begin(), order.end(), 0);
  std::partial_sort(order.begin(), order.begin() + n, order.end(),
                    [&row](int64_t a, int64_t b) { return Better(row[a], a, row[b], b); });
  const std::vector<float> probabilities = Softmax(row);
  std::vector<ClassScore> out;
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    const int64_t index = order[i];
    out.push_back({index, row[index], probabilities[index]});
  }
  return out;
}

bool IsClassScores(const core::TensorView& tensor) {
  return tensor.dims.size() == 2 && tensor.dims[1] > 0 &&
         (tensor.dtype == core::DataType::kFloat32 || tensor.dtype == core::DataType::kFloat64);
}

absl::StatusOr<std::string> FormatTopK(const core::TensorView& tensor, int k) {
  if (!IsClassScores(tensor)) {
    return absl::InvalidArgumentError("top-k needs a 2-D FP32/FP64 [batch, classes] tensor");
  }
  const int64_t rows = tensor.dims[0];
  const int64_t classes = tensor.dims[1];
  std::vector<float> row(static_cast<size_t>(classes));
  std::string out;
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < classes; ++c) {
      const int64_t i = r * classes + c;
      row[c] = tensor.dtype == core::DataType::kFloat32 ? static_cast<const float*>(tensor.data)[i]
                                                          : static_cast<float>(static_cast<const double*>(tensor.data)[i]);
    }
    const std::vector<ClassScore> top = TopK(row, k);
    absl::StrAppend(&out, "row ", r, ": top-", top.size(), " of ", classes, " classes\n");
    absl::StrAppend(&out, absl::StrFormat("  %4s  %8s  %12s  %9s\n", "rank", "class", "score", "softmax"));
    for (size_t i = 0; i < top.size(); ++i) {
      absl::StrAppend(&out, absl::StrFormat("  %4d  %8d  %12.6g  %9.6f\n", i + 1, top[i].index, top[i].score,
                                            top[i].probability));
    }
  }
  return out;
}

}  // namespace q8::client
