#!/usr/bin/env python3
"""torch.cdist + topk on the kNN data the .NET benchmark used (written by `gpu --dump DIR`), in the same run, and the
table for the compute README: time and GFLOP/s of the CPU kernel, the ILGPU kernel and torch, with the fraction of the
GPU's FP32 peak. Also reports how often torch's nearest neighbour equals ILGPU's (ties aside: 1.0).
Usage: gpu_compare.py --bench gpu-bench.json --dump DIR [--smi nvidia-smi.txt] --out gpu-compare.json"""
import argparse, json, os, sys, time

parser = argparse.ArgumentParser()
parser.add_argument("--bench", required=True)
parser.add_argument("--dump", required=True)
parser.add_argument("--smi")
parser.add_argument("--out", required=True)
args = parser.parse_args()

bench = json.load(open(args.bench))
result = {"bench": args.bench, "rows": [], "torch": None}

def fp32_peak_gflops(smi_path):
    """SMs x 128 FP32 lanes x 2 flops x max SM clock (Hopper; from nvidia-smi and torch)."""
    try:
        import torch
        props = torch.cuda.get_device_properties(0)
        lines = open(smi_path).read().strip().splitlines()
        clock_mhz = float(lines[1].split(",")[2].strip().split()[0])
        return props.multi_processor_count * 128 * 2 * clock_mhz / 1e3, props.name, props.multi_processor_count, clock_mhz
    except Exception as e:  # noqa: BLE001 - any failure means "unknown", reported as such
        print(f"FP32 peak unknown: {e}", file=sys.stderr)
        return None, None, None, None

try:
    import torch
    have_gpu = torch.cuda.is_available()
    result["torch"] = torch.__version__
except Exception as e:  # noqa: BLE001
    print(f"torch not usable: {e}", file=sys.stderr)
    have_gpu = False

peak = None
if have_gpu and args.smi:
    peak, name, sms, clock = fp32_peak_gflops(args.smi)
    result.update({"gpu": name, "sms": sms, "max_sm_clock_mhz": clock, "fp32_peak_gflops": peak,
                   "tf32": torch.backends.cuda.matmul.allow_tf32})
elif not have_gpu:
    print("NO GPU FOUND for torch: only the .NET numbers are tabled.", file=sys.stderr)

for row in bench.get("knn", []):
    n, d, m = row["n"], row["d"], row["m"]
    out = dict(row)
    stem = os.path.join(args.dump, f"knn_{n}_{d}_{m}")
    if have_gpu and os.path.exists(stem + ".bank.f32"):
        bank = torch.from_file(stem + ".bank.f32", size=n * d, dtype=torch.float32).reshape(n, d).cuda()
        queries = torch.from_file(stem + ".queries.f32", size=m * d, dtype=torch.float32).reshape(m, d).cuda()
        # Query chunks keep the [chunk x N] distance matrix at <= 4 GiB (7,840 x 1,000,000 would be 31 GB at once).
        chunk = max(1, min(m, (1 << 30) // n))
        def run():
            found = []
            for q0 in range(0, m, chunk):
                dist = torch.cdist(queries[q0:q0 + chunk], bank)
                found.append(dist.topk(1, dim=1, largest=False).indices)
            return torch.cat(found)
        run(); torch.cuda.synchronize()
        best = float("inf")
        for _ in range(3):
            torch.cuda.synchronize(); t0 = time.perf_counter()
            idx = run(); torch.cuda.synchronize()
            best = min(best, time.perf_counter() - t0)
        flop = 2.0 * n * m * d
        out["torch_seconds"] = round(best, 5)
        out["torch_gflops"] = round(flop / best / 1e9, 1)
        ilgpu = torch.from_file(stem + ".ilgpu.i32", size=m, dtype=torch.int32).long()
        out["torch_same_neighbour_as_ilgpu"] = round(float((idx.flatten().cpu() == ilgpu).double().mean()), 5)
        if "ilgpu_seconds" in row:
            out["ilgpu_over_torch_speed"] = round(best / row["ilgpu_seconds"], 3)
        del bank, queries
        torch.cuda.empty_cache()
    if peak and "ilgpu_gflops" in row:
        out["ilgpu_fraction_of_fp32_peak"] = round(row["ilgpu_gflops"] / peak, 3)
    if peak and "torch_gflops" in out:
        out["torch_fraction_of_fp32_peak"] = round(out["torch_gflops"] / peak, 3)
    result["rows"].append(out)
    print(json.dumps(out), file=sys.stderr)

def cell(row, key, fmt):
    return fmt.format(row[key]) if key in row else "pending"

lines = ["| N | D | M | CPU s | CPU GFLOP/s | ILGPU s | ILGPU GFLOP/s | ILGPU % FP32 peak | torch s | torch GFLOP/s | ILGPU / torch speed |",
         "|---|---|---|---|---|---|---|---|---|---|---|"]
for r in result["rows"]:
    lines.append("| {:,} | {} | {:,} | {} | {} | {} | {} | {} | {} | {} | {} |".format(
        r["n"], r["d"], r["m"], cell(r, "cpu_seconds", "{:.3f}"), cell(r, "cpu_gflops", "{:.0f}"),
        cell(r, "ilgpu_seconds", "{:.4f}"), cell(r, "ilgpu_gflops", "{:.0f}"),
        cell(r, "ilgpu_fraction_of_fp32_peak", "{:.0%}"), cell(r, "torch_seconds", "{:.4f}"),
        cell(r, "torch_gflops", "{:.0f}"), cell(r, "ilgpu_over_torch_speed", "{:.2f}x")))
result["table"] = "\n".join(lines)
json.dump(result, open(args.out, "w"), indent=2)
print(result["table"])
