#!/usr/bin/python3
"""Joins fer's Google Benchmark JSON (bench_peak, bench_gemm, bench_conv) with the PyTorch peer's JSON
(tools/bench_torch_peer.py) into one markdown table. Used by tools/run_cpu_bench.sh.

    bench/make_table.py --fer peak*.json gemm*.json conv*.json --torch torch*.json
    bench/make_table.py --fer peak*.json gemm*.json                  # fer alone (ISA rows of bench_gemm)

Several files per side (rounds of the same benchmarks) are merged. Every figure is the best GFLOP/s over
all repetitions (the machine is shared: interference only ever slows a run down, so the best repetition is
the least disturbed one); the median is shown beside it.
"""
import argparse
import json
import statistics


def fer_rates(paths):
    """name -> list of per-repetition GFLOP/s."""
    rates = {}
    for path in paths:
        with open(path) as f:
            data = json.load(f)
        for b in data["benchmarks"]:
            if b.get("run_type") != "iteration" or "GFLOP/s" not in b or b.get("error_occurred"):
                continue
            name = b.get("run_name", b["name"]).removesuffix("/real_time")
            rates.setdefault(name, []).append(b["GFLOP/s"])
    return rates


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--fer", nargs="+", required=True)
    ap.add_argument("--torch", nargs="*", default=[])
    args = ap.parse_args()
    fer = fer_rates(args.fer)
    torch_rates = {}
    for path in args.torch:
        with open(path) as f:
            torch_data = json.load(f)
        for name, r in torch_data["results"].items():
            torch_rates.setdefault(name, []).extend(r["all"])
    torch = {name: {"best": max(v), "median": statistics.median(v)} for name, v in torch_rates.items()}

    peak256 = max(fer.get("peak fma256 f32 2t", [float("nan")]))
    peak512 = max(fer.get("peak fma512 f32 2t", [float("nan")]))
    print(f"Measured peak (register-resident f32 FMA, best of repetitions):")
    for key in ("peak fma256 f32 1t", "peak fma256 f32 2t", "peak fma512 f32 1t", "peak fma512 f32 2t"):
        if key in fer:
            print(f"- {key.removeprefix('peak ')}: {max(fer[key]):.1f} GFLOP/s")
    print()
    reps = len(next(iter(torch_rates.values()), []))
    if args.torch:
        print(f"torch {torch_data['torch']} with {torch_data['threads']} threads; fer with 2 OpenMP threads. "
              f"GFLOP/s: best of {reps} repetitions over {len(args.torch)} rounds (median in parentheses).")
    else:
        print("fer with 2 OpenMP threads. GFLOP/s: best of all repetitions (median in parentheses).")
    print()
    print("| shape | fer GFLOP/s | torch GFLOP/s | fer/torch | fer / AVX2 peak | fer / AVX-512 peak |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, values in fer.items():
        if name.startswith("peak"):
            continue
        best, med = max(values), statistics.median(values)
        t = torch.get(name.split(" [")[0])  # bench_gemm's rows name their ISA path: "gemm ... [avx2]"
        t_cell = f"{t['best']:.1f} ({t['median']:.1f})" if t else "-"
        ratio = f"{best / t['best']:.2f}" if t else "-"
        print(f"| {name} | {best:.1f} ({med:.1f}) | {t_cell} | {ratio} | {best / peak256:.2f} | {best / peak512:.2f} |")


if __name__ == "__main__":
    main()
