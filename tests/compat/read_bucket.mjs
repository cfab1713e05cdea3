// The official @huggingface/hub client reading a bucket: lists it recursively and downloads every
// file. Used against one node of a cluster (tests/integration/cluster.sh) and as a client in one region
// (tests/integration/regions.sh): with REGION it sends `X-Buckets-Region: REGION` on every request
// through the client's `fetch` option (the client has no region setting of its own; REGION absent or ""
// sends none, e.g. for a node started with `bucketd serve --region`).
//   node read_bucket.mjs URL TOKEN REPO EXPECT_FILE [REGION]
// EXPECT_FILE: lines "sha256 path" of the files the bucket must hold (uploaded through another node).
// Prints one line per check ("ok NAME" / "FAIL NAME — detail") and, last, "hosts: h1 h2 ..." — the
// host:port of every URL the client fetched (so the caller can prove where the bytes came from).
// Exit status 0 iff every check passed.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import * as hub from "@huggingface/hub";

const [url, token, repo, expectFile, region = ""] = process.argv.slice(2);
if (!url || !token || !repo || !expectFile) {
  console.error("usage: node read_bucket.mjs URL TOKEN REPO EXPECT_FILE [REGION]");
  process.exit(2);
}
if (new URL(url).hostname !== "127.0.0.1") {
  console.error(`URL must be on 127.0.0.1, got ${url}`);
  process.exit(2);
}
const want = new Map();
for (const line of readFileSync(expectFile, "utf8").split("\n")) {
  const m = /^([0-9a-f]{64}) (.+)$/.exec(line);
  if (m) want.set(m[2], m[1]);
}
const hosts = new Set();
const fetchRec = (input, init = {}) => {
  const u = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
  hosts.add(new URL(u).host);
  if (!region) return fetch(input, init);
  const headers = new Headers(init.headers ?? (input instanceof Request ? input.headers : undefined));
  headers.set("X-Buckets-Region", region);
  return fetch(input, { ...init, headers });
};
const opts = { hubUrl: url, accessToken: token, fetch: fetchRec };
let failed = 0;
const ok = (n) => console.log(`ok   ${n}`);
const fail = (n, d) => { failed++; console.log(`FAIL ${n} — ${d}`); };

try {
  const listed = new Map();
  for await (const e of hub.listFiles({ repo, recursive: true, ...opts })) {
    if (e.type === "file") listed.set(e.path, e.size);
  }
  const missing = [...want.keys()].filter((p) => !listed.has(p));
  if (missing.length === 0 && listed.size === want.size) ok(`js listFiles shows the ${want.size} files`);
  else fail("js listFiles shows the uploaded files", `missing [${missing}] listed [${[...listed.keys()]}]`);
  for (const [path, sha] of want) {
    try {
      const blob = await hub.downloadFile({ repo, path, ...opts });
      if (!blob) { fail(`js downloadFile ${path}`, "null"); continue; }
      const got = createHash("sha256").update(new Uint8Array(await blob.arrayBuffer())).digest("hex");
      if (got === sha) ok(`js downloadFile ${path} byte-identical${region ? ` (region ${region})` : ""}`);
      else fail(`js downloadFile ${path} byte-identical`, `sha256 ${got} != ${sha}`);
    } catch (e) {
      fail(`js downloadFile ${path}`, e?.message ?? String(e));
    }
  }
} catch (e) {
  fail("js client run", e?.stack ?? String(e));
}
console.log(`hosts: ${[...hosts].join(" ")}`);
process.exit(failed ? 1 : 0);
