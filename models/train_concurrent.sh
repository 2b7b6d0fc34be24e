#!/usr/bin/env bash
# Runs several training chunks at once on one GPU (each a train.py process with its own output folder),
# then packs what the device call must bring back into at most a few files under $OUT.
#
#   bash models/train_concurrent.sh NAME "TRAIN.PY ARGS" [NAME "ARGS" ...]
#
# Per NAME: $OUT/NAME.pt (the checkpoint), and in $OUT/runs.tar.gz: NAME/train.log, NAME/*.safetensors,
# NAME/train_log.jsonl. Small models leave an H100 partly idle, so running three at once costs each run
# less than a third of its solo speed (measured: see docs/training.md).
set -u
: "${OUT:?set OUT}"
pids=()
names=()
while [ $# -ge 2 ]; do
    name=$1 args=$2
    shift 2
    mkdir -p "$OUT/runs/$name"
    # shellcheck disable=SC2086  # ARGS is a list of options
    python3 models/train.py $args --out "$OUT/runs/$name" >"$OUT/runs/$name/train.log" 2>&1 &
    pids+=($!)
    names+=("$name")
done
status=0
for i in "${!pids[@]}"; do
    if wait "${pids[$i]}"; then echo "${names[$i]}: done"; else echo "${names[$i]}: FAILED"; status=1; fi
    tail -n 3 "$OUT/runs/${names[$i]}/train.log"
done
for name in "${names[@]}"; do
    [ -f "$OUT/runs/$name/checkpoint.pt" ] && mv "$OUT/runs/$name/checkpoint.pt" "$OUT/$name.pt"
done
tar -czf "$OUT/runs.tar.gz" -C "$OUT/runs" . && rm -rf "$OUT/runs"
exit $status
