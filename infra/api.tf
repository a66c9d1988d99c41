# API Gateway HTTP API (payload format 2.0): every route of the router
# (liveship_core::http::openapi::ROUTES), each to the function that owns it.
# tests/tests/infra.rs holds this table against the code.

locals {
  routes = {
    "GET /healthz"                                     = { function = "register" }
    "GET /v1/openapi.json"                             = { function = "register" }
    "POST /v1/apps"                                    = { function = "register" }
    "GET /v1/apps"                                     = { function = "register" }
    "GET /v1/apps/{app}"                               = { function = "register" }
    "PATCH /v1/apps/{app}"                             = { function = "register" }
    "POST /v1/tokens"                                  = { function = "register" }
    "GET /v1/tokens"                                   = { function = "register" }
    "DELETE /v1/tokens/{id}"                           = { function = "register" }
    "POST /v1/tokens/{id}/rotate"                      = { function = "register" }
    "GET /v1/whoami"                                   = { function = "register" }
    "GET /v1/apps/{app}/audit"                         = { function = "register" }
    "GET /v1/apps/{app}/channels/{channel}/usage"      = { function = "register" }
    "GET /console"                                     = { function = "register" }
    "GET /console/{proxy+}"                            = { function = "register" }
    "POST /console/{proxy+}"                           = { function = "register" }
    "POST /v1/apps/{app}/uploads"                      = { function = "register" }
    "PUT /v1/apps/{app}/files/{sha256}"                = { function = "register" }
    "GET /v1/apps/{app}/files/{sha256}"                = { function = "latest" }
    "POST /v1/apps/{app}/builds"                       = { function = "register" }
    "GET /v1/apps/{app}/builds"                        = { function = "register" }
    "GET /v1/apps/{app}/builds/{id}"                   = { function = "register" }
    "PATCH /v1/apps/{app}/builds/{id}"                 = { function = "register" }
    "GET /v1/apps/{app}/builds/{id}/stats"             = { function = "register" }
    "GET /v1/apps/{app}/channels"                      = { function = "register" }
    "POST /v1/apps/{app}/channels"                     = { function = "register" }
    "PUT /v1/apps/{app}/channels/{channel}"            = { function = "register" }
    "DELETE /v1/apps/{app}/channels/{channel}"         = { function = "register" }
    "POST /v1/apps/{app}/channels/{channel}/rollback"  = { function = "register" }
    "POST /v1/apps/{app}/channels/{channel}/rollout"   = { function = "register" }
    "PATCH /v1/apps/{app}/channels/{channel}/guard"    = { function = "register" }
    "PUT /v1/apps/{app}/key-set"                       = { function = "register" }
    "GET /v1/apps/{app}/key-set"                       = { function = "latest" }
    "GET /v1/apps/{app}/channels/{channel}/latest"     = { function = "latest" }
    "POST /v1/apps/{app}/events"                       = { function = "download-complete" }
    "POST /capgo/updates"                              = { function = "latest" }
    "GET /v1/apps/{app}/bundles/latest"                = { function = "latest" }
    "GET /v1/apps/{app}/bundles/{id}/files"            = { function = "latest" }
    "POST /capgo/stats"                                = { function = "download-complete" }
    "POST /capgo/channel_self"                         = { function = "download-complete" }
    "PUT /capgo/channel_self"                          = { function = "download-complete" }
    "GET /capgo/channel_self"                          = { function = "download-complete" }
    "DELETE /capgo/channel_self"                       = { function = "download-complete" }
    "GET /build/latest"                                = { function = "latest" }
    "GET /build/download"                              = { function = "latest" }
    "GET /build/download/complete"                     = { function = "download-complete" }
  }
  # The device-facing functions get their own, tighter, per-route throttle.
  device_routes = { for k, r in local.routes : k => r if r.function != "register" }
}

resource "aws_apigatewayv2_api" "this" {
  name          = var.name_prefix
  protocol_type = "HTTP"
  description   = "liveship: signed live updates for Capacitor apps"

  dynamic "cors_configuration" {
    for_each = length(var.cors_origins) > 0 ? [1] : []
    content {
      allow_origins = var.cors_origins
      allow_methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
      allow_headers = ["authorization", "content-type"]
      max_age       = 3600
    }
  }
}

resource "aws_apigatewayv2_integration" "function" {
  for_each               = local.functions
  api_id                 = aws_apigatewayv2_api.this.id
  integration_type       = "AWS_PROXY"
  integration_uri        = aws_lambda_function.function[each.key].invoke_arn
  payload_format_version = "2.0"
  timeout_milliseconds   = min(30000, local.timeout_seconds[each.key] * 1000)
}

resource "aws_apigatewayv2_route" "route" {
  for_each  = local.routes
  api_id    = aws_apigatewayv2_api.this.id
  route_key = each.key
  target    = "integrations/${aws_apigatewayv2_integration.function[each.value.function].id}"
  #checkov:skip=CKV_AWS_309:liveship authorises every CI route itself with scoped bearer tokens (stored hashed, compared in constant time); device routes are public by design
}

resource "aws_cloudwatch_log_group" "api" {
  name              = "/aws/apigateway/${var.name_prefix}"
  retention_in_days = var.log_retention_days
  #checkov:skip=CKV_AWS_158:access logs hold no secrets (no headers, no query strings); CloudWatch's default encryption applies
  #checkov:skip=CKV_AWS_338:retention is var.log_retention_days; a year of request logs is rarely worth its cost here
}

resource "aws_apigatewayv2_stage" "default" {
  api_id      = aws_apigatewayv2_api.this.id
  name        = "$default"
  auto_deploy = true

  default_route_settings {
    throttling_rate_limit  = var.throttle_rate
    throttling_burst_limit = var.throttle_burst
  }

  dynamic "route_settings" {
    for_each = local.device_routes
    content {
      route_key              = route_settings.key
      throttling_rate_limit  = var.device_throttle_rate
      throttling_burst_limit = var.device_throttle_burst
    }
  }

  # No headers, no query string: tokens and device ids stay out of the logs.
  access_log_settings {
    destination_arn = aws_cloudwatch_log_group.api.arn
    format = jsonencode({
      requestId = "$context.requestId"
      time      = "$context.requestTime"
      route     = "$context.routeKey"
      path      = "$context.path"
      status    = "$context.status"
      latencyMs = "$context.responseLatency"
      error     = "$context.integrationErrorMessage"
    })
  }

  depends_on = [aws_apigatewayv2_route.route]
}

resource "aws_lambda_permission" "api" {
  for_each      = local.functions
  statement_id  = "AllowApiGateway"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.function[each.key].function_name
  principal     = "apigateway.amazonaws.com"
  source_arn    = "${aws_apigatewayv2_api.this.execution_arn}/*/*"
}

resource "aws_apigatewayv2_domain_name" "api" {
  count       = var.api_domain_name != null ? 1 : 0
  domain_name = var.api_domain_name
  domain_name_configuration {
    certificate_arn = var.api_certificate_arn
    endpoint_type   = "REGIONAL"
    security_policy = "TLS_1_2"
  }
}

resource "aws_apigatewayv2_api_mapping" "api" {
  count       = var.api_domain_name != null ? 1 : 0
  api_id      = aws_apigatewayv2_api.this.id
  domain_name = aws_apigatewayv2_domain_name.api[0].id
  stage       = aws_apigatewayv2_stage.default.id
}
