// ONNX LSTM / GRU / RNN parameters -> the layouts RnnParams documents
// (oneDNN's gate order, ldigo weights, summed biases, i f o peepholes), as
// plain loops over f32 buffers. One definition for both paths: the engine
// converts constant parameters once at load, the RNN kernel converts the ones
// a request sends per Run into its scratchpad.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/kernel_params.h"

namespace q8::kernels {

// oneDNN gate k reads ONNX gate RnnGateOrder(cell)[k] (LSTM i f c o <- ONNX
// i o f c; GRU u r o = ONNX z r h; vanilla: one gate).
const std::vector<int>& RnnGateOrder(RnnParams::Cell cell);

// Sizes of one layer: directions, input size, hidden size.
struct RnnShape {
  RnnParams::Cell cell = RnnParams::Cell::kLstm;
  int64_t d = 1, in = 0, h = 0;
  int64_t gates() const { return static_cast<int64_t>(RnnGateOrder(cell).size()); }
  // oneDNN's linear-before-reset GRU keeps the recurrent candidate bias apart.
  int64_t bias_gates() const { return cell == RnnParams::Cell::kLbrGru ? gates() + 1 : gates(); }
};

// ONNX W [D, G*H, K] or R (K = H) -> [D, K, G, H]; `k` is the inner size.
void OnnxWeightsToLdigo(const RnnShape& s, int64_t k, const float* onnx, float* out);
// ONNX B [D, 2*G*H] (null: no bias, zeros) -> [D, bias_gates, H].
void OnnxBiasToDnnl(const RnnShape& s, const float* onnx, float* out);
// ONNX P [D, 3H] in i o f order -> [D, 3, H] in i f o order.
void OnnxPeepholeToDnnl(const RnnShape& s, const float* onnx, float* out);

}  // namespace q8::kernels
