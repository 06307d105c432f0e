"""Summarizes run 7 (observability on vs off): medians of per-repetition ratios, per config.
Run from this directory: python3 summarize.py"""
import json, glob, statistics
cfgs=["off","metrics","on","down"]
rows={}; labels={}
for cfg in cfgs:
    for f in sorted(glob.glob(f"{cfg}-*.json")):
        m=json.load(open(f))["metrics"]
        for k,v in m.items():
            labels[k]=v["label"]
            rows.setdefault(k,{}).setdefault(cfg,[]).extend(x for x in v["warden_over_relay"]["per_rep"] if x is not None)
            rows[k].setdefault(cfg+"_w",[]).extend(r["warden"] for r in v["per_rep"] if r["warden"] is not None)
order=["seq_p50_us","seq_mean_us","seq_p99_us","seq_cpu_us_per_call","pipe_calls_per_s","pipe_cpu_us_per_call","large_mb_per_s","large_cpu_ms_per_call","seq_hwm_mb","pipe_hwm_mb","large_hwm_mb"]
print("| metric | off | metrics | metrics + traces | metrics + traces, endpoint down |")
print("|---|---:|---:|---:|---:|")
for k in order:
    med={c:statistics.median(rows[k][c]) for c in cfgs}
    w={c:statistics.median(rows[k][c+"_w"]) for c in cfgs}
    cells=[f"{w['off']:.4g} ({med['off']:.3f}×)"]+[f"{w[c]:.4g} ({med[c]:.3f}×, {med[c]/med['off']:.2f} of off)" for c in cfgs[1:]]
    print(f"| {labels[k]} | "+" | ".join(cells)+" |")
for cfg in cfgs:
    for f in sorted(glob.glob(f"{cfg}-*.json")):
        c=json.load(open(f))["config"]; print(f, c["loadavg_before"], "->", c["loadavg_after"])
