#!/usr/bin/env bash
# A session's GPU lease in one command: the device checks of issue 14 and study runs, within 10 minutes.
#
#   bash tools/device_session.sh            # on a CUDA machine, from the repository root, with OUT set
#
# It needs python3 with torch (CUDA), numpy, scipy, pandas, matplotlib, seaborn, tqdm and PyYAML (the
# device image has them all); the package runs from src/ without being installed. In order, each step with
# its own time limit (seconds, overridable):
#   1. STUDY_S=100  the CPU study's missing runs, trained on CUDA (their records say the device);
#   2.              bench --only replay: the committed study runs replayed on CUDA, cheapest first, for
#                   bench.REPLAY_SECONDS, against their CPU records;
#   3. GPU_S=120    the gpu profile's first runs (GPU_BLOCKS, default its first block).
# What comes back, under $OUT: study-runs.tar.gz and gpu-runs.tar.gz (new records, paths from the
# repository root: unpack them there with tar xzf, then check and commit data/runs), replay.json (copy to
# data/bench/ and commit) and log.txt. A step that fails or runs out of time does not stop the next.
set -u
: "${OUT:?set OUT to the folder whose files come back}"
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
PY=${PY:-python3}
STUDY_S=${STUDY_S:-100}
GPU_S=${GPU_S:-120}
GPU_BLOCKS=${GPU_BLOCKS:-gpu-isoflop-small}
exec > >(tee "$OUT/log.txt") 2>&1

"$PY" - <<'EOF' || exit 1
import sys, torch
print("torch", torch.__version__, "python", sys.version.split()[0])
if not torch.cuda.is_available():
    sys.exit("no CUDA device: nothing to do here")
print("device", torch.cuda.get_device_name(0))
EOF

marker=$(mktemp)
new_records() {  # the records written since the marker, as paths from the repository root
    find data/runs -name '*.json' -newer "$marker" | sort
}

echo "== 1. the CPU study's missing runs on CUDA (at most ${STUDY_S} s)"
timeout -s INT -k 20 "$STUDY_S" "$PY" -m distill_scaling study --device cuda --workers 4 --threads 1
files=$(new_records)
[ -n "$files" ] && tar czf "$OUT/study-runs.tar.gz" $files && echo "$(echo "$files" | wc -l) record(s)"
touch "$marker"

echo "== 2. the replay"
"$PY" -m distill_scaling bench --only replay && cp data/bench/replay.json "$OUT/"

echo "== 3. the gpu profile: ${GPU_BLOCKS} (at most ${GPU_S} s)"
touch "$marker"
timeout -s INT -k 20 "$GPU_S" "$PY" -m distill_scaling study --profile gpu --blocks "$GPU_BLOCKS" --workers 2
files=$(new_records)
[ -n "$files" ] && tar czf "$OUT/gpu-runs.tar.gz" $files && echo "$(echo "$files" | wc -l) record(s)"
rm -f "$marker"
ls -l "$OUT"
