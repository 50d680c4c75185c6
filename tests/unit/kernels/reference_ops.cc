// Reference ops for the kernels tests (see reference_ops.h).
#include "tests/unit/kernels/reference_ops.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace q8::kernels::testing {
namespace {

// Row-major strides of dims.
std::vector<int64_t> Strides(const core::Dims& dims) {
  std::vector<int64_t> s(dims.size(), 1);
  for (int i = static_cast<int>(dims.size()) - 2; i >= 0; --i) s[i] = s[i + 1] * dims[i + 1];
  return s;
}

// Multi-index of flat position `flat` in dims.
std::vector<int64_t> Unflatten(int64_t flat, const core::Dims& dims) {
  std::vector<int64_t> idx(dims.size());
  for (int i = static_cast<int>(dims.size()) - 1; i >= 0; --i) {
    idx[i] = flat % dims[i];
    flat /= dims[i];
  }
  return idx;
}

// Flat offset in `dims` of `idx` taken from a tensor of broadcast-compatible
// dims (size-1 dims read index 0; missing leading dims are ignored).
int64_t BroadcastOffset(const std::vector<int64_t>& idx, const core::Dims& dims) {
  const size_t lead = idx.size() - dims.size();
  int64_t off = 0;
  for (size_t i = 0; i < dims.size(); ++i) off = off * dims[i] + (dims[i] == 1 ? 0 : idx[lead + i]);
  return off;
}

}  // namespace

float Activate(const Activation& a, float x) {
  using K = Activation::Kind;
  const auto sigmoid = [](float v) { return 1.0f / (1.0f + std::exp(-v)); };
  switch (a.kind) {
    case K::kRelu:
      return x > 0 ? x : a.alpha * x;
    case K::kClip:
      return std::min(std::max(x, a.lo), a.hi);
    case K::kSigmoid:
      return sigmoid(x);
    case K::kTanh:
      return std::tanh(x);
    case K::kExp:
      return std::exp(x);
    case K::kLog:
      return std::log(x);
    case K::kSqrt:
      return std::sqrt(x);
    case K::kAbs:
      return std::fabs(x);
    case K::kSquare:
      return x * x;
    case K::kLinear:
      return a.alpha * x + a.beta;
    case K::kElu:
      return x > 0 ? x : a.alpha * (std::exp(x) - 1);
    case K::kSoftplus:
      return std::log1p(std::exp(x));
    case K::kMish:
      return x * std::tanh(std::log1p(std::exp(x)));
    case K::kRound:
      return std::nearbyint(x);
    case K::kPow:
      return a.alpha * std::pow(x, a.beta);
    case K::kHardSwish:
      return x * std::min(std::max(x / 6 + 0.5f, 0.0f), 1.0f);
    case K::kHardSigmoid:
      return std::min(std::max(a.alpha * x + a.beta, 0.0f), 1.0f);
    case K::kGeluErf:
      return 0.5f * x * (1 + std::erf(x / std::sqrt(2.0f)));
    case K::kGeluTanh:
      return 0.5f * x * (1 + std::tanh(0.7978845608f * (x + 0.044715f * x * x * x)));
    case K::kSwish:
      return x * sigmoid(a.alpha * x);
    case K::kSelu:
      return a.beta * (x > 0 ? x : a.alpha * (std::exp(x) - 1));
  }
  return x;
}

void ApplyActivations(const std::vector<Activation>& ops, RefTensor& t) {
  for (const Activation& a : ops) {
    for (float& v : t.data) v = Activate(a, v);
  }
}

RefTensor Conv2d(const RefTensor& x, const RefTensor& w, const std::vector<float>& bias, const ConvParams& p) {
  const int64_t n = x.dims[0], c = x.dims[1], h = x.dims[2], wd = x.dims[3];
  const int64_t oc = w.dims[0], kh = w.dims[2], kw = w.dims[3], g = p.groups;
  const int64_t icg = c / g, ocg = oc / g;
  const int64_t oh = (h + p.pads_begin[0] + p.pads_end[0] - ((kh - 1) * p.dilations[0] + 1)) / p.strides[0] + 1;
  const int64_t ow = (wd + p.pads_begin[1] + p.pads_end[1] - ((kw - 1) * p.dilations[1] + 1)) / p.strides[1] + 1;
  RefTensor y{{n, oc, oh, ow}, std::vector<float>(n * oc * oh * ow)};
  for (int64_t b = 0; b < n; ++b)
    for (int64_t o = 0; o < oc; ++o)
      for (int64_t yh = 0; yh < oh; ++yh)
        for (int64_t yw = 0; yw < ow; ++yw) {
          double acc = bias.empty() ? 0.0 : bias[o];
          const int64_t grp = o / ocg;
          for (int64_t ci = 0; ci < icg; ++ci)
            for (int64_t ky = 0; ky < kh; ++ky)
              for (int64_t kx = 0; kx < kw; ++kx) {
                const int64_t ih = yh * p.strides[0] - p.pads_begin[0] + ky * p.dilations[0];
                const int64_t iw = yw * p.strides[1] - p.pads_begin[1] + kx * p.dilations[1];
                if (ih < 0 || ih >= h || iw < 0 || iw >= wd) continue;
                const int64_t cin = grp * icg + ci;
                acc +=
                    double(x.data[((b * c + cin) * h + ih) * wd + iw]) * w.data[((o * icg + ci) * kh + ky) * kw + kx];
              }
          y.data[((b * oc + o) * oh + yh) * ow + yw] = static_cast<float>(acc);
        }
  ApplyActivations(p.post_ops, y);
  return y;
}

