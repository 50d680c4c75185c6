"""Where the time of q8serve's int8 plan goes, by oneDNN primitive kind.

Runs bench/engine_bench in profile mode (--profile_runs) twice per model and
batch, both with OMP_NUM_THREADS as given (default 1):
  1. with ONEDNN_VERBOSE=1: oneDNN prints one line per executed primitive
     with its kind, implementation, memory descriptors, shape and time (ms);
     only lines between engine_bench's "# profile begin/end" markers count;
  2. without it: the clean wall time per run.
Wall time minus the sum of primitive times is what runs outside oneDNN
(engine code between primitives, plus the cost of the verbose timing itself,
so treat it as an upper bound).

Reorders are split by what they do, from their src/dst data types:
quantize (f32 -> s8/u8), dequantize (s8/u8 -> f32), requantize (int8 ->
int8 with a scale) and layout (same type). Convolutions are split into
depthwise (groups == channels) and dense.

Usage:
  /usr/bin/python3 bench/profile_int8.py [--build_dir build] [--models_dir DIR]
      [--models resnet50,mobilenet_v2] [--batches 1,16] [--threads 1] [--top 8]
  MODELS_DIR holds NAME.onnx (+ NAME_calibration.npy); side_by_side.sh's
  BUILD_DIR/side_by_side/models is used by default, with its artifacts/ (so
  the int8 model is the one the side-by-side table measured).
"""

import argparse
import collections
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
INT8 = ("s8", "u8")


def engine_bench(args, model, batch, runs, verbose):
    env = dict(os.environ)
    env["OMP_NUM_THREADS"] = str(args.threads)
    env.pop("DNNL_VERBOSE", None)
    if verbose:
        env["ONEDNN_VERBOSE"] = "1"
    else:
        env.pop("ONEDNN_VERBOSE", None)
    cmd = [os.path.join(args.build_dir, "bench", "engine_bench"), "--models", f"{args.models_dir}:{model}",
           "--batches", str(batch), "--precisions", "int8", "--profile_runs", str(runs)]
    if args.artifact_dir:
        cmd += ["--artifact_dir", args.artifact_dir]
    p = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        sys.exit(f"engine_bench failed: {p.stderr[-3000:]}")
    return p.stdout


def marked(out):
    """Lines between the profile markers and the wall ms per run."""
    lines, inside, wall = [], False, None
    for line in out.splitlines():
        if line.startswith("# profile begin"):
            inside = True
        elif line.startswith("# profile end"):
            parts = line.split()
            wall = float(parts[-1]) / int(parts[-2])
            inside = False
        elif inside:
            lines.append(line)
    return lines, wall


def dtypes(mds):
    src = re.search(r"src_(\w+?):", mds)
    dst = re.search(r"dst_(\w+?):", mds)
    return (src.group(1) if src else "?"), (dst.group(1) if dst else "?")


def category(kind, mds, problem):
    if kind == "convolution":
        # oneDNN 2.6 writes grouped shapes as "g144mb1_ic144oc144_...".
        g, ic = re.search(r"g(\d+)", problem), re.search(r"ic(\d+)", problem)
        depthwise = g and ic and g.group(1) == ic.group(1) and int(g.group(1)) > 1
        return "conv depthwise" if depthwise else "conv"
    if kind in ("inner_product", "matmul"):
        return "matmul / inner product"
    if kind == "reorder":
        s, d = dtypes(mds)
        if s == "f32" and d in INT8:
            return "reorder: quantize f32->int8"
        if s in INT8 and d == "f32":
            return "reorder: dequantize int8->f32"
        if s in INT8 and d in INT8:
            return "reorder: int8->int8 (requantize/layout)"
        return f"reorder: layout {s}->{d}"
    return kind


