// ONNX Runtime (npm onnxruntime-node, CPU execution provider) runner for
// bench/side_by_side.py: times one ONNX model at the given batch sizes with
// the given intra-op thread count and prints one JSON line per batch:
//   {"runner":"ort","model":PATH,"batch":B,"ms":[window means...]}
// Same procedure as engine_bench: warm-up, then `rounds` windows of at least
// `window` seconds (and 2 runs), the mean time per run of each window.
//
// Usage: node ort_runner.js MODEL.onnx DIMS(3,224,224) THREADS BATCHES(1,16) ROUNDS WINDOW_S
//   DIMS: the input's dims without the batch dim, or npy:A.npy,B.npy for a
//   model with several inputs (float32 or int64 .npy, one per input in the
//   model's order; a batch takes their first rows, cycled), as engine_bench
//   does with NAME_input<k>.npy.
// NODE_PATH must reach the installed onnxruntime-node package.
'use strict';
const ort = require('onnxruntime-node');

function normal(n, seed) {
  // Deterministic N(0,1) data (Box-Muller over a small LCG): the values do
  // not matter for speed, only that they are finite and not all zero.
  const out = new Float32Array(n);
  let s = seed >>> 0;
  const u = () => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return (s + 1) / 4294967297; };
  for (let i = 0; i < n; i += 2) {
    const r = Math.sqrt(-2 * Math.log(u())), t = 2 * Math.PI * u();
    out[i] = r * Math.cos(t);
    if (i + 1 < n) out[i + 1] = r * Math.sin(t);
  }
  return out;
}

const { readNpy, rows } = require('./npy.js');

async function main() {
  const [model, dimsArg, threads, batches, rounds, windowS] = process.argv.slice(2);
  const session = await ort.InferenceSession.create(model, {
    executionProviders: ['cpu'],
    intraOpNumThreads: Number(threads),
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  const files = dimsArg.startsWith('npy:') ? dimsArg.slice(4).split(',').map(readNpy) : null;
  for (const b of batches.split(',').map(Number)) {
    const feeds = {};
    if (files) {
      session.inputNames.forEach((name, k) => { feeds[name] = rows(files[k], b); });
    } else {
      const shape = [b, ...dimsArg.split(',').map(Number)];
      feeds[session.inputNames[0]] = new ort.Tensor('float32', normal(shape.reduce((a, c) => a * c, 1), 7), shape);
    }
    for (let i = 0; i < 3; ++i) await session.run(feeds);
    const ms = [];
    for (let r = 0; r < Number(rounds); ++r) {
      let n = 0;
      const start = process.hrtime.bigint();
      let elapsed = 0;
      while (elapsed < Number(windowS) || n < 2) {
        await session.run(feeds);
        ++n;
        elapsed = Number(process.hrtime.bigint() - start) / 1e9;
      }
      ms.push(elapsed * 1000 / n);
    }
    console.log(JSON.stringify({ runner: 'ort', model, batch: b, ms }));
  }
}

main().catch((e) => { console.error(`ort_runner: ${e.stack || e}`); process.exit(1); });
