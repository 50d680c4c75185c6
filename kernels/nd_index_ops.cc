// Owns GatherND and ScatterND (value_ops.h): the last axis of `indices`
// holds tuples of k coordinates, each addressing a slice of the data. Every
// tuple is checked against the data's dims before anything is written, so a
// request's indices can only yield INVALID_ARGUMENT.
#include <cstring>

#include "absl/strings/str_cat.h"
#include "kernels/internal/value_op_util.h"

namespace q8::kernels {
namespace {

using namespace value_internal;  // NOLINT: the shared value-op helpers

// What both ops walk: `groups` batch groups (GatherND's batch_dims; 1 for
// ScatterND), each with `tuples` index tuples of k coordinates addressing
// data axes [lead, lead + k); each tuple selects `inner` contiguous elements
// of its group's `slab` data elements.
struct NdWalk {
  int64_t groups = 1, tuples = 1, k = 0, inner = 1, slab = 1;
  size_t lead = 0;
};

absl::StatusOr<NdWalk> Walk(const core::Dims& data, const core::Dims& idx, int batch_dims, absl::string_view op) {
  if (data.size() > kMaxRank || idx.size() > kMaxRank) return Bad(absl::StrCat(op, ": rank above ", kMaxRank));
  if (idx.empty() || data.empty()) return Bad(absl::StrCat(op, ": data and indices need rank >= 1"));
  const size_t b = static_cast<size_t>(batch_dims);
  if (batch_dims < 0 || b >= std::min(data.size(), idx.size())) {
    return Bad(absl::StrCat(op, ": batch_dims ", batch_dims, " must be below both ranks"));
  }
  for (size_t d = 0; d < b; ++d) {
    if (data[d] != idx[d]) return Bad(absl::StrCat(op, ": the batch dims of data and indices differ"));
  }
  NdWalk w;
  w.lead = b;
  w.k = idx.back();
  if (w.k < 1 || static_cast<size_t>(w.k) > data.size() - b) {
    return Bad(absl::StrCat(op, ": the last axis of indices (", w.k, ") must be in [1, ", data.size() - b, "]"));
  }
  w.groups = Prod(data, 0, b);
  w.tuples = Prod(idx, b, idx.size() - 1);
  w.inner = Prod(data, b + w.k, data.size());
  w.slab = Prod(data, b, data.size());
  return w;
}

// Every coordinate in range (negative ones count from the end).
absl::Status CheckTuples(const NdWalk& w, const core::Dims& data, const core::TensorView& idx, absl::string_view op) {
  for (int64_t t = 0; t < w.groups * w.tuples; ++t) {
    for (int64_t j = 0; j < w.k; ++j) Q8_RETURN_IF_ERROR(IndexAt(idx, t * w.k + j, data[w.lead + j], op).status());
  }
  return absl::OkStatus();
}

// Data element where tuple t (counted over all groups) starts; tuples checked.
int64_t TupleOffset(const NdWalk& w, const core::Dims& data, const core::TensorView& idx, int64_t t,
                    absl::string_view op) {
  int64_t off = 0;
  for (int64_t j = 0; j < w.k; ++j) {
    const int64_t n = data[w.lead + j];
    off = off * n + *IndexAt(idx, t * w.k + j, n, op);
  }
  return (t / w.tuples) * w.slab + off * w.inner;
}

// indices[:-1] + data[from:]
core::Dims SliceDims(const core::Dims& idx, const core::Dims& data, size_t from) {
  core::Dims d(idx.begin(), idx.end() - 1);
  d.insert(d.end(), data.begin() + static_cast<std::ptrdiff_t>(from), data.end());
  return d;
}

}  // namespace

absl::Status Validate(const GatherNDOp& op, absl::Span<const core::TensorView> in, const core::MutableTensorView& out) {
  if (in.size() != 2) return Bad("GatherND reads data and indices");
  Q8_ASSIGN_OR_RETURN(const NdWalk w, Walk(in[0].dims, in[1].dims, op.batch_dims, "GatherND"));
  if (!Loadable(in[1].dtype)) return Bad("GatherND indices must be numeric");
  if (out.dims != SliceDims(in[1].dims, in[0].dims, w.lead + w.k) || out.dtype != in[0].dtype) {
    return Bad("GatherND output dims or type");
  }
  return absl::OkStatus();
}

absl::Status Run(const GatherNDOp& op, absl::Span<const core::TensorView> in, const core::MutableTensorView& out) {
  const core::Dims& data = in[0].dims;
  Q8_ASSIGN_OR_RETURN(const NdWalk w, Walk(data, in[1].dims, op.batch_dims, "GatherND"));
  Q8_RETURN_IF_ERROR(CheckTuples(w, data, in[1], "GatherND"));
  const int64_t e = core::SizeOf(out.dtype), bytes = w.inner * e;
  const char* src = static_cast<const char*>(in[0].data);
  char* dst = static_cast<char*>(out.data);
  for (int64_t t = 0; t < w.groups * w.tuples; ++t) {
    std::memcpy(dst + t * bytes, src + TupleOffset(w, data, in[1], t, "GatherND") * e, bytes);
  }
  return absl::OkStatus();
}

absl::Status Validate(const ScatterNDOp& op, absl::Span<const core::TensorView> in,
                      const core::MutableTensorView& out) {
  if (in.size() != 3) return Bad("ScatterND reads data, indices and updates");
  Q8_ASSIGN_OR_RETURN(const NdWalk w, Walk(in[0].dims, in[1].dims, 0, "ScatterND"));
  if (!Loadable(in[1].dtype)) return Bad("ScatterND indices must be numeric");
  if (in[2].dims != SliceDims(in[1].dims, in[0].dims, w.k)) {
    return Bad("ScatterND updates must have dims indices[:-1] + data[k:]");
  }
  if (in[2].dtype != in[0].dtype) return Bad("ScatterND data and updates differ in element type");
  if (op.reduction != ScatterReduction::kNone) Q8_RETURN_IF_ERROR(CheckF32(in[0], "ScatterND data with a reduction"));
  if (out.dims != in[0].dims || out.dtype != in[0].dtype) return Bad("ScatterND output dims or type");
  return absl::OkStatus();
}

absl::Status Run(const ScatterNDOp& op, absl::Span<const core::TensorView> in, const core::MutableTensorView& out) {
  const core::Dims& data = in[0].dims;
  Q8_ASSIGN_OR_RETURN(const NdWalk w, Walk(data, in[1].dims, 0, "ScatterND"));
  Q8_RETURN_IF_ERROR(CheckTuples(w, data, in[1], "ScatterND"));
  const int64_t e = core::SizeOf(out.dtype), bytes = w.inner * e;
  std::memcpy(out.data, in[0].data, static_cast<size_t>(out.num_elements() * e));
  char* dst = static_cast<char*>(out.data);
  const char* upd = static_cast<const char*>(in[2].data);
  for (int64_t t = 0; t < w.tuples; ++t) {
    const int64_t at = TupleOffset(w, data, in[1], t, "ScatterND");
    if (op.reduction == ScatterReduction::kNone) {
      std::memcpy(dst + at * e, upd + t * bytes, bytes);
      continue;
    }
    float* y = Out(out) + at;
    const float* u = In(in[2]) + t * w.inner;
    for (int64_t i = 0; i < w.inner; ++i) Combine(op.reduction, y[i], u[i]);
  }
  return absl::OkStatus();
}

}  // namespace q8::kernels
