// kernels_int8_bench: not a test (no timing assertions). Median time per Run
// of (1) a 3x3 64->64 conv at 56x56, mb1, fp32 vs int8 (u8 -> u8, bias,
// relu), NHWC, through Program; (2) MatMul shapes: fp32, static int8,
// our dynamic path (scan + quantize + brgemm + C++ epilogue) and the
// alternative -- the same quantize, then a matmul with runtime output scales
// (DNNL_RUNTIME_F32_VAL), which oneDNN 2.6 only implements as gemm:jit.
// Run with OMP_NUM_THREADS set (e.g. 1 and 2).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>

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
        mm.execute(stream, {{DNNL_ARG_SRC, a_q}, {DNNL_ARG_WEIGHTS, b_mem}, {DNNL_ARG_DST, y},
                            {DNNL_ARG_ATTR_OUTPUT_SCALES, sc}});
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

}  // namespace
}  // namespace q8::kernels::testing

int main() {
  using namespace q8::kernels::testing;
  std::printf("isa %s, oneDNN %s\n", q8::kernels::CpuIsa().c_str(), q8::kernels::DnnlVersion().c_str());
  ConvBench();
  MatMulBench(1, 768, 3072);
  MatMulBench(32, 768, 3072);
  MatMulBench(128, 768, 3072);
  return 0;
}
