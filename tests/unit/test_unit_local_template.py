"""local.template (parsing the project's template.yaml) and local.gateway.to_http."""

from __future__ import annotations

import base64
import json
from functools import cache

import pytest

from local.gateway import to_http
from local.template import ACCOUNT_ID, REGION, Route, Template

pytestmark = pytest.mark.unit


@cache
def template() -> Template:
    return Template()


def test_routes_include_generate_and_usage_behind_the_authorizer() -> None:
    routes = {r.route_key: r for r in template().routes()}
    assert template().authorizers()["ApiKeyAuthorizer"].identity_headers == ("authorization",)
    assert routes["POST /generate"] == Route(
        "POST", "/generate", "GenerateFunction", "ApiKeyAuthorizer"
    )
    assert routes["GET /usage"] == Route("GET", "/usage", "UsageFunction", "ApiKeyAuthorizer")


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("GET", "/accounts/acc_1", {"accountId": "acc_1"}),
        ("GET", "/accounts/a%2Fb", {"accountId": "a%2Fb"}),
        ("GET", "/accounts/a/b", None),
        ("GET", "/accounts/", None),
        ("GET", "/accounts", None),
        ("POST", "/accounts/acc_1", None),
        ("GET", "/xaccounts/acc_1", None),
    ],
)
def test_route_match_with_a_path_parameter(
    method: str, path: str, expected: dict[str, str] | None
) -> None:
    assert Route("GET", "/accounts/{accountId}", "F", None).match(method, path) == expected


def test_route_match_literal_greedy_and_any() -> None:
    assert Route("POST", "/generate", "F", None).match("POST", "/generate") == {}
    assert Route("ANY", "/files/{proxy+}", "F", None).match("DELETE", "/files/a/b.txt") == {
        "proxy": "a/b.txt"
    }
    assert Route("GET", "/a.b", "F", None).match("GET", "/axb") is None


REFS = {"HttpApi": "api123", "UsageTable": "usage-table"}
ATTS = {"UsageTable.Arn": "arn:aws:dynamodb:us-east-1:123456789012:table/usage-table"}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"Ref": "UsageTable"}, "usage-table"),
        ({"Ref": "AWS::Region"}, REGION),
        ({"Ref": "AWS::AccountId"}, ACCOUNT_ID),
        ({"Ref": "DefaultModel"}, "gpt-4o-mini"),
        ({"Fn::GetAtt": ["UsageTable", "Arn"]}, ATTS["UsageTable.Arn"]),
        ({"Fn::GetAtt": "UsageTable.Arn"}, ATTS["UsageTable.Arn"]),
        (
            {"Fn::Sub": "https://${HttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}"},
            "https://api123.execute-api.us-east-1.amazonaws.com",
        ),
        ({"Fn::Sub": "${UsageTable.Arn}/index/*"}, ATTS["UsageTable.Arn"] + "/index/*"),
        (
            {"Fn::Sub": ["${Name}-${UsageTable}", {"Name": {"Ref": "HttpApi"}}]},
            "api123-usage-table",
        ),
        ({"Fn::Join": [":", ["a", {"Ref": "HttpApi"}]]}, "a:api123"),
        ([{"Ref": "HttpApi"}, 5], ["api123", 5]),
        ({"A": {"Ref": "HttpApi"}, "B": "x"}, {"A": "api123", "B": "x"}),
    ],
)
def test_resolve_intrinsics(value: object, expected: object) -> None:
    assert template().resolve(value, REFS, ATTS) == expected


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ({"Ref": "Nope"}, KeyError),
        ({"Fn::FindInMap": ["m", "k", "v"]}, ValueError),
        ({"Fn::If": ["NoSuchCondition", 1, 2]}, KeyError),
        ({"Fn::GetAtt": ["X", "Arn"]}, KeyError),
    ],
)
def test_resolve_refuses_what_it_cannot_resolve(value: object, error: type[Exception]) -> None:
    with pytest.raises(error):
        template().resolve(value, REFS, ATTS)


def test_sub_escape_renders_a_literal() -> None:
    assert (
        template().resolve({"Fn::Sub": "${!Literal}-${HttpApi}"}, REFS, ATTS) == "${Literal}-api123"
    )


def test_to_http_with_status_code() -> None:
    status, headers, body = to_http(
        {"statusCode": 409, "headers": {"Retry-After": 1}, "body": '{"a": 1}', "cookies": ["a=b"]}
    )
    assert (status, body) == (409, b'{"a": 1}')
    assert headers == {"Retry-After": "1", "Set-Cookie": "a=b"}


def test_to_http_decodes_a_base64_body() -> None:
    raw = b"\x00\xffbinary"
    result = {"statusCode": 200, "body": base64.b64encode(raw).decode(), "isBase64Encoded": True}
    assert to_http(result) == (200, {}, raw)


@pytest.mark.parametrize("result", [{"hello": "world"}, ["a", 1], "text", None])
def test_to_http_without_status_code_is_200_json(result: object) -> None:
    status, headers, body = to_http(result)
    assert (status, headers) == (200, {"Content-Type": "application/json"})
    assert json.loads(body) == result


def test_fn_if_follows_the_templates_conditions_and_parameter_overrides() -> None:
    from local.template import Template

    choose = {"Fn::If": ["SnapStartOn", "PublishedVersions", "None"]}
    assert Template().resolve(choose, REFS, ATTS) == "None"  # EnableSnapStart defaults to false
    enabled = Template(parameter_overrides={"EnableSnapStart": "true"})
    assert enabled.resolve(choose, REFS, ATTS) == "PublishedVersions"
