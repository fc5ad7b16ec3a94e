"""Entry point of the CDK app (`cdk.json`: `python -m infra.app`): one stack, checked by cdk-nag."""

from typing import Any

from aws_cdk import App, Validations
from cdk_nag import AwsSolutionsChecks

from infra.stack import CrmRecordsApiStack

STACK_NAME = "CrmRecordsApi"


def build_app(context: dict[str, Any] | None = None) -> tuple[App, CrmRecordsApiStack]:
    app = App(context=context)
    stack = CrmRecordsApiStack(app, STACK_NAME)
    # Findings fail the synthesis unless acknowledged, with a reason, on the construct concerned;
    # the acknowledgements are written into the template's metadata for audit.
    Validations.of(app).add_plugins(AwsSolutionsChecks(app, write_suppressions_to_cloud_formation=True))
    return app, stack


def main() -> None:
    app, _ = build_app()
    app.synth()


if __name__ == "__main__":
    main()
