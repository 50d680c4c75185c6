"""Side-by-side benchmark: q8serve vs ONNX Runtime vs PyTorch, one machine, one run.

Driven by bench/side_by_side.sh (which builds, exports the models and installs
onnxruntime-node first). For every thread count, model and batch size it times

  q8 int8 / q8 fp32   q8serve's engine in-process          (bench/engine_bench)
  q8 gRPC int8        q8serve over gRPC, concurrency 1      (q8bench, p50)
  ORT fp32 / ORT QDQ  onnxruntime-node, CPU EP, on the float model and on
                      q8serve's own QDQ export of its int8 model
  ORT QDQ (ORT-style) onnxruntime-node on the QDQ model ONNX Runtime's own
                      quantize_static would write (ort_style_qdq.py: MinMax
                      calibration by ORT on the same file, asymmetric int8
                      activations, symmetric per-channel weights);
                      _u8: the same with uint8 activations (U8S8, the form
                      ONNX Runtime documents as its fast one on x86-64)
  torch fp32 / int8   Debian python3-torch; int8 = FX static PTQ, 'onednn'
  gRPC floor          bench/grpc_echo: a gRPC round trip that only waits (busy)
                      for the model's in-process time, same message sizes, same
                      threading as q8serve/q8bench; reported without the wait

Every runner gets the same intra-op thread count (OMP_NUM_THREADS for all,
plus ORT intraOpNumThreads and torch.set_num_threads), the same model and
batch, and every int8 runner calibrates on the same NAME_calibration.npy.
Each runner process reports ROUNDS windows (mean time per run of a window of
>= WINDOW seconds); runners are interleaved (the order rotates every pass)
and the table shows, per cell, the median over PASSES x ROUNDS windows.

Writes OUT/side_by_side.md (the table) and OUT/side_by_side.json (raw).
"""

import argparse
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))

DIMS = {"fashion_cnn": [1, 28, 28]}  # default: [3, 224, 224]
LABELS = {"fashion_cnn": "Fashion CNN", "resnet18": "ResNet-18", "resnet50": "ResNet-50",
          "mobilenet_v2": "MobileNetV2"}
RUNNERS = ["q8_engine", "q8_grpc", "grpc_floor", "ort_fp32", "ort_qdq", "ort_qdq_ort", "ort_qdq_ort_u8", "torch_fp32", "torch_int8"]
# Output values per sample, for the echo's response size (classifiers).
OUTPUTS = {"fashion_cnn": 10}  # default: 1000


def log(msg):
    print(f"[side_by_side {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def run(cmd, env=None, timeout=1800):
    """Runs a command, returns stdout; raises with stderr on failure."""
    p = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=timeout)
    if p.returncode != 0:
        raise SystemExit(f"command failed ({p.returncode}): {' '.join(cmd)}\n{p.stderr[-4000:]}")
    return p.stdout


def thread_env(threads):
    env = dict(os.environ)
    env["OMP_NUM_THREADS"] = str(threads)
    env.pop("ONEDNN_VERBOSE", None)
    env.pop("DNNL_VERBOSE", None)
    return env


def engine_env(threads):
    """The in-process engine waits the way q8serve does (server/omp_wait_policy.cc:
    GOMP_SPINCOUNT=1000, OMP_WAIT_POLICY=active unless set), so compute in-process and
    served compare."""
    env = thread_env(threads)
    if "GOMP_SPINCOUNT" not in env and "OMP_WAIT_POLICY" not in env:
        env["GOMP_SPINCOUNT"] = "1000"
        env["OMP_WAIT_POLICY"] = "active"
    return env


def dims(model):
    return DIMS.get(model, [3, 224, 224])


def json_lines(text):
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


