"""Join providers.yaml and out/NAME.json into the one view every output shows."""

from __future__ import annotations

from dataclasses import replace

from llmprobe.config import ModelConfig, ProviderConfig
from llmprobe.results import ModelResult, ProviderResult, row_key, twinned


def merge(config: ProviderConfig, result: ProviderResult | None) -> ProviderResult:
    """The config decides order, tiers and which models are listed, because it is what the
    user edits; the results supply what was measured.

    A model listed with `probe: false` or never measured comes back with `probed=False` (its
    recorded modes, if any, are kept as evidence). Models measured earlier but since dropped
    from the config follow the listed ones, in results order, so no measurement silently
    disappears. Without results, generated_at and llmprobe_version are empty. A model listed
    twice (with and without `reason: true`) is two rows, each found by its `reason`.
    """
    found_models = result.models if result else []
    twins = twinned([m.id for m in config.models], [m.id for m in found_models])
    measured = {row_key(m.id, m.reason, twins): m for m in found_models}
    models: list[ModelResult] = []
    for listed in config.models:
        found = measured.pop(row_key(listed.id, listed.reason, twins), None)
        if found is None:
            models.append(ModelResult(id=listed.id, reason=listed.reason, tier=listed.tier, probed=False))
        else:
            models.append(
                replace(
                    found,
                    reason=listed.reason or found.reason,
                    tier=listed.tier,
                    probed=listed.probe and found.probed,
                )
            )
    models.extend(measured.values())
    return ProviderResult(
        provider=config.name,
        generated_at=result.generated_at if result else "",
        llmprobe_version=result.llmprobe_version if result else "",
        models=models,
        country=config.country or (result.country if result else ""),
        dashboard=config.dashboard or (result.dashboard if result else ""),
        local=config.local or bool(result and result.local),
        incomplete=list(result.incomplete) if result else [],
        source=result.source if result else "",
    )


def listing_of(result: ProviderResult) -> ProviderConfig:
    """The listing a results file implies (its models, order and tiers), for rendering it
    when providers.yaml cannot be read: no request is made, so no URL or dialect is needed."""
    models = tuple(ModelConfig(id=m.id, tier=m.tier, reason=m.reason, probe=m.probed) for m in result.models)
    return ProviderConfig(
        name=result.provider, api="", base_url="", country=result.country, dashboard=result.dashboard, models=models
    )
