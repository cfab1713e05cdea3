// Shared helpers for the @huggingface/hub compatibility tests.
// Environment (set by tests/integration/compat.sh):
//   BUCKETS_URL        hub base URL of a running bucketd, e.g. http://127.0.0.1:PORT (127.0.0.1 only)
//   BUCKETS_NS         namespace (user name) owning BUCKETS_TOKEN
//   BUCKETS_TOKEN      that user's write token (hf_...)
//   BUCKETS_TOKEN2     optional: a second user's token (for "other user" checks)
//   BUCKETS_DATA_DIR   optional: the server's data dir (stored-bytes accounting)
//   BUCKETS_BLOB_LIST  optional: a program printing "xorbs/<64-hex> BYTES" lines of the stored xorbs
//                      (a store without local files; used instead of BUCKETS_DATA_DIR)
//   HF_BIN, XETSUM_BIN paths of build/bin/hf and build/bin/xetsum (cross-client checks)
//   COMPAT_TMP         scratch dir
//   COMPAT_LOG         optional: append one line per HTTP request the client sends
import { createHash } from "node:crypto";
import { execFileSync } from "node:child_process";
import { appendFileSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";

export const env = {
  url: process.env.BUCKETS_URL ?? "",
  ns: process.env.BUCKETS_NS ?? "",
  token: process.env.BUCKETS_TOKEN ?? "",
  token2: process.env.BUCKETS_TOKEN2 ?? "",
  dataDir: process.env.BUCKETS_DATA_DIR ?? "",
  blobList: process.env.BUCKETS_BLOB_LIST ?? "",
  hf: process.env.HF_BIN ?? "",
  xetsum: process.env.XETSUM_BIN ?? "",
  tmp: process.env.COMPAT_TMP ?? "/tmp",
  log: process.env.COMPAT_LOG ?? "",
};

export function assertLoopback() {
  const u = new URL(env.url);
  if (u.hostname !== "127.0.0.1") throw new Error(`BUCKETS_URL must be on 127.0.0.1, got ${env.url}`);
}

/** Deterministic pseudo-random bytes (xorshift32), incompressible like model weights. */
export function randomBytes(n, seed) {
  const words = new Uint32Array(Math.ceil(n / 4));
  let x = seed >>> 0 || 0x9e3779b9;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    words[i] = x;
  }
  return new Uint8Array(words.buffer, 0, n);
}

/** Compressible bytes: slowly varying float32 values (the client picks LZ4 or BG4+LZ4 for these). */
export function floatBytes(n, seed) {
  const f = new Float32Array(Math.ceil(n / 4));
  let v = seed;
  for (let i = 0; i < f.length; i++) {
    v = (v * 1103515245 + 12345) >>> 0;
    f[i] = Math.sin(i / 1000) + (v % 16) / 4096;
  }
  return new Uint8Array(f.buffer, 0, n);
}

/**
 * A fetch that adds `X-Buckets-Region: region` to every request the client sends: what
 * HF_BUCKETS_REGION does for hf, Python and fsspec (docs/regions.md). The official client takes it
 * as its `fetch` option (repo calls, the Xet token, reconstructions, xorb ranges all go through it).
 */
export function regionFetch(region, inner = fetch) {
  return (input, init = {}) => {
    const headers = new Headers(init.headers ?? (input instanceof Request ? input.headers : undefined));
    headers.set("X-Buckets-Region", region);
    return inner(input, { ...init, headers });
  };
}

export const sha256 = (u8) => createHash("sha256").update(u8).digest("hex");

export async function blobBytes(blob) {
  return new Uint8Array(await blob.arrayBuffer());
}

/**
 * A fetch wrapper that records every request the client sends (method, path, status, sizes,
 * selected headers) so tests can assert on the protocol (dedup queries, xorb bytes).
 */
export function makeRecorder() {
  const calls = [];
  const rec = async (input, init = {}) => {
    const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
    const method = String(init.method ?? (typeof input === "object" && input.method ? input.method : "GET")).toUpperCase();
    let reqBytes = 0;
    const body = init.body;
    if (body instanceof Uint8Array || body instanceof ArrayBuffer) reqBytes = body.byteLength;
    else if (typeof body === "string") reqBytes = Buffer.byteLength(body);
    else if (body instanceof Blob) reqBytes = body.size;
    const headers = new Headers(init.headers ?? {});
    const entry = {
      method,
      url,
      path: new URL(url).pathname + new URL(url).search,
      reqBytes,
      range: headers.get("range") ?? undefined,
      auth: headers.has("authorization"),
      status: 0,
    };
    calls.push(entry);
    let resp;
    try {
      resp = await fetch(input, init);
    } catch (e) {
      entry.status = -1;
      entry.error = String(e);
      logLine(entry);
      throw e;
    }
    entry.status = resp.status;
    entry.contentType = resp.headers.get("content-type") ?? undefined;
    entry.contentRange = resp.headers.get("content-range") ?? undefined;
    entry.errorCode = resp.headers.get("x-error-code") ?? undefined;
    logLine(entry);
    return resp;
  };
  rec.calls = calls;
  rec.reset = () => (calls.length = 0);
  return rec;
}

