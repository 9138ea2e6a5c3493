"""Whether two runs measured the same thing: the work, the versions and the cluster settings they share.

``check`` and ``history`` refuse, or warn about, runs that differ here: such runs measure different
things, so a change between them is not the code's.
"""

from __future__ import annotations

import json

from udfbench.rundir.schema import PACKAGES, RunMeta

# Versions that change what is measured (everything but udfbench itself, the code under test):
# a baseline with other ones is not comparable.
COMPARED_VERSIONS = ("python", *(p for p in PACKAGES if p != "udfbench"), "java")


def _work_differences(baseline: RunMeta, current: RunMeta) -> list[str]:
    """What defines the work itself: the model, the seed images, the input mode and the draw of rows.

    A digest missing on one side (a run folder from before it was recorded) cannot be compared and
    is not reported. The sizes are not compared: a size's rows depend only on the seed and the size,
    and sizes in one run only are listed as cases not compared.
    """
    found = []
    models = (baseline.model, current.model)
    if all(m.get("digest") for m in models) and models[0]["digest"] != models[1]["digest"]:
        a, b = (f"{m.get('name')} (digest {m['digest']})" for m in models)
        found.append(f"model: {a} in the baseline, {b} now")
    seeds = (baseline.seed_images, current.seed_images)
    if all(s.get("digest") for s in seeds) and seeds[0]["digest"] != seeds[1]["digest"]:
        a, b = (f"{s.get('count')} images (digest {s['digest']})" for s in seeds)
        found.append(f"seed images: {a} in the baseline, {b} now")
    for field_name in ("input_mode", "seed", "on_bad_image"):
        a, b = getattr(baseline.config.dataset, field_name), getattr(current.config.dataset, field_name)
        if a != b:
            found.append(f"dataset.{field_name}: {a} in the baseline, {b} now")
    return found


def environment_differences(baseline: RunMeta, current: RunMeta) -> list[str]:
    """The work (model, seed images, input mode, draw), versions and cluster settings that differ:
    such runs measure different things."""
    found = _work_differences(baseline, current)
    for name in COMPARED_VERSIONS:
        a, b = baseline.versions.get(name), current.versions.get(name)
        if a != b:
            found.append(f"{name}: {a or 'absent'} in the baseline, {b or 'absent'} now")
    for key in ("clusters", "spark"):
        a, b = getattr(baseline.config, key), getattr(current.config, key)
        if a != b:
            dump = {"clusters": lambda c: [x.model_dump(mode="json") for x in c or []]}.get(
                key, lambda c: c.model_dump(mode="json")
            )
            found.append(
                f"cluster configuration ({key}) differs: {json.dumps(dump(a))} in the baseline, "
                f"{json.dumps(dump(b))} now"
            )
    return found
