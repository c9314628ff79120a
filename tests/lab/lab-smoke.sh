#!/bin/bash
# SPDX-License-Identifier: MIT
#
# The PV-vs-emulated lab (bench/lab.sh, bench/bench-lab) with few samples
# on the loop hypervisor, then on the simulator (the lab in an HVM domain,
# pvkit-dm and pvkit-backd in domain 0) when xenstored is installed and
# pvkit-dm built: every case of every workload (4 KiB random read and write
# and 512 B read at QD1, 4 KiB read and write at QD32 without IDE, 1 MiB
# sequential read and write; native, PV event-driven and polling, IDE PIO
# and DMA) has its samples, every read returned what was written and every
# write read back natively (checksums), the traps, ioreqs, notifications
# and interrupts per operation are the exact counts of the protocols (IDE
# 4 KiB PIO 23 traps, DMA 11, as test-ide and test-trap assert; PV none;
# on sim from pvkit-dm --stats), CPU per operation is there on both sides,
# the claims table is recomputed from the cases, lab.json and REPORT.md
# are well formed and agree, the plots exist as PNG and SVG.  Bad options
# are refused with a message.  No timing is asserted.
set -u
B=${PVK_BUILD:-build}
B=$(cd "$B" && pwd)
LAB=$B/bench/bench-lab
N=200
fail() {
	echo "FAIL: $*" >&2
	exit 1
}
[ -x "$LAB" ] || fail "missing $LAB: run make first"
if ! command -v python3 >/dev/null 2>&1; then
	echo "SKIP: lab-smoke needs python3 to read lab.json"
	exit 77
fi
if [ -n "${LD_PRELOAD:-}" ] && [ -z "${LD_PRELOAD##*vgpreload*}" ]; then
	echo "SKIP: under valgrind (in/out do not fault there as on the CPU)"
	exit 77
fi
W=$(mktemp -d "${TMPDIR:-/tmp}/pvk-lab.XXXXXX") || exit 1
trap 'rm -rf "$W"' EXIT

# Bad input: a clear line naming the value, non-zero status, no results.
for bad in "--samples abc" "--samples 2" "--hv nowhere" "--bogus" "stray" \
	"--poll-us 0" "--poll-us 5000" "--hv sim"; do
	# shellcheck disable=SC2086
	if "$LAB" --out "$W/bad" $bad >"$W/bad.out" 2>&1; then
		fail "bench-lab $bad succeeded"
	fi
	grep -q . "$W/bad.out" || fail "bench-lab $bad said nothing"
	[ ! -e "$W/bad/lab.json" ] || fail "bench-lab $bad wrote results"
done

# check HV OUT: lab.json, the samples and REPORT.md of a run.
check() {
python3 - "$2" "$N" "$1" "$3" <<'PY' || fail "$1: lab.json / REPORT.md"
import json, os, re, sys

out, n, hv, net = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4] == "1"
lab = json.load(open(os.path.join(out, "lab.json")))
bad = []
def check(cond, what):
    if not cond:
        bad.append(what)

def close(a, b):
    return (a is not None and b is not None and
            abs(a - b) <= 1e-4 * max(abs(a), abs(b), 1e-9))

check(lab["hv"] == hv, "hv")
check(lab["machine"]["cores"] >= 1 and lab["machine"]["cpu"], "machine")
check(lab["config"]["samples"] == n, "config.samples")
allp = ["native", "pv", "pv-poll", "ide-pio", "ide-dma"]
netp = ["native", "pv", "e1000"]
# workload: (bytes, op, qd, sequential, paths)
NW = {"net.rr64": (64, "read", 1, False, netp if net else []),
      "net.stream1472": (1472, "write", 1, False, netp if net else [])}
W = {**NW, "disk.read4k": (4096, "read", 1, False, allp),
     "disk.write4k": (4096, "write", 1, False, allp),
     "disk.read512": (512, "read", 1, False, allp),
     "disk.read4k-qd32": (4096, "read", 32, False, allp[:3]),
     "disk.write4k-qd32": (4096, "write", 32, False, allp[:3]),
     "disk.seqread1m": (1 << 20, "read", 1, True, allp),
     "disk.seqwrite1m": (1 << 20, "write", 1, True, allp)}
