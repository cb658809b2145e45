"""Stateful schemathesis over the official spec: sequences of calls where later steps use what earlier ones returned
(the client id of a created account, the id of a created secret, ...), linked by schemathesis's own dependency
analysis of the spec (it needs no OpenAPI ``links``; it infers ~100 transitions between the 22 operations).

Each step goes through the same bridge, seed and checks as the stateless run (:mod:`tests.contract.test_schemathesis`):
authenticated as the seed's ``ORG_OWNER`` (a fresh seed per scenario), three steps in four pointed at the seed's
organization and project, no
5xx, every response within the spec. The frozen clock moves a second per step, so the run stays inside Atlas's
rate limits (and tokens stay valid) as a real client pacing itself would.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings

from atlas_sa.kit.clock import FrozenClock
from tests.contract.stats import CURRENT, STATS
from tests.contract.test_schemathesis import EXCLUDED, Run, _spell_out_nulls, _valid_path_value, generation_spec

SCENARIOS = 30
STEPS = 12

schema = schemathesis.openapi.from_dict(generation_spec())


@pytest.mark.slow
def test_official_spec_statefully(fuzz: Run, clock: FrozenClock) -> None:
    seed = fuzz.seed
    state = {"steps": 0, "scenario_steps": 0}

    class Workflow(schema.as_state_machine()):  # type: ignore[misc]
        def setup(self) -> None:
            # Every scenario starts from a seed of its own (a new organization, project and account): the same
            # draws then meet the same server state, which Hypothesis requires (it replays prefixes of scenarios
            # and checks that the same rules are available).
            seed.org_id = seed.group_id = seed.client_id = seed.secret_id = ""
            seed.restore()
            state["scenario_steps"] = 0

        def before_call(self, case: schemathesis.Case) -> None:
            state["steps"] += 1
            state["scenario_steps"] += 1
            clock.advance(seconds=1)
            if state["scenario_steps"] % 4 and case.path_parameters:
                values = seed.path_values()
                for name in ("orgId", "groupId"):
                    if name in case.path_parameters and _valid_path_value(name, case.path_parameters[name]):
                        case.path_parameters[name] = values[name]
            _spell_out_nulls(case)
            CURRENT["operation"] = case.operation.definition.raw.get("operationId", case.operation.label)

        def get_call_kwargs(self, case: schemathesis.Case) -> dict[str, Any]:
            return {"app": seed.bridge, "headers": dict(seed.client.headers)}

        def validate_response(self, response: Any, case: schemathesis.Case, **kwargs: Any) -> None:
            STATS["stateful_steps"] += 1
            case.validate_response(response, excluded_checks=EXCLUDED, recorder=self.recorder)

    Workflow.run(
        settings=settings(
            max_examples=SCENARIOS,
            stateful_step_count=STEPS,
            deadline=None,
            database=None,
            derandomize=True,
            # No shrinking: a scenario's path depends on the server's state, which earlier scenarios changed, so
            # replaying a shrunk scenario is not deterministic; a failure is reported as found.
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
    )
    assert state["steps"] >= SCENARIOS, state