RefTensor MatMul(const RefTensor& a, const RefTensor& b, float alpha, const std::vector<float>& bias) {
  const size_t rank = std::max(a.dims.size(), b.dims.size());
  core::Dims ad(rank - a.dims.size(), 1), bd(rank - b.dims.size(), 1);
  ad.insert(ad.end(), a.dims.begin(), a.dims.end());
  bd.insert(bd.end(), b.dims.begin(), b.dims.end());
  const int64_t m = ad[rank - 2], k = ad[rank - 1], n = bd[rank - 1];
  core::Dims batch(rank - 2);
  for (size_t i = 0; i + 2 < rank; ++i) batch[i] = std::max(ad[i], bd[i]);
  core::Dims a_batch(ad.begin(), ad.end() - 2), b_batch(bd.begin(), bd.end() - 2);
  RefTensor y{batch, {}};
  y.dims.push_back(m);
  y.dims.push_back(n);
  const int64_t nb = core::NumElements(batch);
  y.data.resize(nb * m * n);
  for (int64_t bi = 0; bi < nb; ++bi) {
    const std::vector<int64_t> idx = Unflatten(bi, batch);
    const float* pa = a.data.data() + BroadcastOffset(idx, a_batch) * m * k;
    const float* pb = b.data.data() + BroadcastOffset(idx, b_batch) * k * n;
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double acc = 0;
        for (int64_t q = 0; q < k; ++q) acc += double(pa[i * k + q]) * pb[q * n + j];
        y.data[(bi * m + i) * n + j] = static_cast<float>(alpha * acc + (bias.empty() ? 0.0f : bias[j]));
      }
  }
  return y;
}

RefTensor Pool2d(const RefTensor& x, const PoolParams& p) {
  const int64_t n = x.dims[0], c = x.dims[1], h = x.dims[2], w = x.dims[3];
  const int64_t oh =
      (h + p.pads_begin[0] + p.pads_end[0] - ((p.kernel[0] - 1) * p.dilations[0] + 1)) / p.strides[0] + 1;
  const int64_t ow =
      (w + p.pads_begin[1] + p.pads_end[1] - ((p.kernel[1] - 1) * p.dilations[1] + 1)) / p.strides[1] + 1;
  RefTensor y{{n, c, oh, ow}, std::vector<float>(n * c * oh * ow)};
  for (int64_t b = 0; b < n * c; ++b)
    for (int64_t yh = 0; yh < oh; ++yh)
      for (int64_t yw = 0; yw < ow; ++yw) {
        double sum = 0;
        float mx = -std::numeric_limits<float>::infinity();
        int64_t count = 0, padded_count = 0;
        for (int64_t ky = 0; ky < p.kernel[0]; ++ky)
          for (int64_t kx = 0; kx < p.kernel[1]; ++kx) {
            const int64_t ih = yh * p.strides[0] - p.pads_begin[0] + ky * p.dilations[0];
            const int64_t iw = yw * p.strides[1] - p.pads_begin[1] + kx * p.dilations[1];
            // include_padding counts taps within the padded extent only.
            if (ih < h + p.pads_end[0] && iw < w + p.pads_end[1]) ++padded_count;
            if (ih < 0 || ih >= h || iw < 0 || iw >= w) continue;
            const float v = x.data[(b * h + ih) * w + iw];
            sum += v;
            mx = std::max(mx, v);
            ++count;
          }
        float out = mx;
        if (p.kind == PoolParams::Kind::kAverage) {
          out = static_cast<float>(sum / (p.count_include_pad ? padded_count : count));
        }
        y.data[(b * oh + yh) * ow + yw] = out;
      }
  return y;
}

