// kernels_int8_bench: not a test (no timing assertions). Median time per Run
// of (1) a 3x3 64->64 conv at 56x56, mb1, fp32 vs int8 (u8 -> u8, bias,
// relu), NHWC, through Program; (2) MatMul shapes: fp32, static int8,
// our dynamic path (scan + quantize + brgemm + C++ epilogue) and the
// alternative -- the same quantize, then a matmul with runtime output scales
// (DNNL_RUNTIME_F32_VAL), which oneDNN 2.6 only implements as gemm:jit.
// (3) `kernels_int8_bench dynamic_conv 1 16`: the dynamic-int8 conv table
// and (4) `kernels_int8_bench dnnl_probe`: which oneDNN convs take runtime
// scales / zero points and what they cost (BENCHMARKS.md, "Dynamic int8 Conv").
// (5) `kernels_int8_bench attention B H S D`: the activation x activation
// matmuls of self-attention (Q.K^T [S,D]x[D,S], attention.V [S,S]x[S,D] per
// head) in f32 against int8 (u8/s8 A x s8 B) with and without the two
// f32 -> int8 reorders that quantize the operands when their producers store
// f32 (BENCHMARKS.md, "Attention matmuls").
// (6) `kernels_int8_bench zero_points [rounds]`: src zero point cost
// (zero_point_bench.cc; BENCHMARKS.md, "Asymmetric activations").
// (7) `kernels_int8_bench bf16 [reps]`: the precision ladder's rungs side by
// side -- fp32, bf16 (f32 and bf16 dst) and int8 for a conv and matmuls at
// real shapes, plus the f32 <-> bf16 seam reorders; each row's median over
// `reps` interleaved rounds (BENCHMARKS.md, "bf16 rung").
// (8) `kernels_int8_bench bf16_sizes [rounds]`: bf16 (with its input seam)
// against fp32 from tiny to large layers, and LayerNorm/Softmax/GELU in bf16
// (bf16_size_bench.cc; the size rule of the fallback ladder).
// Run with OMP_NUM_THREADS set (e.g. 1 and 2).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <unordered_map>

#include "absl/strings/str_cat.h"
#include "kernels/internal/dynamic_quant.h"
#include "oneapi/dnnl/dnnl.hpp"
#include "tests/unit/kernels/int8_util.h"

