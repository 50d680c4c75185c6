// MinMax calibration with ONNX Runtime, as its own static quantizer does it:
// runs MODEL (whose graph outputs were extended with every activation by
// ort_style_qdq.py) on each row of CALIB.npy and prints one JSON object
// {"ranges": {tensor: [min, max]}, "top1": [argmax of the first output per row]}.
//
// Usage: node ort_calibrate.js MODEL.onnx CALIB.npy
// NODE_PATH must reach the installed onnxruntime-node package.
'use strict';
const ort = require('onnxruntime-node');
const { readNpy, rows } = require('./npy.js');

async function main() {
  const [model, calib] = process.argv.slice(2);
  const session = await ort.InferenceSession.create(model, { executionProviders: ['cpu'] });
  const npy = readNpy(calib);
  const ranges = {};
  const top1 = [];
  for (let r = 0; r < npy.shape[0]; ++r) {
    const out = await session.run({ [session.inputNames[0]]: rows(npy, 1, r) });
    for (const name of session.outputNames) {
      const data = out[name].data;
      let lo = Infinity, hi = -Infinity;
      for (let i = 0; i < data.length; ++i) { if (data[i] < lo) lo = data[i]; if (data[i] > hi) hi = data[i]; }
      const seen = ranges[name];
      ranges[name] = seen ? [Math.min(seen[0], lo), Math.max(seen[1], hi)] : [lo, hi];
    }
    const first = out[session.outputNames[0]].data;
    let best = 0;
    for (let i = 1; i < first.length; ++i) if (first[i] > first[best]) best = i;
    top1.push(best);
  }
  console.log(JSON.stringify({ ranges, top1 }));
}

main().catch((e) => { console.error(`ort_calibrate: ${e.stack || e}`); process.exit(1); });
