// Uploads one local file to a bucket through @huggingface/hub and prints
// "<bytes> <seconds>" (wall clock of the upload call only). Used by bench/run-compat.sh.
//   node bench-upload.mjs FILE BUCKET PATH   (env BUCKETS_URL, BUCKETS_TOKEN)
import { readFileSync } from "node:fs";
import { uploadFile, createRepo, repoExists } from "@huggingface/hub";

const [file, bucket, path] = process.argv.slice(2);
const hubUrl = process.env.BUCKETS_URL, accessToken = process.env.BUCKETS_TOKEN;
if (new URL(hubUrl).hostname !== "127.0.0.1") throw new Error("BUCKETS_URL must be 127.0.0.1");
const repo = `buckets/${bucket}`;
if (!(await repoExists({ repo, hubUrl, accessToken }))) await createRepo({ repo, hubUrl, accessToken });
const bytes = readFileSync(file);
const t0 = process.hrtime.bigint();
await uploadFile({ repo, file: { path, content: new Blob([bytes]) }, hubUrl, accessToken });
const s = Number(process.hrtime.bigint() - t0) / 1e9;
console.log(`${bytes.length} ${s.toFixed(3)}`);