namespace q8::kernels::testing {
namespace {

double MedianMs(const std::function<void()>& run, int iters) {
  for (int i = 0; i < 10; ++i) run();
  std::vector<double> t;
  for (int i = 0; i < iters; ++i) {
    const auto start = std::chrono::steady_clock::now();
    run();
    t.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

struct Built {
  std::unique_ptr<Program> program;
  std::unique_ptr<Workspace> ws;
  std::vector<Bytes> in, out;
  double Time(int iters) {
    std::vector<const void*> i;
    for (auto& b : in) i.push_back(b.data());
    std::vector<void*> o;
    for (auto& b : out) o.push_back(b.data());
    return MedianMs([&] { (void)program->Run(*ws, i, o); }, iters);
  }
};

Built Build(const ProgramSpec& spec, WeightCache& cache, std::vector<Bytes> in, std::vector<int64_t> out_bytes) {
  Built b;
  auto program = Program::Create(spec, cache);
  if (!program.ok()) {
    std::fprintf(stderr, "%s\n", program.status().ToString().c_str());
    std::exit(1);
  }
  b.program = std::move(*program);
  b.ws = std::move(*b.program->NewWorkspace());
  b.in = std::move(in);
  for (int64_t n : out_bytes) b.out.emplace_back(n);
  return b;
}

void ConvBench() {
  const core::Dims xd{1, 64, 56, 56};
  const RefTensor wf = RandomTensor({64, 64, 3, 3}, 1, -0.1f, 0.1f);
  const std::vector<float> bias = Random(64, 2);
  WeightCache cache;
  // Activations live in the arena (NHWC) and the graph I/O is a 1x1 dummy,
  // so the timing is the conv alone.
  auto spec = [&](DT dt, ConvParams p) {
    SpecBuilder s;
    const int x = s.Arena(xd, Layout::kNhwc, dt, 0.02f), y = s.Arena(xd, Layout::kNhwc, dt, 0.05f);
    s.Step("Conv", p, {x}, {y});
    s.Step("Touch", ReorderParams{}, {s.Input({1, 1})}, {s.Output({1, 1})});
    return s.Build();
  };
  ConvParams p;
  p.strides = p.dilations = {1, 1};
  p.pads_begin = p.pads_end = {1, 1};
  p.bias = Constant({{64}, bias});
  p.post_ops = {{Activation::Kind::kRelu}};
  ConvParams f = p;
  f.weights = Constant(wf);
  ConvParams q = p;
  q.qweights = QuantizeWeights(wf, 0).params();
  Built fp32 = Build(spec(DT::kFloat32, f), cache, {Bytes(4)}, {4});
  Built int8 = Build(spec(DT::kUInt8, q), cache, {Bytes(4)}, {4});
  const double tf = fp32.Time(200), tq = int8.Time(400);
  const double gops = 2.0 * 64 * 64 * 9 * 56 * 56 / 1e6;
  std::printf("conv 3x3 64->64 @56x56 mb1 (NHWC, bias+relu)\n");
  std::printf("  fp32 %-28s %.3f ms  %.0f GFLOPS\n", fp32.program->steps()[0].impl.c_str(), tf, gops / tf);
  std::printf("  int8 %-28s %.3f ms  %.0f GOPS\n", int8.program->steps()[0].impl.c_str(), tq, gops / tq);
  std::printf("  int8 speedup: %.2fx (int8/fp32 time ratio %.3f)\n", tf / tq, tq / tf);
}

// Bench-only copy of the per-run quantization, for the runtime-scale variant.
float QuantizeS8(const float* x, int64_t n, int8_t* q) {
  float m = 0;
  for (int64_t i = 0; i < n; ++i) m = std::max(m, std::fabs(x[i]));
  const float s = m > 0 ? m / 127 : 1, inv = 1 / s;
  for (int64_t i = 0; i < n; ++i) q[i] = static_cast<int8_t>(std::nearbyint(std::clamp(x[i] * inv, -128.f, 127.f)));
  return s;
}

void MatMulBench(int64_t m, int64_t k, int64_t n) {
  const RefTensor wf = RandomTensor({k, n}, 3);
  const QWeights wq = QuantizeWeights(wf, 1);
  const std::vector<float> a = Random(m * k, 4);
  WeightCache cache;
  auto one = [&](MatMulParams p, DT in_dt, DT out_dt) {
    SpecBuilder s;
    s.Step("MatMul", p, {s.Input({m, k}, in_dt, 0.01f)}, {s.Output({m, n}, out_dt, 0.05f)});
    return s.Build();
  };
  MatMulParams f;
  f.weights = Constant(wf);
  MatMulParams st;
  st.qweights = wq.params();
  MatMulParams dy = st;
  dy.dynamic = true;
  Built fp32 = Build(one(f, DT::kFloat32, DT::kFloat32), cache, {ToBytes(a)}, {m * n * 4});
  Built stat = Build(one(st, DT::kInt8, DT::kFloat32), cache, {Bytes(m * k, 3)}, {m * n * 4});
  Built dyn = Build(one(dy, DT::kFloat32, DT::kFloat32), cache, {ToBytes(a)}, {m * n * 4});
  const int iters = m * k * n > 50'000'000 ? 50 : 300;
  const double tf = fp32.Time(iters), ts = stat.Time(iters), td = dyn.Time(iters);

  // Runtime output scales: quantize, then matmul with oscale = s_x * s_w[n] given at execute.
  using dt = dnnl::memory::data_type;
  const dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  dnnl::stream stream(eng);
  dnnl::primitive_attr attr;
  attr.set_output_scales(1 << 1, {DNNL_RUNTIME_F32_VAL});
  const dnnl::memory::desc a_md({m, k}, dt::s8, dnnl::memory::format_tag::ab);
  const dnnl::memory::desc b_any({k, n}, dt::s8, dnnl::memory::format_tag::any);
  const dnnl::memory::desc y_md({m, n}, dt::f32, dnnl::memory::format_tag::ab);
  dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a_md, b_any, y_md), attr, eng);
  dnnl::memory b_user({{k, n}, dt::s8, dnnl::memory::format_tag::ab}, eng), b_mem(pd.weights_desc(), eng);
  std::vector<int8_t> bq(wq.q.begin(), wq.q.end());
  std::memcpy(b_user.get_data_handle(), bq.data(), bq.size());
  dnnl::reorder(b_user, b_mem).execute(stream, b_user, b_mem);
  dnnl::memory a_q(a_md, eng), y(y_md, eng), sc({{n}, dt::f32, dnnl::memory::format_tag::a}, eng);
  dnnl::matmul mm(pd);
  const double tr = MedianMs(
      [&] {
        const float s = QuantizeS8(a.data(), m * k, static_cast<int8_t*>(a_q.get_data_handle()));
        float* scales = static_cast<float*>(sc.get_data_handle());
        for (int64_t j = 0; j < n; ++j) scales[j] = s * wq.scales[j];
        mm.execute(
            stream,
            {{DNNL_ARG_SRC, a_q}, {DNNL_ARG_WEIGHTS, b_mem}, {DNNL_ARG_DST, y}, {DNNL_ARG_ATTR_OUTPUT_SCALES, sc}});
        stream.wait();
      },
      iters);
  std::printf("matmul %lldx%lldx%lld\n", static_cast<long long>(m), static_cast<long long>(k),
              static_cast<long long>(n));
  std::printf("  fp32                 %-36s %.3f ms\n", fp32.program->steps()[0].impl.c_str(), tf);
  std::printf("  int8 static s8->f32  %-36s %.3f ms\n", stat.program->steps()[0].impl.c_str(), ts);
  std::printf("  dynamic (ours)       %-36s %.3f ms  (%.2fx fp32)\n", dyn.program->steps()[0].impl.c_str(), td,
              tf / td);
  std::printf("  dynamic, runtime oscale %-33s %.3f ms  (%.2fx fp32)\n", pd.impl_info_str(), tr, tf / tr);
}

// Dynamic int8 conv vs fp32 and static int8, per conv shape of the
// benchmarked models. The input must hold real numbers (the dynamic kernel
// scans it), so each program first reorders a plain f32 graph input into the
// NHWC arena (quantizing, for static int8); the same reorder alone is timed
// too and subtracted. "scan+quant" is the dynamic kernel's own per-run pass
// over its input (range scan + u8 quantization) timed alone, single thread.
struct ConvShape {
  const char* name;
  int64_t ic, oc, hw, k, stride, groups;
};

void DynamicConvBench(int64_t mb) {
  // oneDNN 2.6.3 facts the kernel depends on: runtime output scales on a conv.
  {
    using dt = dnnl::memory::data_type;
    using tag = dnnl::memory::format_tag;
    const dnnl::engine eng(dnnl::engine::kind::cpu, 0);
    dnnl::primitive_attr attr;
    attr.set_output_scales(1 << 1, {DNNL_RUNTIME_F32_VAL});
    const dnnl::memory::desc src({1, 64, 28, 28}, dt::u8, tag::nhwc), dst({1, 64, 28, 28}, dt::f32, tag::nhwc);
    const dnnl::memory::desc w({64, 64, 3, 3}, dt::s8, tag::any);
    dnnl::convolution_forward::desc d(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct, src, w,
                                      dst, {1, 1}, {1, 1}, {1, 1});
    try {
      dnnl::convolution_forward::primitive_desc pd(d, attr, eng);
      std::printf("conv with runtime output scales: %s\n", pd.impl_info_str());
    } catch (const dnnl::error&) {
      std::printf("conv with runtime output scales: no implementation in oneDNN %s\n", DnnlVersion().c_str());
    }
  }
  const ConvShape shapes[] = {
      {"fashion conv1 1->16 3x3 @28", 1, 16, 28, 3, 1, 1},    {"fashion conv2 16->32 3x3 @14", 16, 32, 14, 3, 1, 1},
      {"resnet conv1 3->64 7x7/2 @224", 3, 64, 224, 7, 2, 1}, {"resnet 64->64 3x3 @56", 64, 64, 56, 3, 1, 1},
      {"resnet 256->64 1x1 @56", 256, 64, 56, 1, 1, 1},       {"resnet 512->512 3x3 @7", 512, 512, 7, 3, 1, 1},
      {"mbv2 conv1 3->32 3x3/2 @224", 3, 32, 224, 3, 2, 1},   {"mbv2 dw 144 3x3 @56", 144, 144, 56, 3, 1, 144},
      {"mbv2 24->144 1x1 @56", 24, 144, 56, 1, 1, 1},         {"mbv2 144->24 1x1 @56", 144, 24, 56, 1, 1, 1},
      {"mbv2 16->96 1x1 @112", 16, 96, 112, 1, 1, 1},         {"mbv2 320->1280 1x1 @7", 320, 1280, 7, 1, 1, 1},
  };
  std::printf("conv, mb%lld: times in ms (conv step alone), speedups vs fp32\n", static_cast<long long>(mb));
  std::printf(
      "| conv | fp32 | static int8 | dynamic | scan+quant | dynamic speedup | static speedup | scan+quant share |\n");
  std::printf("|---|---|---|---|---|---|---|---|\n");
  for (const ConvShape& c : shapes) {
    const int64_t pad = c.k / 2, out = (c.hw + 2 * pad - c.k) / c.stride + 1;
    const core::Dims xd{mb, c.ic, c.hw, c.hw}, yd{mb, c.oc, out, out};
    const RefTensor wf = RandomTensor({c.oc, c.ic / c.groups, c.k, c.k}, 1, -0.1f, 0.1f);
    const std::vector<float> x = Random(core::NumElements(xd), 5, -1.0f, 3.0f);
    WeightCache cache;
    ConvParams p;
    p.strides = {c.stride, c.stride};
    p.dilations = {1, 1};
    p.pads_begin = p.pads_end = {pad, pad};
    p.groups = c.groups;
    p.bias = Constant({{c.oc}, Random(c.oc, 2)});
    p.post_ops = {{Activation::Kind::kRelu}};
    ConvParams f = p, q = p, d = p;
    f.weights = Constant(wf);
    q.qweights = d.qweights = QuantizeWeights(wf, 0).params();
    d.dynamic = true;
    auto spec = [&](DT in_dt, const ConvParams* conv) {
      SpecBuilder s;
      const int xn = s.Arena(xd, Layout::kNhwc, in_dt, 0.02f);
      s.Step("Reorder", ReorderParams{}, {s.Input(xd)}, {xn});
      if (conv != nullptr) s.Step("Conv", *conv, {xn}, {s.Arena(yd, Layout::kNhwc)});
      s.Step("Touch", ReorderParams{}, {s.Input({1, 1})}, {s.Output({1, 1})});
      return s.Build();
    };
    const int iters = core::NumElements(xd) * c.oc > 200'000'000 ? 30 : 200;
    auto time = [&](DT in_dt, const ConvParams* conv) {
      Built b = Build(spec(in_dt, conv), cache, {ToBytes(x), Bytes(4)}, {4});
      return b.Time(iters);
    };
    const double reorder_f32 = time(DT::kFloat32, nullptr), reorder_u8 = time(DT::kUInt8, nullptr);
    const double tf = time(DT::kFloat32, &f) - reorder_f32;
    const double ts = time(DT::kUInt8, &q) - reorder_u8;
    const double td = time(DT::kFloat32, &d) - reorder_f32;
    std::vector<uint8_t> qx(x.size());
    const double tq = MedianMs(
        [&] {
          const internal::MinMax r = internal::ScanMinMax(x.data(), static_cast<int64_t>(x.size()));
          const internal::U8Quant u = internal::ChooseU8(r.min, r.max);
          internal::QuantizeFinite(x.data(), static_cast<int64_t>(x.size()), 1.0f / u.scale, u.zero_point, 0, 255,
                                   qx.data());
        },
        iters);
    std::printf("| %s | %.4f | %.4f | %.4f | %.4f | %.2fx | %.2fx | %.0f%% |\n", c.name, tf, ts, td, tq, tf / td,
                tf / ts, 100.0 * tq / td);
    std::fflush(stdout);
  }
}

// What oneDNN 2.6.3 accepts for a per-run activation scale and zero point,
// and at what cost: raw oneDNN convolutions (u8 src NHWC, f32 dst, bias,
// relu), static per-OC output scales, plus (a) a binary_mul post-op by a
// runtime [1,1,1,1] scalar, (b) that plus a runtime src zero point
// (DNNL_RUNTIME_S32_VAL), (c) runtime output scales (DNNL_RUNTIME_F32_VAL).
void DnnlProbe() {
  using dt = dnnl::memory::data_type;
  using tag = dnnl::memory::format_tag;
  const dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  dnnl::stream stream(eng);
  const ConvShape shapes[] = {
      {"16->32 3x3 @14 mb1", 16, 32, 14, 3, 1, 1}, {"64->64 3x3 @56", 64, 64, 56, 3, 1, 1},
      {"256->64 1x1 @56", 256, 64, 56, 1, 1, 1},   {"256->512 1x1/2 @56", 256, 512, 56, 1, 2, 1},
      {"dw 96 3x3 @56", 96, 96, 56, 3, 1, 96},     {"3->64 7x7/2 @224", 3, 64, 224, 7, 2, 1}};
  const char* names[] = {"static oscale", "+ binary_mul(runtime s_x)", "+ binary_mul + runtime src zp",
                         "runtime oscale (mask 0)", "runtime oscale (per OC)"};
  std::printf("| conv (mb1) | attributes | implementation | ms |\n|---|---|---|---|\n");
  for (const ConvShape& c : shapes) {
    const int64_t pad = c.k / 2, out = (c.hw + 2 * pad - c.k) / c.stride + 1;
    const dnnl::memory::dims w = c.groups == 1
                                     ? dnnl::memory::dims{c.oc, c.ic, c.k, c.k}
                                     : dnnl::memory::dims{c.groups, c.oc / c.groups, c.ic / c.groups, c.k, c.k};
    for (int v = 0; v < 5; ++v) {
      const dnnl::memory::desc src({1, c.ic, c.hw, c.hw}, dt::u8, tag::nhwc),
          dst({1, c.oc, out, out}, dt::f32, tag::nhwc);
      const dnnl::memory::desc wd(w, dt::s8, tag::any), bd({c.oc}, dt::f32, tag::a),
          s1({1, 1, 1, 1}, dt::f32, tag::nchw);
      dnnl::convolution_forward::desc d(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct, src,
                                        wd, bd, dst, {c.stride, c.stride}, {0, 0}, {pad, pad}, {pad, pad});
      dnnl::primitive_attr a;
      a.set_scratchpad_mode(dnnl::scratchpad_mode::user);
      if (v == 3)
        a.set_output_scales(0, {DNNL_RUNTIME_F32_VAL});
      else if (v == 4)
        a.set_output_scales(1 << 1, {DNNL_RUNTIME_F32_VAL});
      else
        a.set_output_scales(1 << 1, std::vector<float>(c.oc, 0.01f));
      if (v == 2) a.set_zero_points(DNNL_ARG_SRC, 0, {DNNL_RUNTIME_S32_VAL});
      dnnl::post_ops po;
      if (v == 1 || v == 2) po.append_binary(dnnl::algorithm::binary_mul, s1);
      po.append_eltwise(1.0f, dnnl::algorithm::eltwise_relu, 0.0f, 0.0f);
      a.set_post_ops(po);
      try {
        dnnl::convolution_forward::primitive_desc pd(d, a, eng);
        dnnl::memory sm(src, eng), dm(dst, eng), wm(pd.weights_desc(), eng), bm(bd, eng), sp(pd.scratchpad_desc(), eng);
        dnnl::memory s1m(s1, eng), zp({{1}, dt::s32, tag::a}, eng);
        std::memset(sm.get_data_handle(), 1, src.get_size());
        std::memset(wm.get_data_handle(), 0, pd.weights_desc().get_size());
        *static_cast<float*>(s1m.get_data_handle()) = 0.5f;
        *static_cast<int32_t*>(zp.get_data_handle()) = 3;
        std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_SRC, sm},
                                                   {DNNL_ARG_WEIGHTS, wm},
                                                   {DNNL_ARG_BIAS, bm},
                                                   {DNNL_ARG_DST, dm},
                                                   {DNNL_ARG_SCRATCHPAD, sp}};
        if (v == 1 || v == 2) args[DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1] = s1m;
        if (v == 2) args[DNNL_ARG_ATTR_ZERO_POINTS | DNNL_ARG_SRC] = zp;
        dnnl::convolution_forward conv(pd);
        const double ms = MedianMs(
            [&] {
              conv.execute(stream, args);
              stream.wait();
            },
            100);
        std::printf("| %s | %s | %s | %.4f |\n", c.name, names[v], pd.impl_info_str(), ms);
      } catch (const dnnl::error&) {
        std::printf("| %s | %s | none (unimplemented) | - |\n", c.name, names[v]);
      }
      std::fflush(stdout);
    }
  }
}

