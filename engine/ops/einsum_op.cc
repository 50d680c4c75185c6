// Einsum: the equation is parsed once per lowering into labels (letters, and
// one label per axis an ellipsis stands for, aligned from the right). A
// batched matmul equation ("bij,bjk->bik", "...ij,...jk->...ik", "ij,jk->ik")
// becomes oneDNN's matmul with a runtime B; every other equation (diagonals,
// sums, transposes, inner and outer products) runs the general plain C++
// EinsumOp, so no equation is refused for its form.
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "core/checked_math.h"
#include "core/status_macros.h"
#include "engine/ops/op_impls.h"

namespace q8::engine::ops {
namespace {

struct Parsed {
  kernels::EinsumOp op;
  core::Dims out;
  int ellipsis_rank = 0;  // axes an ellipsis stands for (the largest over the inputs)
};

// One term's axes as labels; '.' marks where the ellipsis goes (kEllipsis).
constexpr int kEllipsis = -1;

absl::StatusOr<std::vector<int>> Term(const OpContext& ctx, const std::string& term, std::map<char, int>* letters) {
  std::vector<int> out;
  bool ellipsis = false;
  for (size_t i = 0; i < term.size(); ++i) {
    const char c = term[i];
    if (c == '.') {
      if (ellipsis || term.compare(i, 3, "...") != 0) return ctx.Error(absl::StrCat("bad ellipsis in '", term, "'"));
      ellipsis = true;
      out.push_back(kEllipsis);
      i += 2;
    } else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
      letters->try_emplace(c, static_cast<int>(letters->size()));
      out.push_back(letters->at(c));
    } else {
      return ctx.Error(absl::StrCat("unexpected '", std::string(1, c), "' in equation term '", term, "'"));
    }
  }
  return out;
}

absl::StatusOr<Parsed> Parse(const OpContext& ctx) {
  Q8_ASSIGN_OR_RETURN(std::string equation, ctx.node.attrs.GetString("equation", ""));
  std::string eq;
  for (char c : equation) {
    if (c != ' ') eq.push_back(c);
  }
  const size_t arrow = eq.find("->");
  const std::vector<std::string> terms = absl::StrSplit(eq.substr(0, arrow), ',');
  if (terms.size() != ctx.node.inputs.size()) {
    return ctx.Error(absl::StrCat("equation '", equation, "' has ", terms.size(), " input terms for ",
                                  ctx.node.inputs.size(), " inputs"));
  }
  std::map<char, int> letters;
  std::vector<std::vector<int>> in_terms;
  for (const std::string& t : terms) {
    Q8_ASSIGN_OR_RETURN(std::vector<int> labels, Term(ctx, t, &letters));
    in_terms.push_back(std::move(labels));
  }
  std::vector<int> out_term;
  bool implicit_output = arrow == std::string::npos;
  if (!implicit_output) {
    Q8_ASSIGN_OR_RETURN(out_term, Term(ctx, eq.substr(arrow + 2), &letters));
  }
  Parsed p;
  // Ellipsis axes: labels after the letters, aligned from the right.
  const int num_letters = static_cast<int>(letters.size());
  std::vector<int64_t> extents(num_letters, -1);
  for (size_t k = 0; k < in_terms.size(); ++k) {
    const core::Dims& d = ctx.input_dims[k];
    int explicit_axes = 0;
    for (int l : in_terms[k]) explicit_axes += l != kEllipsis;
    const int ell = static_cast<int>(d.size()) - explicit_axes;
    const bool has_ellipsis = in_terms[k].size() != static_cast<size_t>(explicit_axes);
    if (ell < 0 || (ell > 0 && !has_ellipsis)) {
      return ctx.Error(
          absl::StrCat("input ", k, " of shape ", core::DimsToString(d), " does not match term '", terms[k], "'"));
    }
    p.ellipsis_rank = std::max(p.ellipsis_rank, ell);
  }
  extents.resize(num_letters + p.ellipsis_rank, 1);
  auto agree = [&](int label, int64_t extent, bool broadcastable) -> absl::Status {
    int64_t& e = extents[label];
    if (e < 0 || (broadcastable && e == 1)) {
      e = extent;
    } else if (e != extent && !(broadcastable && extent == 1)) {
      return ctx.Error(absl::StrCat("equation '", equation, "': a label has extents ", e, " and ", extent));
    }
    return absl::OkStatus();
  };
  for (size_t k = 0; k < in_terms.size(); ++k) {
    const core::Dims& d = ctx.input_dims[k];
    std::vector<int> labels;
    size_t axis = 0;
    for (int l : in_terms[k]) {
      if (l != kEllipsis) {
        Q8_RETURN_IF_ERROR(agree(l, d[axis++], false));
        labels.push_back(l);
        continue;
      }
      const int ell = static_cast<int>(d.size() + 1 - in_terms[k].size());
      for (int e = 0; e < ell; ++e) {
        const int label = num_letters + p.ellipsis_rank - ell + e;
        Q8_RETURN_IF_ERROR(agree(label, d[axis++], true));
        labels.push_back(label);
      }
    }
    p.op.inputs.push_back(std::move(labels));
  }
  if (implicit_output) {
    // Ellipsis axes, then the letters used once, in alphabetical order.
    if (p.ellipsis_rank > 0) out_term.push_back(kEllipsis);
    std::map<int, int> uses;
    for (const auto& t : in_terms) {
      for (int l : t) uses[l] += l != kEllipsis;
    }
    for (const auto& [c, l] : letters) {
      if (uses[l] == 1) out_term.push_back(l);
    }
  }
  for (int l : out_term) {
    if (l != kEllipsis) {
      if (extents[l] < 0) return ctx.Error(absl::StrCat("equation '", equation, "': an output label is no input's"));
      p.op.output.push_back(l);
      continue;
    }
    for (int e = 0; e < p.ellipsis_rank; ++e) p.op.output.push_back(num_letters + e);
  }
  for (int64_t& e : extents) e = e < 0 ? 1 : e;
  p.op.extents = extents;
  for (int l : p.op.output) p.out.push_back(extents[l]);
  std::optional<int64_t> work = 1;
  for (int64_t e : extents) work = work ? core::CheckedMul(*work, e) : std::nullopt;
  if (!work) return ctx.Error(absl::StrCat("equation '", equation, "': the iteration space overflows"));
  return p;
}

// "B..ij,B..jk->B..ik" with the same batch labels and extents on both inputs.
bool IsBatchedMatMul(const kernels::EinsumOp& op) {
  if (op.inputs.size() != 2) return false;
  const std::vector<int>& a = op.inputs[0];
  const std::vector<int>& b = op.inputs[1];
  const std::vector<int>& y = op.output;
  const size_t r = a.size();
  if (r < 2 || b.size() != r || y.size() != r) return false;
  for (size_t i = 0; i + 2 < r; ++i) {
    if (a[i] != b[i] || a[i] != y[i]) return false;
  }
  const int i = a[r - 2], j = a[r - 1], k = b[r - 1];
  if (b[r - 2] != j || y[r - 2] != i || y[r - 1] != k || i == j || j == k || i == k) return false;
  // No label twice within an input (a diagonal is not a matmul).
  std::vector<int> seen(op.extents.size(), 0);
  for (int l : a) {
    if (seen[l]++ > 0) return false;
  }
  return true;
}

}  // namespace

