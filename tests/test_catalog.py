"""ModelProjectTemplate / CatalogStack: the Studio-visible product, its launch-time template and launch role.

The product template is a ProductStack: it is written as a file asset next to the stack templates, so it is
linted separately; cdk-nag walks the whole construct tree, product stacks included (a test below proves it).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from support import check_assembly, lint_errors, nag_app, synth_checked

ROOT = Path(__file__).resolve().parents[1]
PIPELINE_ARN = {"Fn::Sub": "arn:${AWS::Partition}:codepipeline:${AWS::Region}:${AWS::AccountId}:"
                           "mlops-${ModelName}-delivery"}
STUDIO_ROLE = "arn:aws:iam::111111111111:role/service-role/AmazonSageMaker-ExecutionRole-1"


def _config():
    from constructs_lib.config import load_config

    return load_config(ROOT / "config" / "platform.yaml")


def _synth(**kwargs) -> dict:
    from aws_cdk.assertions import Template

    from stacks.catalog import CatalogStack

    app = nag_app()
    stack = CatalogStack(app, "mlops-catalog", config=_config(), **kwargs)
    templates = check_assembly(synth_checked(app))
    (product_file,) = Path(app.outdir).glob("*.product.template.json")
    product = json.loads(product_file.read_text())
    return {"stack": stack, "raw": templates["mlops-catalog"], "template": Template.from_json(templates["mlops-catalog"]),
            "product": product, "product_template": Template.from_json(product)}


@pytest.fixture(scope="module")
def full():
    """A Studio role, and approvals start the model's delivery pipeline (default)."""
    return _synth(studio_role_arns=[STUDIO_ROLE])


@pytest.fixture(scope="module")
def minimal():
    """No Studio role, no approval rule (launched projects get the group only)."""
    return _synth(release_approvals=False)


def _statements(template) -> list[dict]:
    (policy,) = template.find_resources("AWS::IAM::Policy").values()
    return policy["Properties"]["PolicyDocument"]["Statement"]


def _flat(resource) -> str:
    return json.dumps(resource, sort_keys=True)


# ------------------------------------------------------------------------------------------ portfolio, product
def test_product_is_studio_visible_in_a_portfolio_shared_with_the_studio_role(full):
    template = full["template"]
    template.has_resource_properties("AWS::ServiceCatalog::CloudFormationProduct", {
        "Name": "Safe-release model project", "Owner": "ML platform team",
        "Tags": [{"Key": "sagemaker:studio-visibility", "Value": "true"}],
    })
    template.has_resource_properties("AWS::ServiceCatalog::Portfolio", {"DisplayName": "mlops model projects"})
    template.has_resource_properties("AWS::ServiceCatalog::PortfolioPrincipalAssociation",
                                     {"PrincipalARN": STUDIO_ROLE, "PrincipalType": "IAM"})
    template.resource_count_is("AWS::ServiceCatalog::PortfolioProductAssociation", 1)


