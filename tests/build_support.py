"""Reading a synthesised SageMaker pipeline back: the definition body is an Fn::Join of JSON text and
references (role ARN, partition); references become readable placeholders so the JSON parses."""

from __future__ import annotations

import json


def _render(part) -> str:
    if isinstance(part, str):
        return part
    if part == {"Ref": "AWS::Partition"}:
        return "aws"
    if "Fn::GetAtt" in part:
        return "<{}.{}>".format(*part["Fn::GetAtt"])
    if "Ref" in part:
        return f"<{part['Ref']}>"
    raise AssertionError(f"unexpected intrinsic in the pipeline definition: {part}")


def pipeline_definition(resource: dict) -> dict:
    """The parsed definition of an ``AWS::SageMaker::Pipeline`` resource of a template."""
    body = resource["Properties"]["PipelineDefinition"]["PipelineDefinitionBody"]
    if isinstance(body, dict):
        delimiter, parts = body["Fn::Join"]
        body = delimiter.join(_render(part) for part in parts)
    return json.loads(body)


def steps_by_name(definition: dict) -> dict[str, dict]:
    """Every step, condition branches included, by name."""
    out: dict[str, dict] = {}

    def walk(steps):
        for step in steps:
            out[step["Name"]] = step
            if step["Type"] == "Condition":
                walk(step["Arguments"]["IfSteps"])
                walk(step["Arguments"]["ElseSteps"])

    walk(definition["Steps"])
    return out