absl::StatusOr<std::vector<core::Dims>> InferEinsum(const OpContext& ctx) {
  Q8_ASSIGN_OR_RETURN(Parsed p, Parse(ctx));
  return std::vector<core::Dims>{p.out};
}

absl::StatusOr<Lowering> LowerEinsum(const OpContext& ctx) {
  Q8_ASSIGN_OR_RETURN(Parsed p, Parse(ctx));
  Lowering l;
  for (int i = 0; i < ctx.num_inputs(); ++i) {
    if (ctx.constant(i) != nullptr) {
      return ctx.Unsupported("a constant operand (constant Einsum operands are folded only when all are)");
    }
    l.runtime_inputs.push_back(i);
  }
  bool same_dims = ctx.num_inputs() == 2;
  for (size_t d = 0; same_dims && d + 2 < ctx.input_dims[0].size(); ++d) {
    same_dims = ctx.input_dims[0][d] == ctx.input_dims[1][d];
  }
  if (same_dims && IsBatchedMatMul(p.op)) {
    l.params = kernels::MatMulParams{};  // B is input 1
    return l;
  }
  kernels::DataOpParams data;
  data.op.emplace<kernels::ValueOp>(std::in_place_type<kernels::EinsumOp>, std::move(p.op));
  data.operands.assign(ctx.num_inputs(), nullptr);
  l.params = std::move(data);
  return l;
}

}  // namespace q8::engine::ops