def test_launch_constraint_uses_the_role_only_service_catalog_can_assume(full):
    template = full["template"]
    (role_id,) = template.find_resources("AWS::IAM::Role").keys()
    template.has_resource_properties("AWS::ServiceCatalog::LaunchRoleConstraint",
                                     {"RoleArn": {"Fn::GetAtt": [role_id, "Arn"]}})
    (role,) = template.find_resources("AWS::IAM::Role").values()
    assert role["Properties"]["AssumeRolePolicyDocument"]["Statement"] == [{
        "Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {"Service": "servicecatalog.amazonaws.com"}}]


def test_launch_role_manages_only_what_the_product_contains(full, minimal):
    def grants(result):
        return {action: _flat(s["Resource"]) + _flat(s.get("Condition", {}))
                for s in _statements(result["template"])
                for action in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}

    with_rule, group_only = grants(full), grants(minimal)
    services = {action.split(":")[0] for action in with_rule}
    assert services == {"cloudformation", "s3", "sagemaker", "events", "iam"}
    assert "stack/SC-*/*" in with_rule["cloudformation:CreateStack"]
    assert "servicecatalog:provisioning" in with_rule["s3:GetObject"]  # only the template copies SC tags
    assert "model-package-group/*" in with_rule["sagemaker:CreateModelPackageGroup"]
    assert "rule/SC-*" in with_rule["events:PutRule"]
    # Roles: only under this template's own path (not every SC-* role of the account), and created or given an
    # inline policy only with the template's permissions boundary.
    for action in ("iam:CreateRole", "iam:PutRolePolicy", "iam:DeleteRolePolicy", "iam:DeleteRole", "iam:PassRole"):
        assert ":role/mlops-catalog-ModelProjectTemplate/SC-*" in with_rule[action], action
    for action in ("iam:CreateRole", "iam:PutRolePolicy", "iam:DeleteRolePolicy"):
        assert '"iam:PermissionsBoundary": {"Ref": "ModelProjectTemplateLaunchBoundary' in with_rule[action]
    assert "iam:PermissionsBoundary" not in with_rule["iam:DeleteRole"]  # IAM has no such key for DeleteRole
    assert "events.amazonaws.com" in with_rule["iam:PassRole"]
    assert not any(a in with_rule for a in ("iam:AttachRolePolicy", "iam:PutRolePermissionsBoundary",
                                            "iam:DeleteRolePermissionsBoundary"))
    # Without a release pipeline the product has no rule and no role, so the launch role gets neither.
    assert {action.split(":")[0] for action in group_only} == {"cloudformation", "s3", "sagemaker"}
    # "*" only where IAM has no resource-level permission or a condition confines it.
    assert {action for action, grant in with_rule.items() if grant.startswith('"*"')} == {
        "cloudformation:ValidateTemplate", "s3:GetObject"}


# ------------------------------------------------------------------------------------------ product template
def test_product_template_takes_model_name_and_approval_mode_at_launch(full):
    parameters = full["product"]["Parameters"]
    assert set(parameters) == {"SageMakerProjectName", "SageMakerProjectId", "ModelName", "ApprovalMode"}
    assert parameters["ModelName"]["AllowedPattern"] == "^[a-z](-*[a-z0-9]){0,39}$"
    assert parameters["ModelName"]["MaxLength"] == 40
    assert parameters["ApprovalMode"]["AllowedValues"] == ["manual", "automatic"]
    assert parameters["ApprovalMode"]["Default"] == "manual"


def test_launched_group_is_named_by_the_parameter_retained_and_shared_only_with_test_and_prod(full):
    groups = full["product_template"].find_resources("AWS::SageMaker::ModelPackageGroup")
    assert list(groups) == ["Group"]  # stateful: logical id pinned
    group = groups["Group"]
    assert (group["DeletionPolicy"], group["UpdateReplacePolicy"]) == ("Retain", "Retain")
    properties = group["Properties"]
    assert properties["ModelPackageGroupName"] == {"Fn::Sub": "mlops-${ModelName}"}  # <project>-<model>
    principals = {p["Fn::Sub"] for s in properties["ModelPackageGroupPolicy"]["Statement"]
                  for p in s["Principal"]["AWS"]}
    assert principals == {"arn:${AWS::Partition}:iam::222222222222:root",
                          "arn:${AWS::Partition}:iam::333333333333:root"}
    actions = {a for s in properties["ModelPackageGroupPolicy"]["Statement"] for a in s["Action"]}
    assert actions == {"sagemaker:DescribeModelPackageGroup", "sagemaker:DescribeModelPackage",
                       "sagemaker:ListModelPackages", "sagemaker:CreateModel"}
    tags = {t["Key"]: t["Value"] for t in properties["Tags"]}
    assert tags == {"sagemaker:project-name": {"Ref": "SageMakerProjectName"},
                    "sagemaker:project-id": {"Ref": "SageMakerProjectId"},
                    "mlops:approval-mode": {"Ref": "ApprovalMode"}}


def test_launched_rule_starts_the_release_only_on_approval_of_this_group(full):
    (rule,) = full["product_template"].find_resources("AWS::Events::Rule").values()
    assert rule["Properties"]["EventPattern"] == {
        "source": ["aws.sagemaker"], "detail-type": ["SageMaker Model Package State Change"],
        "detail": {"ModelPackageGroupName": [{"Fn::Sub": "mlops-${ModelName}"}], "ModelApprovalStatus": ["Approved"]}}
    (target,) = rule["Properties"]["Targets"]
    assert target["Arn"] == PIPELINE_ARN
    # The product names the pipeline by the delivery pipeline's own naming rule.
    from constructs_lib.config import ModelConfig
    from constructs_lib.platform.pipeline import delivery_pipeline_name

    assert delivery_pipeline_name(_config(), ModelConfig(name="fraud")) == "mlops-fraud-delivery"
    (policy,) = full["product_template"].find_resources("AWS::IAM::Policy").values()
    assert policy["Properties"]["PolicyDocument"]["Statement"] == [
        {"Action": "codepipeline:StartPipelineExecution", "Effect": "Allow", "Resource": PIPELINE_ARN}]
    # The rule's role: under the template's path, bounded by the boundary the launch role insists on, which
    # allows starting the release pipelines and nothing else.
    (role,) = full["product_template"].find_resources("AWS::IAM::Role").values()
    assert role["Properties"]["Path"] == "/mlops-catalog-ModelProjectTemplate/"
    assert role["Properties"]["PermissionsBoundary"] == {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:"
                                                                    "policy/mlops-catalog-ModelProjectTemplate-${AWS::Region}-boundary"}
    (boundary,) = full["template"].find_resources("AWS::IAM::ManagedPolicy").values()
    assert boundary["Properties"]["ManagedPolicyName"] == {
        "Fn::Sub": "mlops-catalog-ModelProjectTemplate-${AWS::Region}-boundary"}
    (statement,) = boundary["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Action"] == "codepipeline:StartPipelineExecution"
    assert json.dumps(statement["Resource"]).endswith(':codepipeline:eu-west-1:111111111111:mlops-*-delivery"]]}')


def test_without_a_release_pipeline_a_launch_creates_the_group_only(minimal):
    resources = minimal["product"]["Resources"]
    assert [r["Type"] for r in resources.values()] == ["AWS::SageMaker::ModelPackageGroup"]


def test_product_templates_pass_cfn_lint(full, minimal):
    assert lint_errors(full["product"], "eu-west-1") == []
    assert lint_errors(minimal["product"], "eu-west-1") == []


def test_cdk_nag_checks_resources_inside_product_stacks():
    """Without this, a clean nag run on the catalog would prove nothing about the product template."""
    import aws_cdk as cdk
    from aws_cdk import aws_iam as iam
    from aws_cdk import aws_servicecatalog as servicecatalog

    app = nag_app()
    stack = cdk.Stack(app, "Holder", env=cdk.Environment(account="111111111111", region="eu-west-1"))
    product_stack = servicecatalog.ProductStack(stack, "Product")
    role = iam.Role(product_stack, "Role", assumed_by=iam.ServicePrincipal("events.amazonaws.com"))
    role.add_to_policy(iam.PolicyStatement(actions=["sagemaker:*"], resources=["*"]))
    servicecatalog.CloudFormationProduct(stack, "P", product_name="p", owner="o", product_versions=[
        servicecatalog.CloudFormationProductVersion(
            cloud_formation_template=servicecatalog.CloudFormationTemplate.from_product_stack(product_stack))])
    with pytest.raises(AssertionError, match=r"AwsSolutions-IAM5.* at Holder/Product/Role"):
        synth_checked(app)


# ------------------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize("kwargs, message", [
    ({"consumer_accounts": []}, "consumer_accounts: must be a non-empty list of 12-digit account ids, got []"),
    ({"consumer_accounts": ["2222"]}, "consumer_accounts[0]: must be a 12-digit account id, got '2222'"),
    ({"consumer_accounts": ["222222222222"], "portfolio_name": " "},
     "portfolio_name: must be 1-100 characters, got ' '"),
    ({"consumer_accounts": ["222222222222"], "provider_name": "x" * 51},
     f"provider_name: must be 1-50 characters, got {'x' * 51!r}"),
    ({"consumer_accounts": ["222222222222"], "release_pipeline_name": "mlops/{model}"},
     "release_pipeline_name: must be a CodePipeline name of 1-100 letters, digits, '.', '@', '_' or '-' once "
     "{model} is replaced by a 40-character model name, got 'mlops/{model}'"),
    ({"consumer_accounts": ["222222222222"], "release_pipeline_name": "a-" * 31 + "{model}"},
     "release_pipeline_name: must be a CodePipeline name of 1-100 letters, digits, '.', '@', '_' or '-' once "
     f"{{model}} is replaced by a 40-character model name, got {'a-' * 31 + '{model}'!r}"),
])
def test_template_rejects_bad_input(kwargs, message):
    import aws_cdk as cdk

    from constructs_lib.catalog import ModelProjectTemplate
    from constructs_lib.errors import ConfigError

    stack = cdk.Stack(cdk.App(), "S", env=cdk.Environment(account="111111111111", region="eu-west-1"))
    with pytest.raises(ConfigError) as error:
        ModelProjectTemplate(stack, "T", **kwargs)
    assert str(error.value) == message


