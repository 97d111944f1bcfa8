"""A small IoU + centroid tracker that gives an object one id across sampled frames.

Frames come at a low rate (about one a second), so objects can move far between them: a detection
joins a track when it overlaps the track's predicted box (constant velocity), or else when its
centre lies within ``max_jump`` box sizes of the predicted centre. Labels must agree; the best
pairs are taken first. Any detector can use it (OpenCV YOLO here, ultralytics results likewise).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from vctext.perception.vision import iou_matrix


@dataclass
class Track:
    """One object followed over time; ``velocity`` is the centre's motion in pixels per second."""

    id: int
    label: str
    box: np.ndarray
    time: float
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(2))
    hits: int = 1

    def predicted(self, time: float) -> np.ndarray:
        dx, dy = self.velocity * max(time - self.time, 0.0)
        return self.box + np.array([dx, dy, dx, dy])

    def update(self, box: np.ndarray, time: float) -> None:
        dt = time - self.time
        if dt > 0:
            moved = (_centre(box) - _centre(self.box)) / dt
            self.velocity = moved if self.hits == 1 else 0.5 * (self.velocity + moved)
        self.box, self.time, self.hits = box, time, self.hits + 1


def _centre(box: np.ndarray) -> np.ndarray:
    return np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2])


def _size(box: np.ndarray) -> float:
    return float(max(box[2] - box[0], box[3] - box[1], 1.0))


class Tracker:
    """Assigns track ids to each frame's detections, frame after frame in time order.

    Args:
        iou_threshold: overlap with a track's predicted box that counts as the same object.
        max_gap: seconds a track survives without being seen (covers missed detections).
        max_jump: farthest centre move, in box sizes, accepted when boxes do not overlap.
    """

    def __init__(self, iou_threshold: float = 0.3, max_gap: float = 3.0, max_jump: float = 1.5):
        self.iou_threshold = iou_threshold
        self.max_gap = max_gap
        self.max_jump = max_jump
        self.reset()

    def reset(self) -> None:
        self.tracks: list[Track] = []
        self._next_id = 1

    def update(self, time: float, labels: Sequence[str], boxes) -> list[int]:
        """Track ids for one frame's detections (same order as ``labels``/``boxes``)."""
        self.tracks = [t for t in self.tracks if time - t.time <= self.max_gap]
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        ids: list[int | None] = [None] * len(boxes)
        pairs = self._candidate_pairs(time, labels, boxes)
        used_tracks: set[int] = set()
        for _, ti, di in sorted(pairs):
            if ti in used_tracks or ids[di] is not None:
                continue
            used_tracks.add(ti)
            self.tracks[ti].update(boxes[di], time)
            ids[di] = self.tracks[ti].id
        for di, box in enumerate(boxes):
            if ids[di] is None:
                track = Track(self._next_id, labels[di], box, time)
                self._next_id += 1
                self.tracks.append(track)
                ids[di] = track.id
        return [int(i) for i in ids]

    def _candidate_pairs(self, time: float, labels: Sequence[str], boxes: np.ndarray) -> list:
        """(cost, track index, detection index): overlaps cost < 1, centroid matches cost >= 1."""
        if not self.tracks or not len(boxes):
            return []
        predicted = np.array([t.predicted(time) for t in self.tracks])
        overlaps = iou_matrix(predicted, boxes)
        pairs = []
        for ti, track in enumerate(self.tracks):
            for di, box in enumerate(boxes):
                if track.label != labels[di]:
                    continue
                if overlaps[ti, di] >= self.iou_threshold:
                    pairs.append((1.0 - overlaps[ti, di], ti, di))
                    continue
                size = max(_size(predicted[ti]), _size(box))
                jump = float(np.linalg.norm(_centre(predicted[ti]) - _centre(box))) / size
                if jump <= self.max_jump:
                    pairs.append((1.0 + jump, ti, di))
        return pairs
