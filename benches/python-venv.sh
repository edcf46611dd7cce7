# Sourced by benches/python_vs_fer.sh and benches/speed.sh: a venv in
# target/bench-python with the Python `fer` package (fer==25.10.3, its README's
# set-up: tensorflow-cpu and opencv-python-headless 4.x), and the 492 Yale frames
# (three copies of ../shared/data/yalefaces) as PNG, which cv2.imread reads (it does
# not read GIF). Sets VENV and FRAMES. Needs PyPI the first time.
VENV=target/bench-python/venv
FRAMES=target/bench-python/frames
if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check maturin "fer==25.10.3" --no-deps
    "$VENV/bin/pip" install -q --disable-pip-version-check tensorflow-cpu "opencv-python-headless<5" Pillow pandas tqdm
fi
if [ ! -d "$FRAMES" ]; then
    mkdir -p "$FRAMES"
    "$VENV/bin/python" - "$FRAMES" <<'PY'
import pathlib, sys
from PIL import Image
out = pathlib.Path(sys.argv[1])
src = sorted(pathlib.Path("../shared/data/yalefaces").rglob("*.gif"))
for copy in range(3):
    for p in src:
        Image.open(p).convert("L").save(out / f"{copy}-{p.parent.name}-{p.stem}.png")
PY
fi