class Bench:
    def __init__(self, args):
        self.a = args
        self.work = os.path.abspath(args.work_dir)
        self.models_dir = os.path.join(self.work, "models")
        self.artifacts = os.path.join(self.work, "artifacts")
        self.bin = os.path.abspath(args.build_dir)
        self.samples = {}  # (threads, model, batch, runner) -> list of ms
        self.isa = "?"
        self.dnnl = "?"
        self.rough_ms = {}  # (model, batch) -> int8 ms, 1 thread (sizes q8bench windows)
        self.errors = {}  # (model, batch, runner) -> why that runner has no number
        self.agreement = {}  # model -> torch int8 top-1 agreement with torch fp32

    # ---- preparation (untimed) ----

    def prepare_models(self):
        os.makedirs(self.models_dir, exist_ok=True)
        os.makedirs(self.artifacts, exist_ok=True)
        for m in self.a.models:
            dst = os.path.join(self.models_dir, f"{m}.onnx")
            calib = os.path.join(self.models_dir, f"{m}_calibration.npy")
            if m == "fashion_cnn":
                shutil.copyfile(os.path.join(REPO, "tests", "data", "fashion_cnn.onnx"), dst)
                if not os.path.exists(calib):
                    imgs = np.load(os.path.join(REPO, "tests", "data", "fashion_test_images.npy"))
                    np.save(calib, imgs[:200])
            else:
                src = os.path.join(self.a.torchvision_dir, f"{m}.onnx")
                if not os.path.exists(src):
                    raise SystemExit(f"{src} missing: run tools/export_torchvision.py --out {self.a.torchvision_dir}")
                shutil.copyfile(src, dst)
                if not os.path.exists(calib):
                    rng = np.random.default_rng(11)
                    np.save(calib, rng.standard_normal((32, 3, 224, 224)).astype(np.float32))
        # Quantize once (artifact + our QDQ export) and take rough int8 times.
        log("engine_bench: quantizing (cached in artifacts/) and a rough int8 timing")
        out = run([os.path.join(self.bin, "bench", "engine_bench"),
                   "--models", ",".join(f"{self.models_dir}:{m}" for m in self.a.models),
                   "--artifact_dir", self.artifacts, "--precisions", "int8", "--batches",
                   ",".join(map(str, self.a.batches)), "--rounds", "1", "--window_seconds", "0.05"],
                  env=thread_env(1))
        head = re.search(r"isa (\S+), oneDNN (\S+),", out)
        if head:
            self.isa, self.dnnl = head.group(1), head.group(2)
        for line in out.splitlines():
            cells = [c.strip() for c in line.strip("|").split("|")]
            if len(cells) == 6 and cells[0] in self.a.models:
                self.rough_ms[(cells[0], int(cells[1]))] = float(cells[3])
        for m in self.a.models:
            for runner, suffix, flags in (("ort_qdq_ort", "", []), ("ort_qdq_ort_u8", "_u8", ["--uint8"])):
                dst = os.path.join(self.artifacts, f"{m}_ort_style_qdq{suffix}.onnx")
                if runner not in self.a.runners or os.path.exists(dst):
                    continue
                log(f"ORT-style QDQ{suffix} of {m} (MinMax calibration by ONNX Runtime)")
                env = dict(os.environ, NODE_PATH=os.path.join(self.a.ort_dir, "node_modules"))
                out = run([sys.executable, os.path.join(HERE, "ort_style_qdq.py"),
                           os.path.join(self.models_dir, f"{m}.onnx"),
                           os.path.join(self.models_dir, f"{m}_calibration.npy"), dst] + flags, env=env)
                log(f"{m}: {out.strip()}")
        for m in self.a.models if any(r.startswith("torch") for r in self.a.runners) else []:
            if not all(os.path.exists(os.path.join(self.work, f"{m}_torch_{t}")) for t in
                       ("fp32.pt", "int8.pt", "prepare.json")):
                log(f"torch: FX PTQ (onednn) of {m}")
                out = run([sys.executable, os.path.join(HERE, "torch_runner.py"), "prepare", m, self.models_dir,
                           self.work], env=thread_env(os.cpu_count() or 1))
                log(out.strip())
        for m in self.a.models:
            path = os.path.join(self.work, f"{m}_torch_prepare.json")
            if os.path.exists(path):
                self.agreement[m] = json.load(open(path))["int8_fp32_top1_agreement"]

    # ---- q8serve over gRPC ----

    def free_port(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]

    def start_server(self, threads, repo):
        port = self.free_port()
        self.address = f"127.0.0.1:{port}"
        self.server_log = open(os.path.join(self.work, f"q8serve_{threads}t.log"), "w")
        self.server = subprocess.Popen([os.path.join(self.bin, "server", "q8serve"), "--model_repository", repo,
                                        "--grpc_address", self.address, "--metrics_port=0",
                                        # one stream of `threads` threads, like the in-process runs
                                        "--execution_preset=latency", f"--cpus={threads}"],
                                       env=thread_env(threads),
                                       stdout=self.server_log, stderr=subprocess.STDOUT)
        for _ in range(600):
            p = subprocess.run([self.q8ctl, "--server", self.address, "--timeout_seconds", "2", "health"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            if p.returncode == 0:
                return
            if self.server.poll() is not None:
                raise SystemExit(f"q8serve exited; see {self.server_log.name}")
            time.sleep(0.5)
        raise SystemExit("q8serve did not become ready")

    def stop_server(self):
        self.server.send_signal(signal.SIGTERM)
        self.server.wait(timeout=120)
        self.server_log.close()

    def prepare_server(self):
        """Uploads every model once (the server quantizes it the way engine_bench
        did: same calibration file, percentile, no accuracy fallback) and checks
        that its QDQ export equals engine_bench's, i.e. the same int8 model."""
        self.q8ctl = os.path.join(self.bin, "client", "q8ctl", "q8ctl")
        self.repo = os.path.join(self.work, "repo")
        shutil.rmtree(self.repo, ignore_errors=True)
        os.makedirs(self.repo)
        self.start_server(1, self.repo)
        self.same_quantization = {}
        try:
            for m in self.a.models:
                log(f"q8serve: upload {m}")
                run([self.q8ctl, "--server", self.address, "--timeout_seconds", "1800", "upload", m,
                     os.path.join(self.models_dir, f"{m}.onnx"), "--calibration",
                     os.path.join(self.models_dir, f"{m}_calibration.npy"), "--method", "percentile",
                     "--max_drop", "1", "--eval_fraction", "0"])
                exported = os.path.join(self.work, f"{m}_server_qdq.onnx")
                run([self.q8ctl, "--server", self.address, "export", m, exported])
                with open(exported, "rb") as f1, open(os.path.join(self.artifacts, f"{m}_int8_qdq.onnx"), "rb") as f2:
                    self.same_quantization[m] = f1.read() == f2.read()
        finally:
            self.stop_server()

    # ---- runners ----

    def record(self, threads, model, batch, runner, values):
        self.samples.setdefault((threads, model, batch, runner), []).extend(values)

    def run_engine(self, t, m):
        path = os.path.join(self.work, "engine.jsonl")
        if os.path.exists(path):
            os.remove(path)
        run([os.path.join(self.bin, "bench", "engine_bench"), "--models", f"{self.models_dir}:{m}",
             "--artifact_dir", self.artifacts, "--batches", ",".join(map(str, self.a.batches)),
             "--rounds", str(self.a.rounds), "--window_seconds", str(self.a.window), "--json", path],
            env=engine_env(t))
        with open(path) as f:
            for r in json_lines(f.read()):
                self.record(t, m, r["batch"], "q8_fp32", r["fp32_ms"])
                self.record(t, m, r["batch"], "q8_int8", r["int8_ms"])

    def run_grpc(self, t, m):
        for b in self.a.batches:
            window_ms = int(max(self.a.window * 1000, 3 * self.rough_ms.get((m, b), 0) / t))
            json_path = os.path.join(self.work, "q8bench.json")
            p = subprocess.run([os.path.join(self.bin, "client", "q8bench", "q8bench"), "--server", self.address,
                                "--model", m, "--batch_size", str(b), "--concurrency", "1", "--warmup_ms",
                                str(min(window_ms, 1000)), "--window_ms", str(window_ms), "--max_windows",
                                str(max(3, self.a.rounds)), "--stability_percent", "1000", "--json", json_path,
                                "--progress=false"], env=thread_env(1), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
            if p.returncode != 0:
                # A server-side failure is a finding, not a reason to lose the run.
                self.errors[(m, b, "q8_grpc", t)] = p.stderr.strip().splitlines()[-1]
                log(f"q8bench failed: {self.errors[(m, b, 'q8_grpc', t)]}")
                continue
            with open(json_path) as f:
                level = json.load(f)["levels"][0]
            # p50 of the client-side latency; p50 is robust to the occasional
            # scheduler hiccup that a window mean would absorb.
            self.record(t, m, b, "q8_grpc", [level["p50_us"] / 1000.0])
            for key in ("server_request_us", "server_compute_input_us", "server_compute_infer_us",
                        "server_compute_output_us"):
                self.record(t, m, b, "q8_grpc_" + key, [level[key] / 1000.0])

    def run_floor(self, t, m):
        """The gRPC round trip with this model's request and response sizes
        around the model's in-process compute time spent busy on the serving
        thread, minus that time: what any gRPC server that computed as fast as
        the engine in-process would add on this machine right now (a long
        wait makes the round trip itself slower here, see bench/grpc_echo.cc)."""
        for b in self.a.batches:
            work_ms = self.med(t, m, b, "q8_int8")
            if work_ms != work_ms:  # q8_engine has not run yet in this pass order
                work_ms = self.rough_ms.get((m, b), 0) / t
            work_us = int(work_ms * 1000)
            in_bytes = 4 * b * int(np.prod(dims(m)))
            out = run([os.path.join(self.bin, "bench", "grpc_echo"), "--request_bytes", str(in_bytes),
                       "--response_bytes", str(4 * b * OUTPUTS.get(m, 1000)), "--server_work_us", str(work_us),
                       "--seconds", str(max(1.0, self.a.window * self.a.rounds, 30 * work_us / 1e6))],
                      env=thread_env(1))
            self.record(t, m, b, "grpc_floor", [(json_lines(out)[0]["p50_us"] - work_us) / 1000.0])

    def run_ort(self, t, m, which):
        model = {"ort_fp32": os.path.join(self.models_dir, f"{m}.onnx"),
                 "ort_qdq": os.path.join(self.artifacts, f"{m}_int8_qdq.onnx"),
                 "ort_qdq_ort": os.path.join(self.artifacts, f"{m}_ort_style_qdq.onnx"),
                 "ort_qdq_ort_u8": os.path.join(self.artifacts, f"{m}_ort_style_qdq_u8.onnx")}[which]
        env = thread_env(t)
        env["NODE_PATH"] = os.path.join(self.a.ort_dir, "node_modules")
        out = run(["node", os.path.join(HERE, "ort_runner.js"), model, ",".join(map(str, dims(m))), str(t),
                   ",".join(map(str, self.a.batches)), str(self.a.rounds), str(self.a.window)], env=env)
        for r in json_lines(out):
            self.record(t, m, r["batch"], which, r["ms"])

    def run_torch(self, t, m, which):
        pt = os.path.join(self.work, f"{m}_torch_{which.split('_')[1]}.pt")
        out = run([sys.executable, os.path.join(HERE, "torch_runner.py"), "run", pt, ",".join(map(str, dims(m))),
                   str(t), ",".join(map(str, self.a.batches)), str(self.a.rounds), str(self.a.window)],
                  env=thread_env(t))
        for r in json_lines(out):
            if "error" in r:
                self.errors[(m, r["batch"], which, t)] = r["error"]
            else:
                self.record(t, m, r["batch"], which, r["ms"])

    def measure(self):
        for t in self.a.threads:
            self.start_server(t, self.repo)
            try:
                for p in range(self.a.passes):
                    for m in self.a.models:
                        runners = [r for r in RUNNERS if r in self.a.runners]
                        k = (p + self.a.models.index(m)) % len(runners)
                        for runner in runners[k:] + runners[:k]:
                            log(f"threads {t} pass {p + 1}/{self.a.passes} {m}: {runner}")
                            if runner == "q8_engine":
                                self.run_engine(t, m)
                            elif runner == "q8_grpc":
                                self.run_grpc(t, m)
                            elif runner == "grpc_floor":
                                self.run_floor(t, m)
                            elif runner.startswith("ort"):
                                self.run_ort(t, m, runner)
                            else:
                                self.run_torch(t, m, runner)
                            self.save_samples()
            finally:
                self.stop_server()

    def save_samples(self):
        """Raw windows so far (a failed or interrupted run keeps what it measured)."""
        with open(os.path.join(self.work, "samples_partial.json"), "w") as f:
            json.dump([{"threads": k[0], "model": k[1], "batch": k[2], "runner": k[3], "ms": v}
                       for k, v in sorted(self.samples.items())], f)

    # ---- report ----

    def med(self, t, m, b, runner):
        v = self.samples.get((t, m, b, runner))
        return statistics.median(v) if v else float("nan")

    def machine(self):
        info = open("/proc/cpuinfo").read()
        model = re.search(r"model name\s*:\s*(.*)", info).group(1).strip()
        flags = set(re.search(r"flags\s*:\s*(.*)", info).group(1).split())
        ort_pkg = os.path.join(self.a.ort_dir, "node_modules", "onnxruntime-node", "package.json")
        ort_version = json.load(open(ort_pkg))["version"] if os.path.exists(ort_pkg) else "?"
        torch_version = subprocess.run([sys.executable, "-c", "import torch; print(torch.__version__)"],
                                       stdout=subprocess.PIPE, text=True).stdout.strip()
        node_version = subprocess.run(["node", "--version"], stdout=subprocess.PIPE, text=True).stdout.strip()
        return {
            "cpu": model, "cores": os.cpu_count(),
            "avx512_vnni": "avx512_vnni" in flags, "avx512_bf16": "avx512_bf16" in flags,
            "amx": any(f.startswith("amx") for f in flags),
            "onednn_isa": self.isa, "onednn": self.dnnl, "onnxruntime_node": ort_version,
            "node": node_version, "torch": torch_version, "os": platform.platform(),
        }

    def report(self):
        mach = self.machine()
        lines = [f"Machine: {mach['cpu']}, {mach['cores']} vCPUs; AVX512-VNNI "
                 f"{'yes' if mach['avx512_vnni'] else 'no'}, AVX512-BF16 {'yes' if mach['avx512_bf16'] else 'no'}, "
                 f"AMX {'yes' if mach['amx'] else 'no'}; oneDNN {mach['onednn']} (q8serve's ISA: "
                 f"`{mach['onednn_isa']}`); onnxruntime-node {mach['onnxruntime_node']} (node {mach['node']}, "
                 f"CPU EP); PyTorch {mach['torch']} (Debian, quantized engine onednn); {mach['os']}.",
                 "",
                 f"Each cell: median of {self.a.passes} interleaved pass(es) x {self.a.rounds} windows "
                 f"(>= {self.a.window} s each), ms per batch. Ratios = peer time / q8 int8 time "
                 "(higher is better for q8serve).", ""]
        for t in self.a.threads:
            lines += [f"#### {t} thread{'s' if t > 1 else ''}", "",
                      "| model | batch | q8 int8 | q8 fp32 | q8 gRPC int8 (p50) | ORT fp32 | ORT int8 QDQ | "
                      "torch fp32 | torch int8 | × q8 fp32 | × ORT fp32 | × ORT QDQ | × torch fp32 | "
                      "× torch int8 | gRPC overhead |",
                      "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
            for m in self.a.models:
                for b in self.a.batches:
                    q = self.med(t, m, b, "q8_int8")
                    g = self.med(t, m, b, "q8_grpc")
                    cells = [self.med(t, m, b, r) for r in ("q8_fp32", "ort_fp32", "ort_qdq", "torch_fp32",
                                                             "torch_int8")]
                    fmt = lambda v: "n/a" if v != v else f"{v:.3f}" if v < 1 else f"{v:.2f}" if v < 100 else f"{v:.1f}"
                    ratio = lambda c: "n/a" if c != c else f"{c / q:.2f}×"
                    over = "n/a" if g != g else f"{(g - q) / q * 100:+.1f}% ({(g - q) * 1000:+.0f} µs)"
                    lines.append(f"| {LABELS.get(m, m)} | {b} | {fmt(q)} | {fmt(cells[0])} | {fmt(g)} | "
                                 f"{fmt(cells[1])} | {fmt(cells[2])} | {fmt(cells[3])} | {fmt(cells[4])} | "
                                 + " | ".join(ratio(c) for c in cells) + f" | {over} |")
            lines.append("")
        # Served vs in-process: the server's own compute time (ModelStatistics,
        # per request) and the client's p50 against the in-process int8 run,
        # and the served p50 against ONNX Runtime's in-process int8 QDQ run.
        # "added" = served p50 - in-process; the gRPC floor is the part of it
        # any gRPC server pays on this machine (bench/grpc_echo, same sizes,
        # busy for the in-process time before answering; that time subtracted).
        lines += ["#### Served vs in-process (int8)", "",
                  "| threads | model | batch | in-process ms | server compute ms (ModelStatistics) | "
                  "compute / in-process | served p50 ms | served / in-process | added by serving µs | "
                  "gRPC floor p50 µs | added - floor µs | ORT int8 QDQ ms | ORT QDQ / served | "
                  "ORT int8, ORT-style QDQ ms | ORT-style / served | ORT, ORT-style U8S8 ms | U8S8 / served |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for t in self.a.threads:
            for m in self.a.models:
                for b in self.a.batches:
                    q = self.med(t, m, b, "q8_int8")
                    c = self.med(t, m, b, "q8_grpc_server_compute_infer_us")
                    g = self.med(t, m, b, "q8_grpc")
                    o = self.med(t, m, b, "ort_qdq")
                    f = self.med(t, m, b, "grpc_floor")
                    os_ = self.med(t, m, b, "ort_qdq_ort")
                    u8 = self.med(t, m, b, "ort_qdq_ort_u8")
                    fmt = lambda v: "n/a" if v != v else f"{v:.3f}" if v < 1 else f"{v:.2f}" if v < 100 else f"{v:.1f}"
                    ratio = lambda x, y: "n/a" if x != x or y != y else f"{x / y:.3f}"
                    us = lambda v: "n/a" if v != v else f"{v * 1000:.0f}"
                    lines.append(f"| {t} | {LABELS.get(m, m)} | {b} | {fmt(q)} | {fmt(c)} | {ratio(c, q)} | {fmt(g)} | "
                                 f"{ratio(g, q)} | {us(g - q)} | {us(f)} | {us(g - q - f)} | {fmt(o)} | "
                                 f"{ratio(o, g)} | {fmt(os_)} | {ratio(os_, g)} | {fmt(u8)} | {ratio(u8, g)} |")
        lines.append("")
        same = ", ".join(f"{LABELS.get(m, m)} {'yes' if v else 'NO'}" for m, v in self.same_quantization.items())
        for (m, b, r, t), e in sorted(self.errors.items()):
            lines.append(f"n/a: {r} on {LABELS.get(m, m)} batch {b}, {t} thread(s): `{e}`.")
        if self.agreement:
            lines.append("PyTorch int8 (FX default onednn qconfig) top-1 agreement with PyTorch fp32 on the calibration "
                         "inputs: " + ", ".join(f"{LABELS.get(m, m)} {v:.2f}" for m, v in self.agreement.items())
                         + " (random-weight networks have small logit margins; speed does not depend on it).")
        lines.append(f"Server's int8 model identical to engine_bench's (byte-equal QDQ exports): {same}.")
        return "\n".join(lines) + "\n", mach


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build_dir", default=os.path.join(REPO, "build"))
    ap.add_argument("--work_dir", default=None, help="default: BUILD_DIR/side_by_side")
    ap.add_argument("--torchvision_dir", default=None, help="default: BUILD_DIR/torchvision")
    ap.add_argument("--ort_dir", required=True, help="npm prefix holding node_modules/onnxruntime-node")
    ap.add_argument("--models", default="fashion_cnn,resnet18,resnet50,mobilenet_v2")
    ap.add_argument("--batches", default="1,16")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--passes", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--window", type=float, default=0.3)
    ap.add_argument("--runners", default=",".join(RUNNERS),
                    help="subset of " + ",".join(RUNNERS) + " (e.g. q8_engine,q8_grpc,ort_qdq: no PyTorch)")
    ap.add_argument("--quick", action="store_true",
                    help="Fashion CNN and ResNet-50, batch 1, 1 thread, 1 pass (~3 min)")
    a = ap.parse_args()
    if a.quick:
        a.models, a.batches, a.threads, a.passes, a.window = "fashion_cnn,resnet50", "1", "1", 1, 0.2
    a.runners = [r for r in a.runners.split(",") if r]
    if not a.runners or any(r not in RUNNERS for r in a.runners):
        raise SystemExit(f"--runners: pick from {','.join(RUNNERS)}")
    a.models = [m for m in a.models.split(",") if m]
    a.batches = [int(b) for b in a.batches.split(",")]
    a.threads = [int(t) for t in a.threads.split(",")]
    a.work_dir = a.work_dir or os.path.join(a.build_dir, "side_by_side")
    a.torchvision_dir = a.torchvision_dir or os.path.join(a.build_dir, "torchvision")
    start = time.time()
    load_start = open("/proc/loadavg").read().split()[:3]
    b = Bench(a)
    b.prepare_models()
    b.prepare_server()
    b.measure()
    text, mach = b.report()
    minutes = (time.time() - start) / 60
    load_end = open("/proc/loadavg").read().split()[:3]
    text += (f"\nTotal run time {minutes:.1f} min; load average (1/5/15 min) at start {'/'.join(load_start)}, "
             f"at end {'/'.join(load_end)} (other processes share this machine; ratios within a row come from "
             f"interleaved runs, absolute times are inflated by that load).\n")
    with open(os.path.join(b.work, "side_by_side.md"), "w") as f:
        f.write(text)
    with open(os.path.join(b.work, "side_by_side.json"), "w") as f:
        json.dump({"machine": mach, "args": {k: v for k, v in vars(a).items()},
                   "samples_ms": [{"threads": k[0], "model": k[1], "batch": k[2], "runner": k[3], "ms": v}
                                  for k, v in sorted(b.samples.items())]}, f, indent=1)
    print(text)


if __name__ == "__main__":
    main()