wl = {w["name"]: w for w in lab["workloads"]}
check(set(wl) == set(W), f"workloads {sorted(wl)}")
for name, (nb, op, qd, seq, paths) in W.items():
    w = wl.get(name, {})
    check(w.get("paths") == paths and w.get("qd") == qd and
          w.get("op") == op and w.get("bytes") == nb, f"workload {name}")
    skipped = [x["path"] for x in w.get("not_run", [])]
    if name in NW:
        check(skipped == [p for p in netp if p not in paths] and
              all(x["why"] for x in w.get("not_run", [])),
              f"{name}: the paths not run and why")
        continue
    check(skipped == [p for p in allp if p not in paths] and
          all("one command at a time" in x["why"]
              for x in w.get("not_run", [])),
          f"{name}: the paths not run and why")
cases = {c["name"]: c for c in lab["cases"]}
want = {f"{w}.{p}": w for w, v in W.items() for p in v[4]}
check(set(cases) == set(want), f"cases {sorted(set(cases) ^ set(want))}")

def traps(path, nbytes):
    """What the IDE protocol takes (tests/unit/test-ide.c t_traps): the
    command's registers (6, 4 more for LBA48 above 256 sectors), then PIO
    an in and a rep insw per sector and the status read, DMA 5 for the
    bus master."""
    sec = nbytes // 512
    setup = 6 + (4 if sec > 256 else 0)
    return setup + 2 * sec + 1 if path == "ide-pio" else setup + 5

