// Helpers for the int8 kernels tests: byte buffers for u8/s8/f32 values,
// quantization (round-half-even, saturating), per-channel weight
// quantization, byte-level Program runs, and integer-accumulating reference
// conv / matmul followed by the requantization math the kernels promise:
//   real = acc * s_x * s_w[c] + bias[c] (+ s_r * residual), activations,
//   then q = saturate(round_half_even(real / s_y)) for int8 outputs.
#pragma once

#include <cstdint>
#include <cstring>
#include <vector>

#include "absl/status/statusor.h"
#include "gtest/gtest.h"
#include "kernels/program.h"
#include "tests/unit/kernels/test_util.h"

namespace q8::kernels::testing {

using Bytes = std::vector<uint8_t>;
using DT = core::DataType;

template <typename T>
Bytes ToBytes(const std::vector<T>& v) {
  Bytes b(v.size() * sizeof(T));
  if (!b.empty()) std::memcpy(b.data(), v.data(), b.size());
  return b;
}

// Element values of a u8 / s8 / f32 buffer, as doubles.
std::vector<double> Values(const Bytes& b, DT dtype);
// Bytes of `values` stored as dtype (values must already be representable).
Bytes Store(const std::vector<double>& values, DT dtype);

// saturate(round_half_even(v)) into dtype's range; f32 passes through.
double RoundSat(double v, DT dtype);

// A quantized tensor: integer values (as int32) plus their dtype and scale.
struct QTensor {
  core::Dims dims;
  std::vector<int32_t> q;
  DT dtype = DT::kUInt8;
  float scale = 1.0f;
  Bytes bytes() const;
};
// Uniform random integers over dtype's range (s8: [-127, 127]).
QTensor RandomQ(core::Dims dims, DT dtype, float scale, uint32_t seed);

// Symmetric s8 quantization of float weights with one scale per index of
// `axis` (0: conv OC of [OC, ...]; 1: matmul N of [K, N]).
struct QWeights {
  core::Dims dims;
  std::vector<int32_t> q;
  std::vector<float> scales;
  QuantizedWeights params() const;  // values as an s8 tensor + scales
};
QWeights QuantizeWeights(const RefTensor& w, int axis);

// Integer reference accumulators. Conv: x NCHW, w [OC, C/g, KH, KW] ->
// [N, OC, OH, OW]; MatMul: a [M, K] (leading dims flattened), b [K, N].
std::vector<int64_t> ConvAcc(const QTensor& x, const QWeights& w, const ConvParams& p, core::Dims* out_dims);
std::vector<int64_t> MatMulAcc(const QTensor& a, const QWeights& b, int64_t* rows);

// Real values from accumulators: acc * s_x * s_w[c] * alpha + bias[c], where
// c is index `channel_axis` of `dims`.
std::vector<double> Dequantize(const std::vector<int64_t>& acc, const core::Dims& dims, int channel_axis, float s_x,
                               const std::vector<float>& s_w, const std::vector<float>& bias, float alpha = 1.0f);
void Activate(const std::vector<Activation>& ops, std::vector<double>& v);
// real -> expected output elements (int8: rounded, saturated q; f32: real).
std::vector<double> ToOutput(const std::vector<double>& real, DT dtype, float scale);
// A dst scale that makes `real` span ~`fill` of dtype's range (so some
// values saturate when fill > 1).
float ScaleFor(const std::vector<double>& real, DT dtype, double fill = 1.0);

// int8 outputs: |got - ref| <= 1 (one quantization step); f32 outputs:
// |got - ref| <= 1e-4 * (1 + |ref|) + extra[i] (extra may be empty).
::testing::AssertionResult Near(const std::vector<double>& got, const std::vector<double>& ref, DT dtype,
                                const std::vector<double>& extra = {});

// Builds (fresh or given cache), runs once with byte buffers.
absl::StatusOr<std::vector<Bytes>> RunBytes(const ProgramSpec& spec, const std::vector<Bytes>& inputs,
                                            WeightCache* cache = nullptr);
absl::StatusOr<std::vector<Bytes>> RunProgram(const Program& program, const ProgramSpec& spec,
                                              const std::vector<Bytes>& inputs);
// True when oneDNN's int8 dot products are exact on this CPU (VNNI / AMX).
// Before VNNI, u8*s8 pairs saturate in int16 and s8-src weights are halved
// (onednn-2.6-int8.md §6), so the 1-step accuracy tests only hold on
// VNNI/AMX hosts, the ones q8serve serves int8 on; elsewhere they skip.
bool ExactInt8Isa();
#define Q8_SKIP_UNLESS_EXACT_INT8()            \
  if (!::q8::kernels::testing::ExactInt8Isa()) \
  GTEST_SKIP() << "q8-skip: ISA " << ::q8::kernels::CpuIsa() << " has no VNNI: int8 is not exact here"

absl::Status BuildStatus(const ProgramSpec& spec);  // Program::Create only

}  // namespace q8::kernels::testing
