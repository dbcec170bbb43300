"""The IAM statements template.yaml gives a function: its SAM `Policies`, or its own role's."""

from __future__ import annotations

from typing import Any

from local.template import Template

# What a role of this template may attach besides its own statements: CloudWatch Logs (what SAM
# gives every function) and X-Ray (whose actions have no resource-level permissions).
ALLOWED_MANAGED_POLICIES = {
    "arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
    "arn:${AWS::Partition}:iam::aws:policy/AWSXRayDaemonWriteAccess",
}


def function_role(template: Template, logical_id: str) -> str | None:
    """The logical id of the function's own role (`Role: !GetAtt X.Arn`), None for SAM's."""
    role = template.resources[logical_id]["Properties"].get("Role")
    if role is None:
        return None
    assert isinstance(role, dict), f"{logical_id}: role {role!r}"
    assert "Fn::GetAtt" in role, f"{logical_id}: role {role!r}"
    target, attribute = role["Fn::GetAtt"]
    assert attribute == "Arn", logical_id
    assert template.resources[target]["Type"] == "AWS::IAM::Role", logical_id
    return str(target)


def function_statements(template: Template, logical_id: str) -> list[dict[str, Any]]:
    """Every statement the function's role holds (inline; managed policies checked apart)."""
    props = template.resources[logical_id]["Properties"]
    role_id = function_role(template, logical_id)
    if role_id is None:
        policies = props.get("Policies", [])
        for policy in policies:
            assert isinstance(policy, dict), f"{logical_id}: a managed policy by name: {policy}"
            assert set(policy) == {"Statement"}, f"{logical_id}: explicit statements only"
        return [s for p in policies for s in p["Statement"]]
    assert "Policies" not in props, f"{logical_id}: Policies are ignored with a Role"
    role = template.resources[role_id]["Properties"]
    managed = {arn["Fn::Sub"] for arn in role.get("ManagedPolicyArns", [])}
    assert managed <= ALLOWED_MANAGED_POLICIES, f"{role_id}: {managed}"
    return [s for p in role.get("Policies", []) for s in p["PolicyDocument"]["Statement"]]
