"""Lambda TOKEN authorizer: Bearer token -> principal.

The policy allows every route of the API, so API Gateway can cache it per token for all paths; the
principal travels to the functions in the request context.
"""

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.data_classes import event_source
from aws_lambda_powertools.utilities.data_classes.api_gateway_authorizer_event import (
    APIGatewayAuthorizerResponse,
    APIGatewayAuthorizerTokenEvent,
)

from shared.errors import Unauthorized
from shared.logic.access import authenticate

logger = Logger(service="authorizer")

# API Gateway turns exactly this exception message into a 401 (any other failure is a 500).
UNAUTHORIZED = "Unauthorized"


@logger.inject_lambda_context
@event_source(data_class=APIGatewayAuthorizerTokenEvent)
def handler(event: APIGatewayAuthorizerTokenEvent, context):
    try:
        principal, account = authenticate(event.authorization_token)
    except Unauthorized as denied:
        logger.info("token rejected", extra={"reason": denied.message})
        raise Exception(UNAUTHORIZED) from None
    policy = APIGatewayAuthorizerResponse.from_route_arn(
        event.method_arn,
        principal_id=principal.user_id,
        context={
            "accountId": principal.account_id,
            "userId": principal.user_id,
            "role": principal.role,
            "tokenId": principal.token_id,
        },
        # The account's key in the usage plan: API Gateway meters and throttles the account by it.
        usage_identifier_key=account.usage_key,
    )
    policy.allow_all_routes()
    return policy.asdict()
