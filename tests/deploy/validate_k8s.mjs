// Schema validation of rendered Kubernetes objects with the npm
// kubernetes-models packages (JSON schemas of the Kubernetes API,
// prometheus-operator and KEDA kinds). Objects arrive as JSON files, each a
// list of objects (check_k8s.sh renders the kustomizations and converts them).
// KServe kinds have no npm models: check_k8s_objects.py checks them.
// Every other kind is an error, so nothing goes unchecked by accident.
// Usage: node validate_k8s.mjs FILE.json...   (run from the npm cache dir)
import { readFileSync } from "node:fs";

const packages = {
  "": "kubernetes-models",
  "monitoring.coreos.com": "@kubernetes-models/prometheus-operator",
  "keda.sh": "@kubernetes-models/keda",
};
const checkedElsewhere = new Set(["serving.kserve.io"]);

async function modelFor(apiVersion, kind) {
  const slash = apiVersion.indexOf("/");
  const group = slash < 0 ? "" : apiVersion.slice(0, slash);
  const pkg = packages[group] ?? (group.endsWith(".k8s.io") || !group.includes(".") ? "kubernetes-models" : null);
  if (pkg === null) return null;
  const mod = await import(`${pkg}/${apiVersion}/${kind}`);
  return mod[kind];
}

async function validate(obj) {
  const Model = await modelFor(obj.apiVersion, obj.kind);
  if (Model === null) throw new Error(`no schema for ${obj.apiVersion} ${obj.kind}`);
  new Model(obj).validate();  // throws with the failing paths
}

// The validator must be able to fail: a port given as a string is rejected.
try {
  await validate({ apiVersion: "apps/v1", kind: "Deployment", metadata: { name: "x" },
    spec: { selector: {}, template: { spec: { containers: [{ name: "c", ports: [{ containerPort: "8001" }] }] } } } });
  console.error("self-test: an invalid Deployment passed validation");
  process.exit(2);
} catch (e) { /* expected */ }

let failures = 0, checked = 0, skipped = 0;
for (const file of process.argv.slice(2)) {
  for (const obj of JSON.parse(readFileSync(file, "utf8"))) {
    const group = obj.apiVersion.includes("/") ? obj.apiVersion.split("/")[0] : "";
    const what = `${file}: ${obj.apiVersion} ${obj.kind} ${obj.metadata?.name}`;
    if (checkedElsewhere.has(group)) { skipped++; continue; }
    try {
      await validate(obj);
      checked++;
    } catch (e) {
      failures++;
      console.error(`INVALID ${what}: ${e.message}`);
    }
  }
}
console.log(`kubernetes-models: ${checked} objects valid, ${failures} invalid, ${skipped} KServe objects checked separately`);
process.exit(failures ? 1 : 0);
