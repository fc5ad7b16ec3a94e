"""The table is the one TABLE_DEFINITION describes, protected against loss."""

from shared.repository.table import TABLE_DEFINITION, TTL_ATTRIBUTE

from .helpers import only


def _by_name(items, key):
    return sorted(items, key=lambda item: item[key])


def test_table_keys_attributes_and_indexes_are_those_of_table_definition(cfn):
    _, table = only(cfn, "AWS::DynamoDB::Table")
    properties = table["Properties"]

    assert properties["KeySchema"] == TABLE_DEFINITION["KeySchema"]
    assert _by_name(properties["AttributeDefinitions"], "AttributeName") == _by_name(
        TABLE_DEFINITION["AttributeDefinitions"], "AttributeName"
    )
    assert _by_name(properties["GlobalSecondaryIndexes"], "IndexName") == _by_name(
        TABLE_DEFINITION["GlobalSecondaryIndexes"], "IndexName"
    )


def test_table_streams_new_and_old_images(cfn):
    _, table = only(cfn, "AWS::DynamoDB::Table")

    view_type = table["Properties"]["StreamSpecification"]["StreamViewType"]

    assert view_type == TABLE_DEFINITION["StreamSpecification"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"


def test_table_is_on_demand_with_ttl(cfn):
    _, table = only(cfn, "AWS::DynamoDB::Table")
    properties = table["Properties"]

    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    assert properties["TimeToLiveSpecification"] == {"AttributeName": TTL_ATTRIBUTE, "Enabled": True}


def test_table_survives_mistakes(cfn):
    _, table = only(cfn, "AWS::DynamoDB::Table")
    properties = table["Properties"]

    assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert properties["DeletionProtectionEnabled"] is True
    assert table["DeletionPolicy"] == "Retain"
    assert table["UpdateReplacePolicy"] == "Retain"
