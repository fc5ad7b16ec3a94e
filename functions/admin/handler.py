"""Users and API tokens of an account (admin only): /users, /users/{userId}, /tokens, /tokens/{tokenId}."""

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging import correlation_paths

from shared.http import Limit, NextToken, build_app, current_principal
from shared.logic import admin
from shared.models.api import (
    CreatedTokenResponse,
    CreateTokenRequest,
    CreateUserRequest,
    DeletedUserResponse,
    RevokedTokenResponse,
    TokenPage,
    UpdateUserRequest,
    UserPage,
    UserResponse,
)

app = build_app()
logger = Logger(service="admin")


@app.get("/users")
def list_users(limit: Limit = 20, nextToken: NextToken = None) -> UserPage:
    return admin.list_users(current_principal(app), limit, nextToken)


@app.post("/users")
def create_user(body: CreateUserRequest) -> UserResponse:
    return admin.create_user(current_principal(app), body)


@app.get("/users/<userId>")
def get_user(userId: str) -> UserResponse:
    return admin.get_user(current_principal(app), userId)


@app.put("/users/<userId>")
def update_user(userId: str, body: UpdateUserRequest) -> UserResponse:
    return admin.update_user(current_principal(app), userId, body)


@app.delete("/users/<userId>")
def delete_user(userId: str) -> DeletedUserResponse:
    return admin.delete_user(current_principal(app), userId)


@app.get("/tokens")
def list_tokens(limit: Limit = 20, nextToken: NextToken = None) -> TokenPage:
    return admin.list_tokens(current_principal(app), limit, nextToken)


@app.post("/tokens")
def create_token(body: CreateTokenRequest) -> CreatedTokenResponse:
    return admin.create_token(current_principal(app), body)


@app.delete("/tokens/<tokenId>")
def revoke_token(tokenId: str) -> RevokedTokenResponse:
    return {"token": admin.revoke_token(current_principal(app), tokenId)}


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
def handler(event, context):
    return app.resolve(event, context)
