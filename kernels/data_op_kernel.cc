// Owns the Program step for DataOpParams: runs the plain C++ data ops of
// data_ops.h over the workspace's memories. The op is validated once here,
// against the step's value dims and constant operands, so Execute only runs.
// impl() is "q8:cpp" (not a oneDNN reference implementation).
#include "absl/strings/str_cat.h"
#include "core/status_macros.h"
#include "kernels/data_ops.h"
#include "kernels/internal/dnnl_kernel.h"
#include "kernels/internal/dnnl_utils.h"

namespace q8::kernels::internal {
namespace {

class DataOpKernel : public Kernel {
 public:
  DataOpKernel(const DataOpParams& p, std::vector<Operand> inputs, std::vector<Operand> outputs,
               std::vector<core::TensorView> views, core::MutableTensorView out_view)
      : Kernel("q8:cpp", std::move(inputs), std::move(outputs)),
        params_(p),
        views_(std::move(views)),
        out_view_(std::move(out_view)) {}

  BoundArgs Bind(absl::Span<const dnnl::memory> inputs, absl::Span<const dnnl::memory> outputs,
                 const dnnl::memory&) const override {
    BoundArgs bound;
    bound.extra.assign(inputs.begin(), inputs.end());
    bound.extra.insert(bound.extra.end(), outputs.begin(), outputs.end());
    bound.views = views_;
    bound.out_view = out_view_;
    return bound;
  }

  void Execute(dnnl::stream&, const BoundArgs& args) const override {
    size_t runtime = 0;
    for (size_t i = 0; i < params_.operands.size(); ++i) {
      if (params_.operands[i] == nullptr) args.views[i].data = args.extra[runtime++].get_data_handle();
    }
    args.out_view.data = args.extra[runtime].get_data_handle();
    const absl::Status status = RunDataOp(params_.op, args.views, args.out_view, /*validated=*/true);
    // Validated at creation: what can still fail is a value the request sent.
    if (!status.ok()) throw RequestValueError(std::string(status.message()));
  }

 private:
  DataOpParams params_;
  std::vector<core::TensorView> views_;  // constants bound, runtime data null
  core::MutableTensorView out_view_;
};

absl::Status CheckPlain(const KernelRequest& r, const ValueSpec& v) {
  if (v.layout != Layout::kPlain && !SameBytesAsPlain(v)) return Invalid(r, "data ops read and write plain layouts");
  return absl::OkStatus();
}

}  // namespace

KernelOr Create(const DataOpParams& p, const KernelRequest& r) {
  size_t runtime = 0;
  for (const ConstTensorPtr& c : p.operands) runtime += c == nullptr;
  Q8_RETURN_IF_ERROR(ExpectArity(r, runtime, 1));
  std::vector<core::TensorView> views;
  std::vector<Operand> inputs;
  float scale = 0;
  size_t next = 0;
  for (const ConstTensorPtr& c : p.operands) {
    if (c != nullptr) {
      if (!c->has_storage() && c->num_elements() > 0) return Invalid(r, "a constant operand has no data");
      views.push_back(c->view());
      continue;
    }
    const ValueSpec& v = *r.inputs[next++];
    Q8_RETURN_IF_ERROR(CheckPlain(r, v));
    if (IsInt8(v.dtype)) {
      // Bytes move unchanged, so every int8 operand and the output share one scale.
      if (!ValidScale(v.scale) || (scale != 0 && !SameScale(scale, v.scale))) {
        return Invalid(r, "int8 operands of a data op must share one scale");
      }
      scale = v.scale;
    }
    Q8_ASSIGN_OR_RETURN(dnnl::memory::desc md, DescOf(v));
    inputs.push_back({kArgNone, md});
    views.push_back({v.dtype, v.dims, nullptr});
  }
  const ValueSpec& out = *r.outputs[0];
  Q8_RETURN_IF_ERROR(CheckPlain(r, out));
  if (IsInt8(out.dtype) && scale != 0 && !SameScale(scale, out.scale)) {
    return Invalid(r, "an int8 data op keeps its input's scale");
  }
  core::MutableTensorView out_view{out.dtype, out.dims, nullptr};
  absl::Status valid = ValidateDataOp(p.op, views, out_view);
  if (!valid.ok()) return Invalid(r, valid.message());
  Q8_ASSIGN_OR_RETURN(dnnl::memory::desc out_md, DescOf(out));
  return std::make_unique<DataOpKernel>(p, std::move(inputs), std::vector<Operand>{{kArgNone, out_md}},
                                        std::move(views), std::move(out_view));
}

}  // namespace q8::kernels::internal
