"""The per-model composition, from the config file: what a platform team imports to build its own app.

``ModelProject`` (``project``) builds one model's stacks from its config section: the dev stack (registry
group, build pipeline, retraining, approval trigger; ``dev``), the delivery pipeline stack (``pipeline``) and,
inside it, the test and prod endpoint stages (``endpoint_stage``, ``release_access``). ``PlatformStack`` holds
what the models share. This repository's ``app.py`` composes them with ``stacks/app.py``.
"""
