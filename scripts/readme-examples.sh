#!/usr/bin/env bash
# Re-run the README's worked examples in a scratch folder, as written there, and print their
# output (to paste into README.md after a change of output). Needs ../shared/datasets/artists.
#   bash scripts/readme-examples.sh > /tmp/readme-out.txt 2>&1
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
cd "$work"
ln -s "$root/node_modules" node_modules
ln -s "$root/../shared" ../shared 2>/dev/null || true
facekit() { node "$root/bin/facekit.js" "$@"; }
export COLUMNS=100
run() { echo "\$ $*"; "$@"; echo "[exit $?]"; }
cp node_modules/@vladmandic/face-api/demo/sample1.jpg group.jpg
cp -r "$root/../shared/datasets/artists" people
mv people/bob_dylan/Bob-Dylan.jpg query.jpg
run facekit detect group.jpg --annotate group-faces.jpg --crops faces/
facekit detect group.jpg | facekit align - | facekit normalize - | facekit represent - > faces.ndjson; echo "[pipe ${PIPESTATUS[*]}]"
head -1 faces.ndjson | node -e "const r = JSON.parse(require('fs').readFileSync(0, 'utf8')); console.log(JSON.stringify({ aligned: r.aligned, normalized: r.normalized }))"
run facekit build-db people
run facekit verify query.jpg
run facekit verify query.jpg group.jpg
run facekit db info
run facekit models
run facekit tsne db/gallery.json --query query.jpg --labels --out tsne.png --coords coords.json
run facekit eval people --roc roc.svg
echo "(scratch folder: $work)"
