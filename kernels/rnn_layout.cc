// Owns the ONNX -> oneDNN conversions of recurrent parameters (rnn_layout.h).
#include "kernels/rnn_layout.h"

#include <array>

namespace q8::kernels {

const std::vector<int>& RnnGateOrder(RnnParams::Cell cell) {
  static const std::vector<int> kLstm = {0, 2, 3, 1}, kGru = {0, 1, 2}, kVanilla = {0};
  switch (cell) {
    case RnnParams::Cell::kLstm:
      return kLstm;
    case RnnParams::Cell::kGru:
    case RnnParams::Cell::kLbrGru:
      return kGru;
    case RnnParams::Cell::kVanilla:
      break;
  }
  return kVanilla;
}

void OnnxWeightsToLdigo(const RnnShape& s, int64_t k_n, const float* onnx, float* out) {
  const std::vector<int>& order = RnnGateOrder(s.cell);
  const int64_t gates = s.gates(), h_n = s.h;
  for (int64_t d = 0; d < s.d; ++d) {
    for (int64_t k = 0; k < k_n; ++k) {
      for (int64_t gate = 0; gate < gates; ++gate) {
        const float* from = onnx + (d * gates * h_n + order[gate] * h_n) * k_n + k;
        float* to = out + ((d * k_n + k) * gates + gate) * h_n;
        for (int64_t h = 0; h < h_n; ++h) to[h] = from[h * k_n];
      }
    }
  }
}

void OnnxBiasToDnnl(const RnnShape& s, const float* onnx, float* out) {
  const std::vector<int>& order = RnnGateOrder(s.cell);
  const int64_t gates = s.gates(), out_gates = s.bias_gates(), h_n = s.h;
  const bool lbr = s.cell == RnnParams::Cell::kLbrGru;
  for (int64_t d = 0; d < s.d; ++d) {
    float* to = out + d * out_gates * h_n;
    if (onnx == nullptr) {
      for (int64_t i = 0; i < out_gates * h_n; ++i) to[i] = 0.0f;
      continue;
    }
    const float* wb = onnx + d * 2 * gates * h_n;
    const float* rb = wb + gates * h_n;
    for (int64_t gate = 0; gate < gates; ++gate) {
      const int64_t og = order[gate];
      const bool keep_apart = lbr && gate == 2;  // oneDNN adds Rb_h inside r * (...)
      for (int64_t h = 0; h < h_n; ++h) {
        to[gate * h_n + h] = wb[og * h_n + h] + (keep_apart ? 0.0f : rb[og * h_n + h]);
      }
    }
    if (lbr) {
      for (int64_t h = 0; h < h_n; ++h) to[gates * h_n + h] = rb[2 * h_n + h];
    }
  }
}

void OnnxPeepholeToDnnl(const RnnShape& s, const float* onnx, float* out) {
  constexpr std::array<int64_t, 3> kOrder = {0, 2, 1};
  for (int64_t d = 0; d < s.d; ++d) {
    for (int64_t k = 0; k < 3; ++k) {
      for (int64_t h = 0; h < s.h; ++h) out[(d * 3 + k) * s.h + h] = onnx[(d * 3 + kOrder[k]) * s.h + h];
    }
  }
}

}  // namespace q8::kernels