RefTensor Binary(const RefTensor& in0, const RefTensor& in1, BinaryParams::Kind kind) {
  RefTensor y{in0.dims, std::vector<float>(in0.data.size())};
  for (int64_t i = 0; i < static_cast<int64_t>(in0.data.size()); ++i) {
    const float b = in1.data[BroadcastOffset(Unflatten(i, in0.dims), in1.dims)];
    const float a = in0.data[i];
    using K = BinaryParams::Kind;
    switch (kind) {
      case K::kAdd:
        y.data[i] = a + b;
        break;
      case K::kMul:
        y.data[i] = a * b;
        break;
      case K::kSub:
        y.data[i] = a - b;
        break;
      case K::kDiv:
        y.data[i] = a / b;
        break;
      case K::kMax:
        y.data[i] = std::max(a, b);
        break;
      case K::kMin:
        y.data[i] = std::min(a, b);
        break;
      case K::kEqual:
        y.data[i] = a == b;
        break;
      case K::kGreater:
        y.data[i] = a > b;
        break;
      case K::kGreaterOrEqual:
        y.data[i] = a >= b;
        break;
      case K::kLess:
        y.data[i] = a < b;
        break;
      case K::kLessOrEqual:
        y.data[i] = a <= b;
        break;
    }
  }
  return y;
}

RefTensor Softmax(const RefTensor& x, int axis) {
  RefTensor y{x.dims, std::vector<float>(x.data.size())};
  const int64_t len = x.dims[axis], inner = Strides(x.dims)[axis];
  const int64_t outer = core::NumElements(x.dims) / (len * inner);
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t in = 0; in < inner; ++in) {
      const int64_t base = o * len * inner + in;
      float mx = -std::numeric_limits<float>::infinity();
      for (int64_t i = 0; i < len; ++i) mx = std::max(mx, x.data[base + i * inner]);
      double sum = 0;
      for (int64_t i = 0; i < len; ++i) sum += std::exp(double(x.data[base + i * inner]) - mx);
      for (int64_t i = 0; i < len; ++i) {
        y.data[base + i * inner] = static_cast<float>(std::exp(double(x.data[base + i * inner]) - mx) / sum);
      }
    }
  return y;
}

RefTensor Concat(const std::vector<RefTensor>& xs, int axis) {
  RefTensor y{xs[0].dims, {}};
  y.dims[axis] = 0;
  for (const RefTensor& x : xs) y.dims[axis] += x.dims[axis];
  const int64_t inner = Strides(y.dims)[axis];
  const int64_t outer = core::NumElements(y.dims) / (y.dims[axis] * inner);
  for (int64_t o = 0; o < outer; ++o)
    for (const RefTensor& x : xs) {
      const int64_t chunk = x.dims[axis] * inner;
      y.data.insert(y.data.end(), x.data.begin() + o * chunk, x.data.begin() + (o + 1) * chunk);
    }
  return y;
}

RefTensor BatchNorm(const RefTensor& x, const std::vector<float>& scale, const std::vector<float>& bias,
                    const std::vector<float>& mean, const std::vector<float>& var, float eps) {
  RefTensor y{x.dims, std::vector<float>(x.data.size())};
  const int64_t c = x.dims[1], inner = Strides(x.dims)[1];
  for (int64_t i = 0; i < static_cast<int64_t>(x.data.size()); ++i) {
    const int64_t ch = (i / inner) % c;
    y.data[i] = scale[ch] * (x.data[i] - mean[ch]) / std::sqrt(var[ch] + eps) + bias[ch];
  }
  return y;
}

RefTensor InstanceNorm(const RefTensor& x, const std::vector<float>& scale, const std::vector<float>& bias, float eps) {
  RefTensor y{x.dims, std::vector<float>(x.data.size())};
  const int64_t c = x.dims[1], inner = Strides(x.dims)[1];
  for (int64_t nc = 0; nc * inner < static_cast<int64_t>(x.data.size()); ++nc) {
    const float* in = x.data.data() + nc * inner;
    double mean = 0, var = 0;
    for (int64_t i = 0; i < inner; ++i) mean += in[i] / static_cast<double>(inner);
    for (int64_t i = 0; i < inner; ++i) var += (in[i] - mean) * (in[i] - mean) / static_cast<double>(inner);
    for (int64_t i = 0; i < inner; ++i) {
      y.data[nc * inner + i] = static_cast<float>((in[i] - mean) / std::sqrt(var + eps) * scale[nc % c] + bias[nc % c]);
    }
  }
  return y;
}

RefTensor Transpose(const RefTensor& x, const std::vector<int64_t>& perm) {
  RefTensor y{core::Dims(perm.size()), std::vector<float>(x.data.size())};
  for (size_t i = 0; i < perm.size(); ++i) y.dims[i] = x.dims[perm[i]];
  const std::vector<int64_t> xs = Strides(x.dims);
  for (int64_t i = 0; i < static_cast<int64_t>(y.data.size()); ++i) {
    const std::vector<int64_t> idx = Unflatten(i, y.dims);
    int64_t off = 0;
    for (size_t d = 0; d < perm.size(); ++d) off += idx[d] * xs[perm[d]];
    y.data[i] = x.data[off];
  }
  return y;
}

}  // namespace q8::kernels::testing
