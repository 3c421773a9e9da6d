#!/usr/bin/env bash
# A flood on the SFU's WebRTC port with browsers in the session (docs/robustness.md "Hostile RTP",
# browser media ports). One command:
#
#   bench/robustness/sfu_flood.sh [SWITCHBOARD] [OUT_DIR]
#
# env: PPS (flood rates to run, one run each, default "5000 20000 50000"), SECONDS_EACH (flood
# length, default 60; each run also has a quiet window as long just before it).
# Each run is browser check o alone (tests/browser/browser_test.js, SB_BROWSER_ONLY) at that rate:
# two Chromium browsers with the unmodified OpenTok.js, A publishing a 440 Hz tone and the fake
# camera to B through the SFU; bench/robustness/sfu_flood.py floods the SFU port from 64 stranger
# addresses and, spoofing the browsers' own addresses, with replayed and forged SRTP/SRTCP, junk
# DTLS records and forged ICE checks. The check's assertions hold at every rate or the run fails;
# its figures (B's frame and packet rates, loss, concealment and freezes in the quiet window and
# during the flood; the drops by kind on /metrics; the server's CPU, RSS and descriptors) go to
# OUT_DIR/flood-<pps>.json, and a table to OUT_DIR/summary.md. Needs root (a network namespace,
# raw sockets), like the browser test.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
sb_bin=$(realpath "${1:-$here/build/release/switchboard}")
out=${2:-$here/docs/bench/robustness/sfu-flood-$(date +%F)}
rates=${PPS:-5000 20000 50000} secs=${SECONDS_EACH:-60}
mkdir -p "$out"
out=$(realpath "$out")

fail=0
for pps in $rates; do
  echo "== flood at $pps datagrams/s for $secs s"
  if ! SB_BROWSER_ONLY='^o\.' SB_FLOOD_PPS=$pps SB_FLOOD_SECONDS=$secs SB_FLOOD_REPORT="$out/flood-$pps.json" \
      SB_BROWSER_TIMEOUT_MS=$(( (2 * secs + 120) * 1000 )) \
      "$here/tests/browser/run.sh" "$sb_bin" > "$out/flood-$pps.log" 2>&1; then
    fail=1
  fi
  grep -E '^(ok|FAIL) |^     [^f]' "$out/flood-$pps.log" || true
done

python3 - "$out" $rates > "$out/summary.md" <<'EOF'
import json, os, sys
out, rates = sys.argv[1], sys.argv[2:]
print("# SFU port flood with browsers in the session\n")
print("| flood pps (asked / sent) | strangers dropped (unknown_source) | replayed + forged SRTP/SRTCP (srtp_auth) | forged ICE checks (ice_rejected) | junk DTLS into the associations | B video fps quiet → flood | B audio pkt/s quiet → flood | B audio/video lost in the flood | B concealed share / freezes in the flood | server CPU quiet → flood | server RSS / fds before → after | check |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
for r in rates:
    p = os.path.join(out, "flood-%s.json" % r)
    log = open(os.path.join(out, "flood-%s.log" % r)).read()
    ok = "ok" if "\nok   o." in "\n" + log else "FAIL"
    if not os.path.exists(p):
        print("| %s | — | — | — | — | — | — | — | — | — | — | %s |" % (r, ok))
        continue
    f = json.load(open(p))
    k, d, q, g, s = f["flood"]["by_kind"], f["dropped"], f["quiet"], f["during"], f["server"]
    strangers = sum(v for n, v in k.items() if n.startswith("stranger_"))
    media = sum(k.get(n, 0) for n in ("replayed_srtp", "replayed_srtcp", "forged_srtp", "forged_srtcp"))
    print("| %s / %d | %d of %d | %d of %d | %d of %d | %d sent, legs kept | %.1f → %.1f | %.1f → %.1f | %d / %d | %.3f / %d | %.0f %% → %.0f %% | %.1f → %.1f MiB / %d → %d | %s |" % (
        r, f["flood"]["pps"], d["unknown_source"], strangers, d["srtp_auth"], media, d["ice_rejected"],
        k.get("forged_check", 0), k.get("dtls_junk", 0), q["fps"], g["fps"], q["audioPps"], g["audioPps"],
        g["audioLost"], g["videoLost"], g["concealedShare"], g["freezes"], 100 * q["serverCpu"],
        100 * g["serverCpu"], s["before"]["rssKb"] / 1024, s["after"]["rssKb"] / 1024, s["before"]["fds"],
        s["after"]["fds"], ok))
EOF
cat "$out/summary.md"
exit $fail
