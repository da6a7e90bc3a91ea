"""The tools the project runs, pinned in one place (plain Python: the ``mlops`` command reads it too)."""

#: The CDK CLI (the 2.x line: npm's ``latest`` is CLI 3.x, which refuses aws-cdk-lib 2.x's cloud assembly).
CDK_CLI_VERSION = "2.1148.1"
#: How to run it without installing it (what the README, the delivery pipeline and ``mlops`` tell users).
CDK_CLI = f"npx --yes aws-cdk@{CDK_CLI_VERSION}"