function logLine(e) {
  if (!env.log) return;
  const extra = [e.range && `range=${e.range}`, e.contentType && `ct=${e.contentType}`,
    e.contentRange && `cr=${e.contentRange}`, e.errorCode && `xec=${e.errorCode}`, e.error]
    .filter(Boolean).join(" ");
  appendFileSync(env.log, `${e.method} ${e.path} auth=${e.auth ? 1 : 0} req=${e.reqBytes} -> ${e.status} ${extra}\n`);
}

/** Sum of sizes of files under dir whose relative path matches re (stored-bytes accounting). */
export function storedBytes(dir, re) {
  let total = 0, count = 0;
  if (env.blobList) { // a store without local files (postgresql+s3): its S3 listing, "xorbs/<hex> BYTES" lines
    for (const line of execFileSync(env.blobList, ["xorbs"], { encoding: "utf8" }).split("\n")) {
      const m = /^(xorbs\/([0-9a-f]{2})([0-9a-f]{2})[0-9a-f]{60}) ([0-9]+)$/.exec(line);
      // the same key spelled as the file layout, so one pattern serves both stores
      if (m && re.test(`xorbs/${m[2]}/${m[3]}/${m[1].slice(6)}`)) { total += Number(m[4]); count++; }
    }
    return { total, count };
  }
  const walk = (d, rel) => {
    for (const ent of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, ent.name), r = rel ? `${rel}/${ent.name}` : ent.name;
      if (ent.isDirectory()) walk(p, r);
      else if (ent.isFile() && re.test(r)) { total += statSync(p).size; count++; }
    }
  };
  walk(dir, "");
  return { total, count };
}

/** Status code carried by a HubApiError (or undefined). */
export function statusOf(err) {
  return err && typeof err === "object" && "statusCode" in err ? err.statusCode : undefined;
}

/** Xet file hash computed with the client's own chunker/hasher (@huggingface/xetchunk-wasm). */
export async function jsXetHash(bytes) {
  const x = await import("@huggingface/xetchunk-wasm");
  const chunker = x.createChunker(64 * 1024);
  const chunks = [];
  for (let off = 0; off < bytes.length; off += 4 * 1024 * 1024) {
    chunks.push(...x.nextBlock(chunker, bytes.subarray(off, off + 4 * 1024 * 1024)));
  }
  const last = x.finalize(chunker);
  if (last) chunks.push(last);
  return x.hashToHex(x.fileHash(chunks));
}

const DATA_KEY = new Uint8Array([102, 151, 245, 119, 91, 149, 80, 222, 49, 53, 203, 172, 165, 151, 24, 28, 157, 228,
  33, 16, 155, 235, 43, 88, 180, 208, 176, 75, 147, 173, 242, 41]);
const MIN_CHUNK = 8192, MAX_CHUNK = 131072;

/**
 * Chunk lengths by the reference rule (xet.md §1, xet-core after the "hash warm-up" fix): h reset to 0
 * at every boundary, a match only counts once the chunk has >= 8192 bytes, forced cut at 131072.
 * Own 64-bit gear hash in two 32-bit halves, table from gearhash-jit (the client's own table).
 */
export async function referenceChunkLengths(bytes) {
  const { GEAR_TABLE } = await import("gearhash-jit");
  const tlo = new Uint32Array(256), thi = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    tlo[i] = Number(GEAR_TABLE[i] & 0xffffffffn);
    thi[i] = Number(GEAR_TABLE[i] >> 32n);
  }
  const out = [];
  let start = 0, lo = 0, hi = 0;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    const nlo = ((lo << 1) >>> 0) + tlo[b];
    hi = ((((hi << 1) | (lo >>> 31)) >>> 0) + thi[b] + (nlo > 0xffffffff ? 1 : 0)) >>> 0;
    lo = nlo >>> 0;
    const size = i + 1 - start;
    if ((size >= MIN_CHUNK && (hi & 0xffff0000) === 0) || size === MAX_CHUNK) {
      out.push(size);
      start = i + 1;
      lo = hi = 0;
    }
  }
  if (start < bytes.length) out.push(bytes.length - start);
  return out;
}

/** Chunk lengths as the JS client (@huggingface/xetchunk-wasm) cuts them. */
export async function jsChunkLengths(bytes) {
  const x = await import("@huggingface/xetchunk-wasm");
  const chunker = x.createChunker(64 * 1024);
  const out = x.nextBlock(chunker, bytes).map((c) => c.length);
  const last = x.finalize(chunker);
  if (last) out.push(last.length);
  return out;
}

/** Xet file hash of bytes cut by the reference rule, hashed with the client's own BLAKE3 and merkle code. */
export async function referenceXetHash(bytes) {
  const x = await import("@huggingface/xetchunk-wasm");
  const { createKeyed } = await import("@huggingface/blake3-jit");
  const chunks = [];
  let off = 0;
  for (const len of await referenceChunkLengths(bytes)) {
    chunks.push({ hash: createKeyed(DATA_KEY).update(bytes.subarray(off, off + len)).finalize(32), length: len });
    off += len;
  }
  return x.hashToHex(x.fileHash(chunks));
}
