// Plain C++ reference implementations of the ops kernels/ builds on oneDNN,
// written for clarity, not speed: every tensor is dense row-major (NCHW for
// 4-D), every loop is spelled out. Tests compare Program outputs to these.
#pragma once

#include <cstdint>
#include <vector>

#include "core/shape.h"
#include "kernels/kernel_params.h"

namespace q8::kernels::testing {

struct RefTensor {
  core::Dims dims;
  std::vector<float> data;
};

float Activate(const Activation& a, float x);
void ApplyActivations(const std::vector<Activation>& ops, RefTensor& t);

// x [N,C,H,W], w [OC,C/g,KH,KW], bias [OC] or empty; ONNX dilations (1 = dense).
RefTensor Conv2d(const RefTensor& x, const RefTensor& w, const std::vector<float>& bias, const ConvParams& p);

// ONNX MatMul with broadcasting of the leading dims (ranks >= 2), then
// alpha * AB + bias[N].
RefTensor MatMul(const RefTensor& a, const RefTensor& b, float alpha, const std::vector<float>& bias);

RefTensor Pool2d(const RefTensor& x, const PoolParams& p);

// in1 broadcast to in0 (left-padded with 1s).
RefTensor Binary(const RefTensor& in0, const RefTensor& in1, BinaryParams::Kind kind);

RefTensor Softmax(const RefTensor& x, int axis);
RefTensor Concat(const std::vector<RefTensor>& xs, int axis);
RefTensor BatchNorm(const RefTensor& x, const std::vector<float>& scale, const std::vector<float>& bias,
                    const std::vector<float>& mean, const std::vector<float>& var, float eps);
// Per (sample, channel) statistics over the spatial axes of x [N, C, ...].
RefTensor InstanceNorm(const RefTensor& x, const std::vector<float>& scale, const std::vector<float>& bias, float eps);
RefTensor Transpose(const RefTensor& x, const std::vector<int64_t>& perm);

}  // namespace q8::kernels::testing
