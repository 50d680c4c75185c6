// Owns the gather/scatter copies of dynamic batching.
#include "server/execution/batch_assembler.h"

#include <cstring>

namespace q8::server {
namespace {

int64_t RowBytes(const core::Dims& dims, core::DataType dtype) {
  int64_t n = core::SizeOf(dtype);
  for (size_t d = 1; d < dims.size(); ++d) n *= dims[d];
  return n;
}

}  // namespace

void BatchAssembler::Allocate() {
  const int64_t max_batch = model_.max_batch_size();
  for (const engine::TensorInfo& in : model_.inputs()) {
    input_staging_.emplace_back(in.dtype, core::WithBatch(in.dims, max_batch));
    input_row_bytes_.push_back(RowBytes(in.dims, in.dtype));
    input_views_.push_back(input_staging_.back().view());
  }
  const std::vector<core::Dims> out_dims = model_.OutputDims(max_batch);
  for (size_t i = 0; i < out_dims.size(); ++i) {
    output_staging_.emplace_back(model_.outputs()[i].dtype, out_dims[i]);
    output_row_bytes_.push_back(RowBytes(out_dims[i], model_.outputs()[i].dtype));
    output_views_.push_back(output_staging_.back().mutable_view());
  }
}

void BatchAssembler::Gather(absl::Span<const ExecutionRequest* const> requests) {
  if (input_staging_.empty() && output_staging_.empty()) Allocate();
  int64_t total = 0;
  for (const ExecutionRequest* r : requests) {
    for (size_t i = 0; i < input_views_.size(); ++i) {
      std::memcpy(static_cast<char*>(input_staging_[i].data()) + total * input_row_bytes_[i], r->inputs[i].data,
                  static_cast<size_t>(r->batch * input_row_bytes_[i]));
    }
    total += r->batch;
  }
  // Views keep their dims vectors; only the batch dimension changes.
  for (core::TensorView& v : input_views_) v.dims[0] = total;
  for (core::MutableTensorView& v : output_views_) v.dims[0] = total;
}

void BatchAssembler::Scatter(absl::Span<const ExecutionRequest* const> requests) const {
  int64_t row = 0;
  for (const ExecutionRequest* r : requests) {
    for (size_t i = 0; i < output_views_.size(); ++i) {
      std::memcpy(r->outputs[i].data, static_cast<const char*>(output_staging_[i].data()) + row * output_row_bytes_[i],
                  static_cast<size_t>(r->batch * output_row_bytes_[i]));
    }
    row += r->batch;
  }
}

}  // namespace q8::server
