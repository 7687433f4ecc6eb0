"""Draws keyed by (seed, arm, index, stream): the same whatever the order or the sharding."""

from __future__ import annotations

import numpy as np

from sermsim.trials.keyed import normals, uniforms


def test_a_draw_depends_only_on_its_key():
    whole = uniforms(11, "arm", np.arange(10_000), "age")
    shard = uniforms(11, "arm", np.arange(5_000, 7_000), "age")
    assert np.array_equal(whole[5_000:7_000], shard)
    assert not np.array_equal(whole, uniforms(12, "arm", np.arange(10_000), "age"))
    assert not np.array_equal(whole, uniforms(11, "other", np.arange(10_000), "age"))
    assert not np.array_equal(whole, uniforms(11, "arm", np.arange(10_000), "bmi"))


def test_uniforms_are_uniform_and_normals_normal():
    u = uniforms(3, "a", np.arange(200_000), "s")
    assert u.min() > 0.0 and u.max() < 1.0
    assert abs(u.mean() - 0.5) < 0.003
    hist, _ = np.histogram(u, bins=20, range=(0, 1))
    assert hist.min() > 0.95 * 10_000 and hist.max() < 1.05 * 10_000
    z = normals(3, "a", np.arange(200_000), "z")
    assert abs(z.mean()) < 0.01 and abs(z.std() - 1.0) < 0.01
    # Streams are independent.
    v = uniforms(3, "a", np.arange(200_000), "t")
    assert abs(np.corrcoef(u, v)[0, 1]) < 0.01
