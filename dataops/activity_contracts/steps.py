"""Contracts of the change-feed steps ``synchronize``, ``enrich`` and ``detect_scenes``.

Each step has the same three activities: ``<step>_prepare`` (output datastream PROCESSING,
idempotent by id), ``<step>_run`` (compute, write, COMPLETED) and ``<step>_fail`` (FAILED with
the reason); :class:`StepContracts` names them once per step.
"""

from __future__ import annotations

from dataclasses import dataclass

from dataops.activity_contracts.base import ActivityContract, ActivityInput, ActivityOutput

__all__ = [
    "DETECT_SCENES",
    "ENRICH",
    "STEPS",
    "SYNCHRONIZE",
    "FailInput",
    "PrepareInput",
    "RunInput",
    "StepContracts",
]


class PrepareInput(ActivityInput):
    source_datastream_id: str
    datastream_id: str
    instance_id: str


class RunInput(ActivityInput):
    datastream_id: str


class FailInput(ActivityInput):
    datastream_id: str
    reason: str


@dataclass(frozen=True)
class StepContracts:
    """The prepare, run and fail activities of one step."""

    step: str
    running_stage: str
    """The run's custom status ``stage`` while the step computes (after ``preparing``)."""
    prepare: ActivityContract[PrepareInput, ActivityOutput]
    run: ActivityContract[RunInput, ActivityOutput]
    fail: ActivityContract[FailInput, ActivityOutput]


def _step(step: str, running_stage: str) -> StepContracts:
    return StepContracts(
        step=step,
        running_stage=running_stage,
        prepare=ActivityContract(f"{step}_prepare", PrepareInput, ActivityOutput),
        run=ActivityContract(f"{step}_run", RunInput, ActivityOutput, cpu_bound=True),
        fail=ActivityContract(f"{step}_fail", FailInput, ActivityOutput),
    )


SYNCHRONIZE = _step("synchronize", "synchronizing")
ENRICH = _step("enrich", "enriching")
DETECT_SCENES = _step("detect_scenes", "detecting")
STEPS = (SYNCHRONIZE, ENRICH, DETECT_SCENES)
