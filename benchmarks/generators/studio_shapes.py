"""The studio generator's analytic shapes, ray cast exactly in numpy: boxes, solid elliptic cylinders,
open vessels (pans, pots, cups: outer and inner walls, rim, floor), spheres and spherical caps (lids).

Each shape lies in its own frame and has ``hit(o, d) -> (t, normal)`` for rays with origins ``o [N, 3]``
and directions ``d [N, 3]`` (``t`` is ``INF`` where a ray misses) and ``mesh() -> (vertices, triangles)``,
the fine tessellation the judge's meshes are made of; :class:`Placed` puts a shape into the world with
a rotation and a translation, and :func:`_merge` joins several meshes into one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence, Tuple

import numpy as np

from .common import box_mesh, cylinder_mesh, revolve, sphere_mesh, transform

INF = np.inf


def _roots(a, b, c):
    disc = b * b - 4 * a * c
    ok = (disc >= 0) & (np.abs(a) > 1e-18)
    sq = np.sqrt(np.where(ok, disc, 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        r1 = np.where(ok, (-b - sq) / (2 * a), np.nan)
        r2 = np.where(ok, (-b + sq) / (2 * a), np.nan)
    return r1, r2


class _Best:
    """The nearest valid candidate hit per ray."""

    def __init__(self, n: int) -> None:
        self.t = np.full(n, INF)
        self.n = np.zeros((n, 3))

    def offer(self, t, ok, normal) -> None:
        ok = ok & np.isfinite(t) & (t > 1e-7) & (t < self.t)
        self.t = np.where(ok, t, self.t)
        if np.ndim(normal) == 1:
            self.n[ok] = normal
        else:
            self.n[ok] = normal[ok]


def _disk(best, o, d, z, r_in, r_out, up: bool):
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (z - o[:, 2]) / d[:, 2]
    p = o + d * np.where(np.isfinite(t), t, 0)[:, None]
    rr = p[:, 0] ** 2 + p[:, 1] ** 2
    best.offer(t, (rr <= r_out**2) & (rr >= r_in**2), np.array([0.0, 0.0, 1.0 if up else -1.0]))


def _ecyl_side(best, o, d, rx, ry, z0, z1, outward: bool = True):
    a = (d[:, 0] / rx) ** 2 + (d[:, 1] / ry) ** 2
    b = 2 * (o[:, 0] * d[:, 0] / rx**2 + o[:, 1] * d[:, 1] / ry**2)
    c = (o[:, 0] / rx) ** 2 + (o[:, 1] / ry) ** 2 - 1
    for t in _roots(a, b, c):
        p = o + d * np.nan_to_num(t)[:, None]
        nrm = np.stack([p[:, 0] / rx**2, p[:, 1] / ry**2, np.zeros(len(p))], 1)
        nrm /= np.maximum(np.linalg.norm(nrm, axis=1, keepdims=True), 1e-12)
        best.offer(t, (p[:, 2] >= z0) & (p[:, 2] <= z1), nrm if outward else -nrm)


@dataclass
class Box:
    half: Tuple[float, float, float]

    def hit(self, o, d):
        h = np.asarray(self.half)
        with np.errstate(divide="ignore", invalid="ignore"):
            t1, t2 = (-h - o) / d, (h - o) / d
        tmin = np.nanmax(np.minimum(t1, t2), axis=1)
        tmax = np.nanmin(np.maximum(t1, t2), axis=1)
        ok = (tmax >= tmin) & (tmin > 1e-7)
        t = np.where(ok, tmin, INF)
        p = o + d * np.where(ok, tmin, 0)[:, None]
        q = p / h
        ax = np.argmax(np.abs(q), axis=1)
        n = np.zeros_like(o)
        n[np.arange(len(o)), ax] = np.sign(q[np.arange(len(o)), ax])
        return t, n

    def mesh(self):
        return box_mesh(self.half)


@dataclass
class ECyl:
    """Solid elliptic cylinder about z, semi-axes rx, ry, from z0 to z1."""

    rx: float
    ry: float
    z0: float
    z1: float

    def hit(self, o, d):
        best = _Best(len(o))
        _ecyl_side(best, o, d, self.rx, self.ry, self.z0, self.z1)
        for z, up in ((self.z0, False), (self.z1, True)):
            with np.errstate(divide="ignore", invalid="ignore"):
                t = (z - o[:, 2]) / d[:, 2]
            p = o + d * np.where(np.isfinite(t), t, 0)[:, None]
            best.offer(t, (p[:, 0] / self.rx) ** 2 + (p[:, 1] / self.ry) ** 2 <= 1, np.array([0, 0, 1.0 if up else -1.0]))
        return best.t, best.n

    def mesh(self, segments: int = 96):
        v, t = cylinder_mesh(1.0, self.z0, self.z1, segments)
        return v * np.array([self.rx, self.ry, 1.0]), t


@dataclass
class Vessel:
    """An open vessel (pan, pot, cup) standing on z = 0: walls between r_in and r_out up to h, a floor
    of thickness ``floor``."""

    r_out: float
    r_in: float
    h: float
    floor: float

    def hit(self, o, d):
        best = _Best(len(o))
        _ecyl_side(best, o, d, self.r_out, self.r_out, 0.0, self.h, True)
        _ecyl_side(best, o, d, self.r_in, self.r_in, self.floor, self.h, False)
        _disk(best, o, d, self.h, self.r_in, self.r_out, True)
        _disk(best, o, d, self.floor, 0.0, self.r_in, True)
        _disk(best, o, d, 0.0, 0.0, self.r_out, False)
        return best.t, best.n

    def mesh(self, segments: int = 128):
        return revolve([(0, 0), (self.r_out, 0), (self.r_out, self.h), (self.r_in, self.h), (self.r_in, self.floor),
                        (0, self.floor)], segments)


@dataclass
class Sphere:
    r: float

    def hit(self, o, d):
        a = np.sum(d * d, 1)
        b = 2 * np.sum(o * d, 1)
        c = np.sum(o * o, 1) - self.r**2
        best = _Best(len(o))
        for t in _roots(a, b, c):
            p = o + d * np.nan_to_num(t)[:, None]
            best.offer(t, np.ones(len(o), bool), p / self.r)
        return best.t, best.n

    def mesh(self):
        return sphere_mesh(self.r, 48, 96)


@dataclass
class Dome:
    """A spherical cap: the sphere of radius ``rs`` centred at (0, 0, zc) above the plane z = zb, closed
    by its base disk."""

    rs: float
    zc: float
    zb: float

    def hit(self, o, d):
        oc = o - np.array([0, 0, self.zc])
        a = np.sum(d * d, 1)
        b = 2 * np.sum(oc * d, 1)
        c = np.sum(oc * oc, 1) - self.rs**2
        best = _Best(len(o))
        for t in _roots(a, b, c):
            p = oc + d * np.nan_to_num(t)[:, None]
            best.offer(t, p[:, 2] + self.zc >= self.zb, p / self.rs)
        _disk(best, o, d, self.zb, 0.0, math.sqrt(max(self.rs**2 - (self.zb - self.zc) ** 2, 0.0)), False)
        return best.t, best.n

    def mesh(self):
        a = math.sqrt(self.rs**2 - (self.zb - self.zc) ** 2)
        th0 = math.atan2(self.zb - self.zc, a)
        th = np.linspace(th0, math.pi / 2, 24)
        return revolve([(0.0, self.zb), *[(self.rs * math.cos(x), self.zc + self.rs * math.sin(x)) for x in th[:-1]],
                        (0.0, self.zc + self.rs)], 128)


@dataclass
class Placed:
    shape: object
    R: np.ndarray
    t: np.ndarray

    def hit(self, o, d):
        ol, dl = (o - self.t) @ self.R, d @ self.R
        tt, n = self.shape.hit(ol, dl)
        return tt, n @ self.R.T

    def mesh(self):
        v, t = self.shape.mesh()
        return transform(v, self.R, self.t), t


def _merge(meshes: Sequence[Tuple[np.ndarray, np.ndarray]]):
    vs, ts, off = [], [], 0
    for v, t in meshes:
        vs.append(v)
        ts.append(t + off)
        off += len(v)
    return np.concatenate(vs), np.concatenate(ts).astype(np.int32)
