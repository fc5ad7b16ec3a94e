"""Acknowledging a cdk-nag rule on a construct, always with the reason it does not apply."""

from aws_cdk import Acknowledgment, Validations
from constructs import IConstruct


def acknowledge(scope: IConstruct, rule_id: str, reason: str) -> None:
    """Acknowledge `rule_id` (or one finding, "Rule[Finding]") on `scope` and everything under it."""
    if not reason.strip().endswith("."):
        raise ValueError(f"the reason for acknowledging {rule_id} must be a sentence")
    Validations.of(scope).acknowledge(Acknowledgment(id=rule_id, reason=reason))
