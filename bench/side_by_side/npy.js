// .npy reading for the ONNX Runtime runners (ort_runner.js, ort_calibrate.js).
'use strict';
const ort = require('onnxruntime-node');

// A little-endian .npy (version 1/2, C order) as {dtype, shape, data}.
function readNpy(path) {
  const buf = require('fs').readFileSync(path);
  const major = buf[6];
  const headerLen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const start = (major === 1 ? 10 : 12) + headerLen;
  const header = buf.toString('latin1', major === 1 ? 10 : 12, start);
  const descr = /'descr':\s*'([^']+)'/.exec(header)[1];
  const shape = /'shape':\s*\(([^)]*)\)/.exec(header)[1].split(',').filter((s) => s.trim()).map(Number);
  const bytes = buf.buffer.slice(buf.byteOffset + start, buf.byteOffset + buf.length);
  if (descr === '<i8') return { dtype: 'int64', shape, data: new BigInt64Array(bytes) };
  if (descr === '<f4') return { dtype: 'float32', shape, data: new Float32Array(bytes) };
  throw new Error(`${path}: unsupported dtype ${descr}`);
}

// b rows from row `first` on (cycled) of an npy array as an ort.Tensor.
function rows(npy, b, first = 0) {
  const row = npy.data.length / npy.shape[0];
  const out = new npy.data.constructor(row * b);
  for (let r = 0; r < b; ++r) { const k = (first + r) % npy.shape[0]; out.set(npy.data.subarray(k * row, (k + 1) * row), r * row); }
  return new ort.Tensor(npy.dtype, out, [b, ...npy.shape.slice(1)]);
}

module.exports = { readNpy, rows };