def profile(args, model, batch):
    runs = args.runs_b1 if batch == 1 else args.runs_big
    lines, _ = marked(engine_bench(args, model, batch, runs, verbose=True))
    _, wall = marked(engine_bench(args, model, batch, runs, verbose=False))
    by_cat = collections.defaultdict(lambda: [0.0, 0])
    by_prim = collections.defaultdict(lambda: [0.0, 0])
    by_conv_impl = collections.defaultdict(lambda: [0.0, 0])
    for line in lines:
        if not line.startswith(("onednn_verbose,exec", "dnnl_verbose,exec")):
            continue
        f = line.split(",")
        kind, impl, mds, problem, ms = f[3], f[4], f[6], f[-2], float(f[-1])
        cat = category(kind, mds, problem)
        by_cat[cat][0] += ms / runs
        by_cat[cat][1] += 1
        s, d = dtypes(mds)
        key = (cat, impl, f"{s}->{d}", problem)
        by_prim[key][0] += ms / runs
        by_prim[key][1] += 1
        if kind == "convolution":
            by_conv_impl[impl][0] += ms / runs
            by_conv_impl[impl][1] += 1
    total = sum(v[0] for v in by_cat.values())
    return {"wall": wall, "prims": total, "by_cat": by_cat, "by_prim": by_prim, "runs": runs,
            "by_conv_impl": by_conv_impl}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build_dir", default=os.path.join(REPO, "build"))
    ap.add_argument("--models_dir", default=None)
    ap.add_argument("--artifact_dir", default=None)
    ap.add_argument("--models", default="resnet50,mobilenet_v2")
    ap.add_argument("--batches", default="1,16")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--runs_b1", type=int, default=20)
    ap.add_argument("--runs_big", type=int, default=3)
    ap.add_argument("--top", type=int, default=8)
    args = ap.parse_args()
    args.build_dir = os.path.abspath(args.build_dir)
    args.models_dir = args.models_dir or os.path.join(args.build_dir, "side_by_side", "models")
    if args.artifact_dir is None:
        cand = os.path.join(args.build_dir, "side_by_side", "artifacts")
        args.artifact_dir = cand if os.path.isdir(cand) else ""

    out = []
    for model in args.models.split(","):
        for batch in [int(b) for b in args.batches.split(",")]:
            r = profile(args, model, batch)
            out.append(f"#### {model}, batch {batch}, {args.threads} thread(s): wall {r['wall']:.3f} ms/run, "
                       f"oneDNN primitives {r['prims']:.3f} ms/run (verbose timing), outside oneDNN "
                       f"{max(r['wall'] - r['prims'], 0):.3f} ms")
            out.append("")
            out.append("| kind | ms/run | share of wall | primitives/run |")
            out.append("|---|---|---|---|")
            for cat, (ms, n) in sorted(r["by_cat"].items(), key=lambda kv: -kv[1][0]):
                out.append(f"| {cat} | {ms:.3f} | {ms / r['wall'] * 100:.1f}% | {n / r['runs']:.0f} |")
            out.append(f"| outside oneDNN | {max(r['wall'] - r['prims'], 0):.3f} | "
                       f"{max(r['wall'] - r['prims'], 0) / r['wall'] * 100:.1f}% | |")
            out.append("")
            out.append("Convolutions by implementation: " + ", ".join(
                f"`{impl}` {ms:.3f} ms (x{n / r['runs']:.0f})"
                for impl, (ms, n) in sorted(r["by_conv_impl"].items(), key=lambda kv: -kv[1][0])))
            out.append("")
            out.append(f"Top {args.top} non-conv primitives (kind, implementation, types, shape):")
            out.append("")
            top = [(k, v) for k, v in r["by_prim"].items() if not k[0].startswith(("conv", "matmul"))]
            for (cat, impl, types, problem), (ms, n) in sorted(top, key=lambda kv: -kv[1][0])[:args.top]:
                out.append(f"- {ms:.3f} ms ({ms / r['wall'] * 100:.1f}%), x{n / r['runs']:.0f}: {cat}, `{impl}`, "
                           f"{types}, `{problem}`")
            out.append("")
    text = "\n".join(out)
    print(text)


if __name__ == "__main__":
    main()