// One round of the bf16 table: ms per Run of each variant, in a fixed order.
std::vector<double> Bf16Round(std::vector<Built>& built, int iters) {
  std::vector<double> t;
  for (Built& b : built) t.push_back(b.Time(iters));
  return t;
}

void Bf16Bench(int reps) {
  struct Row {
    std::string name;
    Built built;
    double gop;
  };
  std::vector<Row> rows;
  WeightCache cache;
  // Conv 3x3 64->64 @56x56 mb1, NHWC, bias + relu; activations in the arena.
  const core::Dims xd{1, 64, 56, 56};
  const RefTensor wf = RandomTensor({64, 64, 3, 3}, 1, -0.1f, 0.1f);
  ConvParams p;
  p.strides = p.dilations = {1, 1};
  p.pads_begin = p.pads_end = {1, 1};
  p.bias = Constant({{64}, Random(64, 2)});
  p.post_ops = {{Activation::Kind::kRelu}};
  ConvParams f = p, q = p;
  f.weights = Constant(wf);
  q.qweights = QuantizeWeights(wf, 0).params();
  auto conv = [&](DT in, DT out, const ConvParams& cp) {
    SpecBuilder s;
    const int x = s.Arena(xd, Layout::kNhwc, in, 0.02f), y = s.Arena(xd, Layout::kNhwc, out, 0.05f);
    s.Step("Conv", cp, {x}, {y});
    s.Step("Touch", ReorderParams{}, {s.Input({1, 1})}, {s.Output({1, 1})});
    return Build(s.Build(), cache, {Bytes(4)}, {4});
  };
  auto seam = [&](DT in, DT out) {
    SpecBuilder s;
    const int x = s.Arena(xd, Layout::kNhwc, in), y = s.Arena(xd, Layout::kNhwc, out);
    s.Step("Reorder", ReorderParams{}, {x}, {y});
    s.Step("Touch", ReorderParams{}, {s.Input({1, 1})}, {s.Output({1, 1})});
    return Build(s.Build(), cache, {Bytes(4)}, {4});
  };
  const double conv_gop = 2.0 * 64 * 64 * 9 * 56 * 56 / 1e9;
  rows.push_back({"conv3x3 64@56 fp32", conv(DT::kFloat32, DT::kFloat32, f), conv_gop});
  rows.push_back({"conv3x3 64@56 bf16->f32", conv(DT::kBFloat16, DT::kFloat32, f), conv_gop});
  rows.push_back({"conv3x3 64@56 bf16->bf16", conv(DT::kBFloat16, DT::kBFloat16, f), conv_gop});
  rows.push_back({"conv3x3 64@56 u8->u8", conv(DT::kUInt8, DT::kUInt8, q), conv_gop});
  rows.push_back({"seam f32->bf16 64x56x56", seam(DT::kFloat32, DT::kBFloat16), 0});
  rows.push_back({"seam bf16->f32 64x56x56", seam(DT::kBFloat16, DT::kFloat32), 0});
  rows.push_back({"seam f32->u8 64x56x56", seam(DT::kFloat32, DT::kUInt8), 0});
  // Transformer FFN matmuls (BERT-base widths), constant weights, f32 out.
  for (int64_t m : {1, 128}) {
    const int64_t k = 768, n = 3072;
    const RefTensor b = RandomTensor({k, n}, 3);
    MatMulParams mf, mq;
    mf.weights = Constant(b);
    mq.qweights = QuantizeWeights(b, 1).params();
    auto mm = [&](DT in, const MatMulParams& mp) {
      SpecBuilder s;
      s.Step("MatMul", mp, {s.Input({m, k}, in, 0.01f)}, {s.Output({m, n})});
      return Build(s.Build(), cache, {Bytes(m * k * core::SizeOf(in))}, {m * n * 4});
    };
    const std::string shape = absl::StrCat("matmul ", m, "x768x3072 ");
    const double gop = 2.0 * m * k * n / 1e9;
    rows.push_back({shape + "fp32", mm(DT::kFloat32, mf), gop});
    rows.push_back({shape + "bf16", mm(DT::kBFloat16, mf), gop});
    rows.push_back({shape + "s8", mm(DT::kInt8, mq), gop});
  }
  std::vector<Built> built;
  for (Row& r : rows) built.push_back(std::move(r.built));
  std::vector<std::vector<double>> times(rows.size());
  for (int rep = 0; rep < reps; ++rep) {
    const std::vector<double> t = Bf16Round(built, 30);
    for (size_t i = 0; i < t.size(); ++i) times[i].push_back(t[i]);
  }
  std::printf("%-26s %-30s %9s %9s\n", "variant", "impl", "ms", "GOP/s");
  for (size_t i = 0; i < rows.size(); ++i) {
    std::sort(times[i].begin(), times[i].end());
    const double ms = times[i][times[i].size() / 2];
    const std::string& impl = built[i].program->steps()[0].impl;
    std::printf("%-26s %-30s %9.4f %9.0f\n", rows[i].name.c_str(), impl.c_str(), ms,
                rows[i].gop > 0 ? rows[i].gop / ms * 1e3 : 0.0);
  }
}

}  // namespace
// One activation x activation matmul [b,h,m,k] x [b,h,k,n] -> f32, timed as
// f32, as int8 on already-quantized operands, and as int8 including the two
// quantizing reorders from f32 operands.
void AttentionMatMulBench(const char* what, int64_t b, int64_t h, int64_t m, int64_t k, int64_t n, DT a_dt) {
  const core::Dims ad{b, h, m, k}, bd{b, h, k, n}, yd{b, h, m, n};
  const int64_t na = core::NumElements(ad), nb = core::NumElements(bd), ny = core::NumElements(yd);
  WeightCache cache;
  SpecBuilder f;
  f.Step("MatMul", MatMulParams{}, {f.Input(ad), f.Input(bd)}, {f.Output(yd)});
  SpecBuilder q;
  q.Step("MatMul", MatMulParams{}, {q.Input(ad, a_dt, 0.01f), q.Input(bd, DT::kInt8, 0.02f)}, {q.Output(yd)});
  SpecBuilder qr;  // f32 operands quantized by reorders, as a plan with f32 producers would
  const int a8 = qr.Arena(ad, Layout::kPlain, a_dt, 0.01f), b8 = qr.Arena(bd, Layout::kPlain, DT::kInt8, 0.02f);
  qr.Step("Reorder", ReorderParams{}, {qr.Input(ad)}, {a8});
  qr.Step("Reorder", ReorderParams{}, {qr.Input(bd)}, {b8});
  qr.Step("MatMul", MatMulParams{}, {a8, b8}, {qr.Output(yd)});
  const std::vector<float> av = Random(na, 5, 0.0f, 1.0f), bv = Random(nb, 6);
  Built tf = Build(f.Build(), cache, {ToBytes(av), ToBytes(bv)}, {ny * 4});
  Built tq = Build(q.Build(), cache, {Bytes(na, 3), Bytes(nb, 2)}, {ny * 4});
  Built tr = Build(qr.Build(), cache, {ToBytes(av), ToBytes(bv)}, {ny * 4});
  const int iters = 2000;
  const double f32 = tf.Time(iters), i8 = tq.Time(iters), i8r = tr.Time(iters);
  std::printf(
      "  %-10s [%ld,%ld,%ld,%ld]x[..,%ld,%ld]  f32 %.2f us (%s)  int8 %.2f us (%s)  int8+quantize %.2f us"
      "  | f32/int8 %.2fx, f32/(int8+quantize) %.2fx\n",
      what, static_cast<long>(b), static_cast<long>(h), static_cast<long>(m), static_cast<long>(k),
      static_cast<long>(k), static_cast<long>(n), f32 * 1e3, tf.program->steps()[0].impl.c_str(), i8 * 1e3,
      tq.program->steps()[0].impl.c_str(), i8r * 1e3, f32 / i8, f32 / i8r);
}

