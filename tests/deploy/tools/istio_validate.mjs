// Validate Istio objects against the Istio CRD schemas, strictly.
//
// Usage: node istio_validate.mjs NODE_MODULES < objects.json > results.json
// stdin: a JSON array of Kubernetes objects (Istio kinds). stdout: a JSON array, one entry per
// object: {"errors": ["path: message", ...]}; empty errors means valid.
//
// The schemas come from @kubernetes-models/istio (generated from Istio's CRDs, compiled to
// validator functions). Istio's CRDs do not forbid unknown fields (the API server prunes them
// silently), so a misspelt field would pass. To be strict, each object is wrapped in a Proxy
// that records which keys the validator looks up: a key the schema never asks about is unknown.
// An object the validator iterates over (a map such as labels or a selector) accepts any key.
import { pathToFileURL } from "node:url";
import { readFileSync } from "node:fs";
import { join } from "node:path";

const nodeModules = process.argv[2];
const schemaDir = join(nodeModules, "@kubernetes-models", "istio", "_schemas");

function schemaFile(apiVersion, kind) {
  const [group, version] = apiVersion.split("/");
  const camel = group
    .split(".")
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join("");
  return join(schemaDir, `${camel}${version.charAt(0).toUpperCase()}${version.slice(1)}${kind}.js`);
}

function track(value, path, seen) {
  if (value === null || typeof value !== "object") return value;
  const record = { path, value, looked: new Set(), iterated: false };
  seen.push(record);
  const copy = Array.isArray(value)
    ? value.map((item, i) => track(item, `${path}/${i}`, seen))
    : Object.fromEntries(Object.entries(value).map(([k, v]) => [k, track(v, `${path}/${k}`, seen)]));
  return new Proxy(copy, {
    get(target, key, receiver) {
      if (typeof key === "string") record.looked.add(key);
      return Reflect.get(target, key, receiver);
    },
    has(target, key) {
      if (typeof key === "string") record.looked.add(key);
      return Reflect.has(target, key);
    },
    ownKeys(target) {
      record.iterated = true;
      return Reflect.ownKeys(target);
    },
  });
}

async function check(object) {
  const errors = [];
  let module;
  try {
    module = await import(pathToFileURL(schemaFile(object.apiVersion, object.kind)).href);
  } catch {
    return [`no Istio schema for ${object.apiVersion} ${object.kind}`];
  }
  const seen = [];
  const wrapped = track(object, "", seen);
  if (!module.validate(wrapped)) {
    for (const error of module.validate.errors) errors.push(`${error.instancePath || "/"}: ${error.message ?? `${error.keyword} ${JSON.stringify(error.params)}`}`);
  }
  for (const record of seen) {
    if (Array.isArray(record.value) || record.iterated) continue;
    for (const key of Object.keys(record.value)) {
      if (!record.looked.has(key)) errors.push(`${record.path || "/"}: unknown field "${key}"`);
    }
  }
  return errors;
}

const objects = JSON.parse(readFileSync(0, "utf8"));
const results = [];
for (const object of objects) results.push({ errors: await check(object) });
process.stdout.write(JSON.stringify(results));