@pytest.mark.parametrize("kwargs, message", [
    ({"studio_role_arns": ["AmazonSageMaker-ExecutionRole"]},
     "studio_roles: must be IAM role ARNs (arn:aws:iam::ACCOUNT:role/NAME), got 'AmazonSageMaker-ExecutionRole'"),
    ({"env": {"account": "222222222222", "region": "eu-west-1"}},
     "accounts.dev: the catalog stack deploys to the dev account and region (111111111111/eu-west-1), "
     "got env 222222222222/eu-west-1"),
])
def test_catalog_stack_rejects_bad_input(kwargs, message):
    import aws_cdk as cdk

    from constructs_lib.errors import ConfigError
    from stacks.catalog import CatalogStack

    if "env" in kwargs:
        kwargs["env"] = cdk.Environment(**kwargs["env"])
    with pytest.raises(ConfigError) as error:
        CatalogStack(cdk.App(), "mlops-catalog", config=_config(), **kwargs)
    assert str(error.value) == message


def test_two_templates_in_one_stack_get_their_own_paths_and_boundaries():
    import aws_cdk as cdk
    from aws_cdk.assertions import Template

    from constructs_lib.catalog import ModelProjectTemplate

    stack = cdk.Stack(cdk.App(), "Catalogs", env=cdk.Environment(account="111111111111", region="eu-west-1"))
    for name in ("Churn", "Fraud"):
        ModelProjectTemplate(stack, name, consumer_accounts=["222222222222"],
                             release_pipeline_name="mlops-{model}-delivery")
    boundaries = Template.from_stack(stack).find_resources("AWS::IAM::ManagedPolicy").values()
    assert sorted(b["Properties"]["ManagedPolicyName"]["Fn::Sub"] for b in boundaries) == [
        "Catalogs-Churn-${AWS::Region}-boundary", "Catalogs-Fraud-${AWS::Region}-boundary"]
