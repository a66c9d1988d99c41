"""Validators of the hashicorp/aws provider that the schema does not carry
(enums, ranges, lengths), for the attributes infra/ uses. The stand-in
provider (stub_provider.py) applies them to literal values during
`terraform validate` and `plan`, as the real provider's ValidateFunc does.
Taken from ../shared/tools/tfcheck/check.py.
"""

# --------------------------------------------------------------------------
# provider validators that `terraform validate` runs (ValidateFunc), for the
# attributes this stack uses and the ones the brief lists. Sets are the AWS
# API enums (botocore service models), which the provider's
# enum.Validate[...]() / StringInSlice(X_Values()) use.
# key: (resource type, dotted path of nested block names + attribute)
ENUMS = {
    ("aws_lambda_function", "runtime"): ("lambda Runtime", [
        "nodejs", "nodejs4.3", "nodejs6.10", "nodejs8.10", "nodejs10.x", "nodejs12.x", "nodejs14.x",
        "nodejs16.x", "java8", "java8.al2", "java11", "python2.7", "python3.6", "python3.7", "python3.8",
        "python3.9", "dotnetcore1.0", "dotnetcore2.0", "dotnetcore2.1", "dotnetcore3.1", "dotnet6",
        "dotnet8", "nodejs4.3-edge", "go1.x", "ruby2.5", "ruby2.7", "provided", "provided.al2",
        "nodejs18.x", "python3.10", "java17", "ruby3.2", "ruby3.3", "python3.11", "nodejs20.x",
        "provided.al2023", "python3.12", "java21", "python3.13", "nodejs22.x"]),
    ("aws_lambda_function", "architectures"): ("lambda Architecture", ["x86_64", "arm64"]),
    ("aws_lambda_function", "package_type"): ("lambda PackageType", ["Zip", "Image"]),
    ("aws_lambda_function", "logging_config.log_format"): ("lambda LogFormat", ["JSON", "Text"]),
    ("aws_lambda_function", "logging_config.application_log_level"): (
        "lambda ApplicationLogLevel", ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"]),
    ("aws_lambda_function", "logging_config.system_log_level"): ("lambda SystemLogLevel", ["DEBUG", "INFO", "WARN"]),
    ("aws_lambda_function", "tracing_config.mode"): ("lambda TracingMode", ["Active", "PassThrough"]),
    ("aws_apigatewayv2_api", "protocol_type"): ("apigatewayv2 ProtocolType", ["HTTP", "WEBSOCKET"]),
    ("aws_apigatewayv2_integration", "integration_type"): (
        "apigatewayv2 IntegrationType", ["AWS", "AWS_PROXY", "HTTP", "HTTP_PROXY", "MOCK"]),
    ("aws_apigatewayv2_integration", "payload_format_version"): ("provider StringInSlice", ["1.0", "2.0"]),
    ("aws_apigatewayv2_integration", "connection_type"): ("apigatewayv2 ConnectionType", ["INTERNET", "VPC_LINK"]),
    ("aws_apigatewayv2_domain_name", "domain_name_configuration.endpoint_type"): (
        "apigatewayv2 EndpointType", ["REGIONAL", "EDGE"]),
    ("aws_apigatewayv2_domain_name", "domain_name_configuration.security_policy"): (
        "apigatewayv2 SecurityPolicy", ["TLS_1_0", "TLS_1_2"]),
    ("aws_cloudfront_distribution", "default_cache_behavior.viewer_protocol_policy"): (
        "cloudfront ViewerProtocolPolicy", ["allow-all", "https-only", "redirect-to-https"]),
    ("aws_cloudfront_distribution", "ordered_cache_behavior.viewer_protocol_policy"): (
        "cloudfront ViewerProtocolPolicy", ["allow-all", "https-only", "redirect-to-https"]),
    ("aws_cloudfront_distribution", "default_cache_behavior.allowed_methods"): (
        "cloudfront Method", ["GET", "HEAD", "POST", "PUT", "PATCH", "OPTIONS", "DELETE"]),
    ("aws_cloudfront_distribution", "default_cache_behavior.cached_methods"): (
        "cloudfront Method", ["GET", "HEAD", "POST", "PUT", "PATCH", "OPTIONS", "DELETE"]),
    ("aws_cloudfront_distribution", "viewer_certificate.minimum_protocol_version"): (
        "cloudfront MinimumProtocolVersion",
        ["SSLv3", "TLSv1", "TLSv1_2016", "TLSv1.1_2016", "TLSv1.2_2018", "TLSv1.2_2019", "TLSv1.2_2021"]),
    ("aws_cloudfront_distribution", "viewer_certificate.ssl_support_method"): (
        "cloudfront SSLSupportMethod", ["sni-only", "vip", "static-ip"]),
    ("aws_cloudfront_distribution", "http_version"): ("cloudfront HttpVersion", ["http1.1", "http2", "http2and3", "http3"]),
    ("aws_cloudfront_distribution", "price_class"): ("cloudfront PriceClass", ["PriceClass_100", "PriceClass_200", "PriceClass_All"]),
    ("aws_cloudfront_distribution", "restrictions.geo_restriction.restriction_type"): (
        "cloudfront GeoRestrictionType", ["none", "whitelist", "blacklist"]),
    ("aws_cloudfront_origin_access_control", "origin_access_control_origin_type"): (
        "cloudfront OriginAccessControlOriginTypes", ["s3", "mediastore", "mediapackagev2", "lambda"]),
    ("aws_cloudfront_origin_access_control", "signing_behavior"): (
        "cloudfront OriginAccessControlSigningBehaviors", ["never", "always", "no-override"]),
    ("aws_cloudfront_origin_access_control", "signing_protocol"): ("cloudfront OriginAccessControlSigningProtocols", ["sigv4"]),
    ("aws_cloudfront_cache_policy", "parameters_in_cache_key_and_forwarded_to_origin.cookies_config.cookie_behavior"): (
        "cloudfront CachePolicyCookieBehavior", ["none", "whitelist", "allExcept", "all"]),
    ("aws_cloudfront_cache_policy", "parameters_in_cache_key_and_forwarded_to_origin.headers_config.header_behavior"): (
        "cloudfront CachePolicyHeaderBehavior", ["none", "whitelist"]),
    ("aws_cloudfront_cache_policy", "parameters_in_cache_key_and_forwarded_to_origin.query_strings_config.query_string_behavior"): (
        "cloudfront CachePolicyQueryStringBehavior", ["none", "whitelist", "allExcept", "all"]),
    ("aws_cloudfront_response_headers_policy", "cors_config.access_control_allow_methods.items"): (
        "cloudfront ResponseHeadersPolicyAccessControlAllowMethodsValues",
        ["GET", "POST", "OPTIONS", "PUT", "DELETE", "PATCH", "HEAD", "ALL"]),
    ("aws_cloudfront_response_headers_policy", "security_headers_config.frame_options.frame_option"): (
        "cloudfront FrameOptionsList", ["DENY", "SAMEORIGIN"]),
    ("aws_cloudfront_response_headers_policy", "security_headers_config.referrer_policy.referrer_policy"): (
        "cloudfront ReferrerPolicyList", ["no-referrer", "no-referrer-when-downgrade", "origin", "origin-when-cross-origin",
                                          "same-origin", "strict-origin", "strict-origin-when-cross-origin", "unsafe-url"]),
    ("aws_dynamodb_table", "billing_mode"): ("dynamodb BillingMode", ["PROVISIONED", "PAY_PER_REQUEST"]),
    ("aws_dynamodb_table", "attribute.type"): ("dynamodb ScalarAttributeType", ["S", "N", "B"]),
    ("aws_dynamodb_table", "stream_view_type"): ("dynamodb StreamViewType", ["NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES", "KEYS_ONLY"]),
    ("aws_dynamodb_table", "table_class"): ("dynamodb TableClass", ["STANDARD", "STANDARD_INFREQUENT_ACCESS"]),
    ("aws_s3_bucket_ownership_controls", "rule.object_ownership"): (
        "s3 ObjectOwnership", ["BucketOwnerPreferred", "ObjectWriter", "BucketOwnerEnforced"]),
    ("aws_s3_bucket_versioning", "versioning_configuration.status"): ("provider (s3 + Disabled)", ["Enabled", "Suspended", "Disabled"]),
    ("aws_s3_bucket_server_side_encryption_configuration", "rule.apply_server_side_encryption_by_default.sse_algorithm"): (
        "s3 ServerSideEncryption", ["AES256", "aws:kms", "aws:kms:dsse"]),
    ("aws_s3_bucket_lifecycle_configuration", "rule.status"): ("provider lifecycleRuleStatus", ["Enabled", "Disabled"]),
    ("aws_s3_bucket_cors_configuration", "cors_rule.allowed_methods"): ("S3 CORS methods", ["GET", "PUT", "HEAD", "POST", "DELETE"]),
    ("aws_cloudwatch_log_group", "retention_in_days"): ("provider IntInSlice (logs)", [
        0, 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653]),
    ("aws_cloudwatch_log_group", "log_group_class"): ("logs LogGroupClass", ["STANDARD", "INFREQUENT_ACCESS", "DELIVERY"]),
    ("aws_iam_policy_document", "statement.effect"): ("provider StringInSlice", ["Allow", "Deny"]),
    ("aws_apigatewayv2_route", "authorization_type"): ("apigatewayv2 AuthorizationType", ["NONE", "AWS_IAM", "CUSTOM", "JWT"]),
}
RANGES = {
    ("aws_lambda_function", "memory_size"): (128, 10240, "provider IntBetween"),
    ("aws_lambda_function", "timeout"): (1, 900, "Lambda API limit"),
    ("aws_apigatewayv2_integration", "timeout_milliseconds"): (50, 30000, "HTTP API limit (apply-time)"),
    ("aws_apigatewayv2_api", "cors_configuration.max_age"): (-1, 86400, "provider IntBetween"),
    ("aws_cloudfront_cache_policy", "default_ttl"): (0, 31536000 * 100, "provider"),
    ("aws_s3_bucket_lifecycle_configuration", "rule.noncurrent_version_expiration.noncurrent_days"): (1, 10**9, "S3 API"),
}
LENGTHS = {
    ("aws_s3_bucket", "bucket_prefix"): (0, 37, "provider StringLenBetween(0, 63-26)"),
    ("aws_s3_bucket", "bucket"): (3, 63, "provider"),
    ("aws_lambda_function", "function_name"): (1, 64, "provider validFunctionName"),
    ("aws_iam_role", "name"): (1, 64, "provider validRoleName"),
    ("aws_iam_role_policy", "name"): (1, 128, "provider"),
    ("aws_cloudwatch_log_group", "name"): (1, 512, "provider"),
    ("aws_apigatewayv2_api", "name"): (1, 128, "provider StringLenBetween"),
    ("aws_cloudfront_origin_access_control", "name"): (1, 64, "provider StringLenBetween"),
    ("aws_lambda_permission", "statement_id"): (1, 100, "provider validPolicyStatementID"),
    ("aws_dynamodb_table", "name"): (3, 255, "provider"),
    ("aws_cloudwatch_event_rule", "name"): (1, 64, "provider validateEventRuleName"),
    ("aws_cloudwatch_event_rule", "description"): (0, 512, "provider StringLenBetween"),
    ("aws_cloudwatch_event_rule", "schedule_expression"): (0, 256, "provider StringLenBetween"),
}