void AttentionBench(int64_t b, int64_t h, int64_t s, int64_t d) {
  std::printf("attention matmuls, batch %ld, %ld heads, sequence %ld, head dim %ld (1 run = one matmul)\n",
              static_cast<long>(b), static_cast<long>(h), static_cast<long>(s), static_cast<long>(d));
  AttentionMatMulBench("Q.K^T", b, h, s, d, s, DT::kInt8);
  AttentionMatMulBench("attn.V", b, h, s, s, d, DT::kUInt8);
}

void ZeroPointBench(int rounds);   // zero_point_bench.cc
void Bf16SizeBench(int rounds);    // bf16_size_bench.cc
int ConvCeilingBench(int rounds);  // conv_ceiling_bench.cc

}  // namespace q8::kernels::testing

int main(int argc, char** argv) {
  using namespace q8::kernels::testing;
  if (argc > 1 && std::string(argv[1]) == "dnnl_probe") {
    std::printf("isa %s, oneDNN %s\n", q8::kernels::CpuIsa().c_str(), q8::kernels::DnnlVersion().c_str());
    DnnlProbe();
    return 0;
  }
  // "attention B H S D": only the attention matmul table.
  if (argc == 6 && std::string(argv[1]) == "attention") {
    std::printf("isa %s, oneDNN %s\n", q8::kernels::CpuIsa().c_str(), q8::kernels::DnnlVersion().c_str());
    AttentionBench(std::atoll(argv[2]), std::atoll(argv[3]), std::atoll(argv[4]), std::atoll(argv[5]));
    return 0;
  }
  // "zero_points [rounds]": only the src zero point table.
  if (argc > 1 && std::string(argv[1]) == "zero_points") {
    std::printf("isa %s, oneDNN %s\n", q8::kernels::CpuIsa().c_str(), q8::kernels::DnnlVersion().c_str());
    ZeroPointBench(argc > 2 ? std::atoi(argv[2]) : 7);
    return 0;
  }
  // "bf16 [reps]": only the precision ladder table.
  if (argc > 1 && std::string(argv[1]) == "bf16") {
    std::printf("isa %s, oneDNN %s\n", q8::kernels::CpuIsa().c_str(), q8::kernels::DnnlVersion().c_str());
    Bf16Bench(argc > 2 ? std::atoi(argv[2]) : 5);
    return 0;
  }
  // "bf16_sizes [rounds]": only the bf16-vs-fp32 size sweep.
  if (argc > 1 && std::string(argv[1]) == "bf16_sizes") {
    std::printf("isa %s, oneDNN %s\n", q8::kernels::CpuIsa().c_str(), q8::kernels::DnnlVersion().c_str());
    Bf16SizeBench(argc > 2 ? std::atoi(argv[2]) : 7);
    return 0;
  }
  // "conv_ceiling [rounds]": every oneDNN int8 implementation of each
  // ResNet-50 convolution, and int8 Winograd, summed over the network.
  if (argc > 1 && std::string(argv[1]) == "conv_ceiling") {
    std::printf("isa %s, oneDNN %s\n", q8::kernels::CpuIsa().c_str(), q8::kernels::DnnlVersion().c_str());
    return ConvCeilingBench(argc > 2 ? std::atoi(argv[2]) : 5);
  }
  // "dynamic_conv [mb...]": only the dynamic conv table.
  if (argc > 1 && std::string(argv[1]) == "dynamic_conv") {
    std::printf("isa %s, oneDNN %s\n", q8::kernels::CpuIsa().c_str(), q8::kernels::DnnlVersion().c_str());
    if (argc == 2) DynamicConvBench(1);
    for (int i = 2; i < argc; ++i) DynamicConvBench(std::atoll(argv[i]));
    return 0;
  }
  std::printf("isa %s, oneDNN %s\n", q8::kernels::CpuIsa().c_str(), q8::kernels::DnnlVersion().c_str());
  ConvBench();
  MatMulBench(1, 768, 3072);
  MatMulBench(32, 768, 3072);
  MatMulBench(128, 768, 3072);
  return 0;
}