seqn = n // 300 if n // 300 >= 8 else min(8, n)
for name, c in cases.items():
    nb, op, qd, seq, _ = W[want[name]]
    ops = seqn if seq else n
    cpu, per, k = c["cpu_us_per_op"], c["per_op"], c["check"]
    if c["workload"] == "net.stream1472":
        st = c["stream"]
        check(c["samples"] == 10 * n and st["sent"] == 10 * n and
              0 < st["received"] <= st["sent"] and
              c["latency_ns"] is None and c["samples_file"] is None,
              f"{name}: stream {st}")
        check(k["verified"] == st["received"] and k["mismatches"] == 0,
              f"{name}: checked at the peer {k}")
        check(close(st["mbit_per_s"], 8 * c["mb_per_s"]) and
              close(c["mb_per_s"], c["ops_per_s"] * nb / 1e6),
              f"{name}: rates")
    if c["workload"].startswith("net."):
        check(k["write_readback"] is None, f"{name}: no write-back")
        check(cpu["guest"] is not None and cpu["guest"] > 0,
              f"{name}: guest CPU {cpu}")
        if c["path"] == "native":
            check(per["traps"] is None, f"{name}: native has no counters")
        else:
            check(cpu["serving"] is not None and cpu["serving"] > 0,
                  f"{name}: serving CPU {cpu}")
            check(per["real_traps"] == per["traps"], f"{name}: real traps")
        if c["path"] == "pv":
            check(per["traps"] == 0 and per["evtchn_notifications"] > 0,
                  f"{name}: PV counts {per}")
        if c["path"] == "e1000":
            # A TDT write per frame sent at least; each trap an ioreq.
            # (Per-operation averages, printed to 6 digits: close.)
            check(per["traps"] >= 1 and per["ioreqs"] == per["traps"] and
                  close(per["evtchn_notifications"], 2 * per["ioreqs"]),
                  f"{name}: e1000 counts {per}")
        if c["workload"] == "net.stream1472":
            continue
    lat = c["latency_ns"]
    check(c["samples"] == ops and c["qd"] == qd and c["op"] == op,
          f"{name}: samples {c['samples']} qd {c['qd']}")
    raw = [int(x) for x in open(os.path.join(out, c["samples_file"]))]
    check(len(raw) == ops and min(raw) > 0, f"{name}: raw samples")
    s = sorted(raw)
    check(s[0] == lat["min"] and s[-1] == lat["max"], f"{name}: min/max")
    check(s[(ops + 1) // 2 - 1] == lat["p50"],
          f"{name}: p50 of the raw samples")
    check(lat["min"] <= lat["p50"] <= lat["p90"] <= lat["p99"]
          <= lat["p99.9"] <= lat["max"], f"{name}: percentiles in order")
    check(c["ops_per_s"] > 0 and
          close(c["mb_per_s"], c["ops_per_s"] * nb / 1e6),
          f"{name}: ops/s and MB/s")
    check(k["verified"] == ops and k["mismatches"] == 0,
          f"{name}: verified {k['verified']} mismatches {k['mismatches']}")
    check(k["checksum"] == k["checksum_expected"], f"{name}: checksum")
    if c["workload"].startswith("net."):
        continue
    check(cpu["guest"] is not None and cpu["guest"] >= 0 and
          cpu["serving"] is not None and cpu["serving"] >= 0,
          f"{name}: CPU per operation {cpu}")
    if c["path"] == "native":
        check(per["traps"] is None and k["write_readback"] is None,
              f"{name}: native has no counters")
        continue
    # The backend did the work: its CPU time moved.
    check(cpu["serving"] > 0, f"{name}: serving CPU {cpu['serving']}")
    check(k["write_readback"] is True, f"{name}: write read back natively")
    check(c["vs_native"]["p50"] > 0, f"{name}: ratio")
    check(per["real_traps"] == per["traps"], f"{name}: real traps")
    if c["path"] in ("pv", "pv-poll"):
        check(per["traps"] == 0, f"{name}: PV traps {per['traps']}")
        check(per["evtchn_notifications"] > 0, f"{name}: notifications")
        check(c["notifications_counted"] is True, f"{name}: counted")
        continue
    t = traps(c["path"], nb)
    check(per["traps"] == t, f"{name}: traps/op {per['traps']}, wanted {t}")
    # Loop counts in-process, sim asks pvkit-dm --stats: the same.
    check(per["ioreqs"] == per["traps"], f"{name}: an ioreq per trap")
    check(per["evtchn_notifications"] == 2 * per["ioreqs"],
          f"{name}: notifications")
    # IRQ 14: PIO raises it per sector (DRQ block), DMA once.
    irqs = nb // 512 if c["path"] == "ide-pio" else 1
    check(per["interrupts"] == irqs, f"{name}: IRQs {per['interrupts']}")

# The claims: recomputed from the cases, and as REPORT.md shows them.
lo_hi = {"emulation is 10-100x slower than PV": [10, 100],
         "PV I/O overhead is 10-20% over native": [1.1, 1.2]}
cl = lab["claims"]
emu = [x for x in cl if x["claim"].startswith("emulation")]
pvc = [x for x in cl if x["claim"].startswith("PV I/O")]
# Disks: IDE PIO and DMA vs PV on the 5 QD1 workloads, PV (event and
# poll) vs native on all 7, at p50 and in throughput; the NIC: e1000 vs PV
# and PV vs native, round trip (p50, throughput) and stream (throughput).
check(len(emu) == 5 * 2 * 2 + 3 * net and len(pvc) == 7 * 2 * 2 + 3 * net,
      f"claims: {len(emu)} emulated, {len(pvc)} PV")
any_loaded = False
for x in cl:
    a = cases.get(f"{x['workload']}.{x['path']}")
    b = cases.get(f"{x['workload']}.{x['versus']}")
    if not a or not b:
        bad.append(f"claim on {x['workload']}.{x['path']}: no such cases")
        continue
    check(x["versus"] == ("pv" if x["claim"].startswith("emulation")
                          else "native"), f"claim {x}: versus")
    r = (a["latency_ns"]["p50"] / b["latency_ns"]["p50"]
         if x["metric"] == "p50" else b["ops_per_s"] / a["ops_per_s"])
    check(close(x["ratio"], r),
          f"claim {x['workload']} {x['path']} {x['metric']}: "
          f"{x['ratio']} != {r}")
    lo, hi = lo_hi[x["claim"]]
    check(x["range"] == [lo, hi], "claim range")
    check(x["holds"] == (lo <= x["ratio"] <= hi), f"claim verdict {x}")
    check(x["loaded"] == (a["loaded"] or b["loaded"]), f"claim loaded {x}")
    any_loaded |= x["loaded"]

rep = open(os.path.join(out, "REPORT.md")).read()
rows = [l for l in rep.splitlines()
        if l.startswith("| disk.") or l.startswith("| net.")]
check(len(rows) == len(want), f"REPORT.md: {len(rows)} rows")
for l in rows:
    f = [x.strip() for x in l.strip("|").split("|")]
    c = cases.get(f[0])
    check(c is not None and f[1] == str(c["samples"]) and f[-1] == "ok",
          f"REPORT.md row {f[0]}")
    if c and c["latency_ns"] is None:
        check(f[2:7] == ["-"] * 5, f"REPORT.md: {f[0]} has no latency")
    if c and c["path"] in ("ide-pio", "ide-dma"):
        check(f[12] == str(traps(c["path"], c["bytes"])),
              f"REPORT.md traps of {f[0]}: {f[12]}")
crow = [l for l in rep.splitlines()
        if l.startswith("| emulation is") or l.startswith("| PV I/O")]
check(len(crow) == len(cl),
      f"REPORT.md: {len(crow)} claim rows, JSON {len(cl)}")
for l, x in zip(crow, cl):
    f = [y.strip() for y in l.strip("|").split("|")]
    verdict = "yes" if x["holds"] else (
        "no: less" if x["ratio"] < x["range"][0] else "no: more")
    if x["loaded"]:
        verdict += " (loaded)"
    m = re.match(r"([0-9.]+)x", f[4])
    check(f[0] == x["claim"] and f[1] == x["workload"] and
          f[2] == f"{x['path']} / {x['versus']}" and
          f[3] == ("p50" if x["metric"] == "p50" else "throughput") and
          f[5] == verdict and m is not None and
          abs(float(m.group(1)) - x["ratio"]) <= 0.051 * max(1, x["ratio"]),
          f"REPORT.md claim row {f}")
check(("**Loaded machine:**" in rep) == any_loaded,
      "REPORT.md: the load caveat")
check("## Common claims, checked" in rep, "REPORT.md: the claims section")
check("QD1 by nature" in rep, "REPORT.md: why IDE has no QD32")
check(re.search(r"IDE PIO takes 23 traps \(VM exits\) and 23 ioreqs per "
                r"read", rep), "REPORT.md: the PIO claim")
check("MISMATCH" not in rep, "REPORT.md: a mismatch")
imgs = re.findall(r"\]\(([^)]+\.(?:png|svg))\)", rep)
lat_wls = [w for w in W if W[w][4] and w != "net.stream1472"]
check(not imgs or len(imgs) == 4 * len(lat_wls),
      f"REPORT.md: {len(imgs)} plots")
check(("NIC cases: not run:" in rep) != net, "REPORT.md: the NIC line")
for img in imgs:
    path = os.path.join(out, img)
    check(os.path.exists(path) and os.path.getsize(path) > 1000,
          f"plot {img}")
    if img.endswith(".svg") and os.path.exists(path):
        check("<svg" in open(path).read(4096), f"plot {img}: not SVG")
harness = json.load(open(os.path.join(os.environ.get("PVK_BUILD", "build"),
                                      "bench", "lab-quick.json")))
check(any(h["name"] == "disk.read4k.ide-pio.p50" and h["ratio"]
          for h in harness), "the harness's ratios")
for b in bad:
    print("lab.json/REPORT.md:", b, file=sys.stderr)
sys.exit(1 if bad else 0)
PY
}

