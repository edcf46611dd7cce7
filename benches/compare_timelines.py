"""How far two `fer live --jsonl` timelines of the same video are apart: faces per
frame, whether each track of the first maps to one track of the second, and how
often the per-frame and pooled labels differ on faces found in both (each face
matched to the nearest box of the same frame). Used by benches/speed.sh.

    python3 benches/compare_timelines.py full.jsonl tracked.jsonl
"""
import collections
import json
import sys


def load(path):
    frames = collections.defaultdict(list)
    with open(path) as f:
        for line in f:
            r = json.loads(line)
            frames[r["frame"]].append(r)
    return frames


def main(a_path, b_path):
    a, b = load(a_path), load(b_path)
    frames = sorted(set(a) | set(b))
    pairs = collections.Counter()
    pooled = label = matched = 0
    for f in frames:
        for x in a.get(f, []):
            ys = b.get(f, [])
            if not ys:
                continue
            y = min(ys, key=lambda y: sum((p - q) ** 2 for p, q in zip(x["bbox"], y["bbox"])))
            matched += 1
            pairs[(x["track"], y["track"])] += 1
            pooled += x["pooled_label"] != y["pooled_label"]
            label += x["label"] != y["label"]
    tracks = lambda t: len({r["track"] for v in t.values() for r in v})
    print(json.dumps({
        "faces": [sum(map(len, a.values())), sum(map(len, b.values()))],
        "frames_with_another_face_count": sum(len(a.get(f, [])) != len(b.get(f, [])) for f in frames),
        "tracks": [tracks(a), tracks(b)],
        "tracks_of_the_first_split": sum(n > 1 for n in collections.Counter(t for t, _ in pairs).values()),
        "tracks_of_the_second_joining_two": sum(n > 1 for n in collections.Counter(u for _, u in pairs).values()),
        "faces_in_both": matched,
        "pooled_label_differs": pooled,
        "frame_label_differs": label,
    }))


if __name__ == "__main__":
    main(*sys.argv[1:3])
