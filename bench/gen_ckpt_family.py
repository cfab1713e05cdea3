#!/usr/bin/env python3
"""gen_ckpt_family.py OUTDIR [--members 5] [--mib 256] [--tensor-mib 4] [--rewrite 0.10] [--seed 1]

Writes a checkpoint family OUTDIR/step-1.safetensors ... step-N.safetensors in the safetensors layout
(8-byte little-endian header length, JSON header of tensor names/dtypes/shapes/offsets, then the tensor
bytes): MIB MiB of incompressible float-like data in tensors of TENSOR_MIB MiB; each step rewrites a
fixed fraction (default 10 %) of the tensors, chosen at random, and keeps the others byte-identical at the
same offsets (the header's __metadata__ carries the step). Prints one JSON line: the members' sizes, the
tensors rewritten per step and the expected unique bytes (first member + rewritten tensors)."""
import argparse, json, os, random, struct


def main():
    p = argparse.ArgumentParser()
    p.add_argument("outdir")
    p.add_argument("--members", type=int, default=5)
    p.add_argument("--mib", type=int, default=256)
    p.add_argument("--tensor-mib", type=int, default=4)
    p.add_argument("--rewrite", type=float, default=0.10)
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args()
    if not (1 <= a.members <= 100 and 1 <= a.tensor_mib <= a.mib <= 65536 and 0 <= a.rewrite <= 1):
        raise SystemExit("gen_ckpt_family: bad sizes")
    r = random.Random(a.seed)
    n = a.mib // a.tensor_mib
    tsize = a.tensor_mib << 20
    names = [f"model.layers.{i // 4}.{['q', 'k', 'v', 'o'][i % 4]}_proj.weight" for i in range(n)]
    rows = tsize // (1024 * 2)  # bf16, 1024 columns
    tensors = [r.randbytes(tsize) for _ in range(n)]
    k = max(1, round(n * a.rewrite)) if a.rewrite > 0 else 0
    os.makedirs(a.outdir, exist_ok=True)
    sizes, unique = [], 0
    for step in range(1, a.members + 1):
        if step > 1:
            for i in r.sample(range(n), k):
                tensors[i] = r.randbytes(tsize)
            unique += k * tsize
        hdr = {"__metadata__": {"format": "pt", "step": str(step)}}
        off = 0
        for name in names:
            hdr[name] = {"dtype": "BF16", "shape": [rows, 1024], "data_offsets": [off, off + tsize]}
            off += tsize
        h = json.dumps(hdr, separators=(",", ":")).encode()
        h += b" " * (-len(h) % 8)
        path = os.path.join(a.outdir, f"step-{step}.safetensors")
        with open(path, "wb") as f:
            f.write(struct.pack("<Q", len(h)) + h)
            for t in tensors:
                f.write(t)
        sizes.append(os.path.getsize(path))
        if step == 1:
            unique += sizes[0]
    print(json.dumps({"members": sizes, "tensors": n, "rewritten_per_step": k, "unique_bytes_expected": unique}))


if __name__ == "__main__":
    main()