# run HV: the lab as make lab runs it (no package installs from a test).
run() {
	LAB_NO_INSTALL=1 "$(dirname "$0")/../../bench/lab.sh" "$B" --hv "$1" \
		--quick --samples "$N" --out "$W/$1" --dir "$W" \
		>"$W/$1.log" 2>&1 || { cat "$W/$1.log"; fail "the lab on $1 failed"; }
	cat "$W/$1.log"
	for f in lab.json REPORT.md bars.dat; do
		[ -s "$W/$1/$f" ] || fail "$1: no $f"
	done
	ls "$W"/pvk-lab-* >/dev/null 2>&1 && fail "$1: the image was left behind"
	net=0
	if [ "$1" = sim ] && [ -n "$NET" ]; then
		net=1
		grep -q "NIC cases skipped" "$W/$1.log" && fail "$1: NIC cases skipped"
	elif [ "$1" = sim ]; then
		grep -q "NIC cases skipped: " "$W/$1.log" ||
			fail "$1: no line says why the NIC cases did not run"
	fi
	check "$1" "$W/$1" "$net"
	echo "lab-smoke: $1: $N operations per case (1 MiB: 8), $(grep -c '^| [dn][ie][st][k.]' "$W/$1/REPORT.md") cases (NIC: $([ $net = 1 ] && echo yes || echo no)): samples, data, counts, CPU, claims, JSON and report checked"
}

# The NIC cases on sim: as root, with TAPs and namespaces (as bench/lab.sh
# decides).
NET=
if [ "$(id -u)" = 0 ] && [ -w /dev/net/tun ] && command -v ip >/dev/null &&
	unshare -n -m true 2>/dev/null && [ -z "${LAB_NO_NET:-}" ]; then
	NET=1
fi
run loop
if [ ! -x /usr/lib/xen-4.17/bin/xenstored ]; then
	echo "lab-smoke: sim: skipped: xenstored (Debian xen-utils-4.17) is not installed"
elif [ ! -x "$B/bin/pvkit-dm" ]; then
	echo "lab-smoke: sim: skipped: $B/bin/pvkit-dm is not built"
else
	run sim
fi
