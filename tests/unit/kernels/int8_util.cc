// Helpers for the int8 kernels tests (see int8_util.h).
#include "tests/unit/kernels/int8_util.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <string>

#include "core/tensor.h"

namespace q8::kernels::testing {

std::vector<double> Values(const Bytes& b, DT dtype) {
  std::vector<double> out;
  if (dtype == DT::kUInt8) {
    for (uint8_t v : b) out.push_back(v);
  } else if (dtype == DT::kInt8) {
    for (uint8_t v : b) out.push_back(static_cast<int8_t>(v));
  } else {
    std::vector<float> f(b.size() / 4);
    std::memcpy(f.data(), b.data(), f.size() * 4);
    out.assign(f.begin(), f.end());
  }
  return out;
}

Bytes Store(const std::vector<double>& values, DT dtype) {
  if (dtype == DT::kUInt8) {
    std::vector<uint8_t> v(values.begin(), values.end());
    return ToBytes(v);
  }
  if (dtype == DT::kInt8) {
    std::vector<int8_t> v;
    for (double x : values) v.push_back(static_cast<int8_t>(x));
    return ToBytes(v);
  }
  std::vector<float> v(values.begin(), values.end());
  return ToBytes(v);
}

double RoundSat(double v, DT dtype) {
  if (dtype == DT::kFloat32) return v;
  const double lo = dtype == DT::kUInt8 ? 0 : -128, hi = dtype == DT::kUInt8 ? 255 : 127;
  return std::clamp(std::nearbyint(v), lo, hi);  // default rounding mode: nearest-even
}

Bytes QTensor::bytes() const {
  std::vector<double> v(q.begin(), q.end());
  return Store(v, dtype);
}

QTensor RandomQ(core::Dims dims, DT dtype, float scale, uint32_t seed) {
  std::mt19937 gen(seed);
  std::uniform_int_distribution<int> dist(dtype == DT::kUInt8 ? 0 : -127, dtype == DT::kUInt8 ? 255 : 127);
  QTensor t{std::move(dims), {}, dtype, scale};
  t.q.resize(core::NumElements(t.dims));
  for (int32_t& v : t.q) v = dist(gen);
  return t;
}

QuantizedWeights QWeights::params() const {
  core::Tensor t(DT::kInt8, dims);
  auto span = t.span<int8_t>();
  for (size_t i = 0; i < q.size(); ++i) span[i] = static_cast<int8_t>(q[i]);
  return {std::make_shared<const core::Tensor>(std::move(t)), scales};
}

QWeights QuantizeWeights(const RefTensor& w, int axis) {
  QWeights out{w.dims, std::vector<int32_t>(w.data.size()), {}};
  const int64_t channels = w.dims[axis];
  // Element i belongs to channel (i / inner) % channels.
  int64_t inner = 1;
  for (size_t d = axis + 1; d < w.dims.size(); ++d) inner *= w.dims[d];
  std::vector<float> max_abs(channels, 0.0f);
  for (size_t i = 0; i < w.data.size(); ++i) {
    float& m = max_abs[(i / inner) % channels];
    m = std::max(m, std::fabs(w.data[i]));
  }
  for (float m : max_abs) out.scales.push_back(m > 0 ? m / 127.0f : 1.0f);
  for (size_t i = 0; i < w.data.size(); ++i) {
    out.q[i] = static_cast<int32_t>(RoundSat(w.data[i] / out.scales[(i / inner) % channels], DT::kInt8));
  }
  return out;
}

std::vector<int64_t> ConvAcc(const QTensor& x, const QWeights& w, const ConvParams& p, core::Dims* out_dims) {
  const int64_t n = x.dims[0], c = x.dims[1], h = x.dims[2], wd = x.dims[3];
  const int64_t oc = w.dims[0], kh = w.dims[2], kw = w.dims[3], g = p.groups;
  const int64_t icg = c / g, ocg = oc / g;
  const int64_t oh = (h + p.pads_begin[0] + p.pads_end[0] - ((kh - 1) * p.dilations[0] + 1)) / p.strides[0] + 1;
  const int64_t ow = (wd + p.pads_begin[1] + p.pads_end[1] - ((kw - 1) * p.dilations[1] + 1)) / p.strides[1] + 1;
  *out_dims = {n, oc, oh, ow};
  std::vector<int64_t> acc(n * oc * oh * ow, 0);
  for (int64_t b = 0; b < n; ++b)
    for (int64_t o = 0; o < oc; ++o)
      for (int64_t y = 0; y < oh; ++y)
        for (int64_t xo = 0; xo < ow; ++xo) {
          int64_t sum = 0;
          const int64_t grp = o / ocg;
          for (int64_t i = 0; i < icg; ++i)
            for (int64_t ky = 0; ky < kh; ++ky)
              for (int64_t kx = 0; kx < kw; ++kx) {
                const int64_t iy = y * p.strides[0] - p.pads_begin[0] + ky * p.dilations[0];
                const int64_t ix = xo * p.strides[1] - p.pads_begin[1] + kx * p.dilations[1];
                if (iy < 0 || iy >= h || ix < 0 || ix >= wd) continue;
                const int64_t ci = grp * icg + i;
                sum += static_cast<int64_t>(x.q[((b * c + ci) * h + iy) * wd + ix]) *
                       w.q[((o * icg + i) * kh + ky) * kw + kx];
              }
          acc[((b * oc + o) * oh + y) * ow + xo] = sum;
        }
  return acc;
}

std::vector<int64_t> MatMulAcc(const QTensor& a, const QWeights& b, int64_t* rows) {
  const int64_t k = b.dims[0], n = b.dims[1];
  *rows = static_cast<int64_t>(a.q.size()) / k;
  std::vector<int64_t> acc(*rows * n, 0);
  for (int64_t i = 0; i < *rows; ++i)
    for (int64_t j = 0; j < n; ++j) {
      int64_t sum = 0;
      for (int64_t l = 0; l < k; ++l) sum += static_cast<int64_t>(a.q[i * k + l]) * b.q[l * n + j];
      acc[i * n + j] = sum;
    }
  return acc;
}

std::vector<double> Dequantize(const std::vector<int64_t>& acc, const core::Dims& dims, int channel_axis, float s_x,
                               const std::vector<float>& s_w, const std::vector<float>& bias, float alpha) {
  int64_t inner = 1;
  for (size_t d = channel_axis + 1; d < dims.size(); ++d) inner *= dims[d];
  const int64_t channels = dims[channel_axis];
  std::vector<double> out(acc.size());
  for (size_t i = 0; i < acc.size(); ++i) {
    const int64_t c = (static_cast<int64_t>(i) / inner) % channels;
    out[i] = static_cast<double>(acc[i]) * s_x * s_w[s_w.size() == 1 ? 0 : c] * alpha + (bias.empty() ? 0.0 : bias[c]);
  }
  return out;
}

void Activate(const std::vector<Activation>& ops, std::vector<double>& v) {
  for (const Activation& a : ops) {
    for (double& x : v) {
      if (a.kind == Activation::Kind::kRelu) x = std::max(x, 0.0);
      if (a.kind == Activation::Kind::kClip) x = std::clamp(x, static_cast<double>(a.lo), static_cast<double>(a.hi));
      if (a.kind == Activation::Kind::kSigmoid) x = 1.0 / (1.0 + std::exp(-x));
      if (a.kind == Activation::Kind::kGeluErf) x = 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0)));
    }
  }
}

std::vector<double> ToOutput(const std::vector<double>& real, DT dtype, float scale) {
  std::vector<double> out;
  for (double v : real) out.push_back(dtype == DT::kFloat32 ? v : RoundSat(v / scale, dtype));
  return out;
}

float ScaleFor(const std::vector<double>& real, DT dtype, double fill) {
  double m = 0;
  for (double v : real) m = std::max(m, dtype == DT::kUInt8 ? v : std::fabs(v));
  if (m <= 0) m = 1;
  return static_cast<float>(m / fill / (dtype == DT::kUInt8 ? 255.0 : 127.0));
}

::testing::AssertionResult Near(const std::vector<double>& got, const std::vector<double>& ref, DT dtype,
                                const std::vector<double>& extra) {
  if (got.size() != ref.size()) return ::testing::AssertionFailure() << "size " << got.size() << " vs " << ref.size();
  int off_by_one = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    double tol = dtype == DT::kFloat32 ? 1e-4 * (1 + std::fabs(ref[i])) : 1.0;
    if (!extra.empty()) tol += extra[i];
    if (!(std::fabs(got[i] - ref[i]) <= tol)) {
      return ::testing::AssertionFailure()
             << "element " << i << ": got " << got[i] << ", reference " << ref[i] << " (tolerance " << tol << ")";
    }
    off_by_one += dtype != DT::kFloat32 && got[i] != ref[i];
  }
  if (dtype != DT::kFloat32 && off_by_one * 20 > static_cast<int>(got.size())) {
    return ::testing::AssertionFailure() << off_by_one << " of " << got.size() << " elements off by one (> 5%)";
  }
  return ::testing::AssertionSuccess();
}

absl::StatusOr<std::vector<Bytes>> RunProgram(const Program& program, const ProgramSpec& spec,
                                              const std::vector<Bytes>& inputs) {
  auto ws = program.NewWorkspace();
  if (!ws.ok()) return ws.status();
  std::vector<int64_t> sizes(spec.num_outputs, 0);
  for (const ValueSpec& v : spec.values) {
    if (v.storage == Storage::kOutput)
      sizes[v.slot] = std::max(sizes[v.slot], core::NumElements(v.dims) * core::SizeOf(v.dtype));
  }
  std::vector<Bytes> outputs;
  for (int64_t n : sizes) outputs.emplace_back(n, 0xA5);
  std::vector<const void*> in;
  for (const auto& b : inputs) in.push_back(b.data());
  std::vector<void*> out;
  for (auto& b : outputs) out.push_back(b.data());
  absl::Status status = program.Run(**ws, in, out);
  if (!status.ok()) return status;
  return outputs;
}

absl::StatusOr<std::vector<Bytes>> RunBytes(const ProgramSpec& spec, const std::vector<Bytes>& inputs,
                                            WeightCache* cache) {
  WeightCache local;
  auto program = Program::Create(spec, cache != nullptr ? *cache : local);
  if (!program.ok()) return program.status();
  return RunProgram(**program, spec, inputs);
}

bool ExactInt8Isa() {
  const std::string isa = CpuIsa();
  return isa.find("vnni") != std::string::npos || isa.find("bf16") != std::string::npos ||
         isa.find("amx") != std::string::npos;
}

absl::Status BuildStatus(const ProgramSpec& spec) {
  WeightCache cache;
  return Program::Create(spec, cache).status();
}

}  // namespace q8::kernels::testing
