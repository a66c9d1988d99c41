# The rollout guard's scheduled trigger. Plans advance and halt whenever a
# channel is next read or written, so this is not needed for correctness:
# it only makes decisions (and their webhook posts) happen on time on a
# channel that no device or CI job is touching (docs/rollouts.md).

locals {
  rollout_tick = var.rollout_tick_minutes > 0 ? 1 : 0
}

resource "aws_cloudwatch_event_rule" "rollout_tick" {
  count               = local.rollout_tick
  name                = "${var.name_prefix}-rollout-tick"
  description         = "liveship: judge due rollout plans every ${var.rollout_tick_minutes} min"
  schedule_expression = var.rollout_tick_minutes == 1 ? "rate(1 minute)" : "rate(${var.rollout_tick_minutes} minutes)"
}

# The register function has the writes a decision needs (channels, audit).
resource "aws_cloudwatch_event_target" "rollout_tick" {
  count = local.rollout_tick
  rule  = aws_cloudwatch_event_rule.rollout_tick[0].name
  arn   = aws_lambda_function.function["register"].arn
}

resource "aws_lambda_permission" "rollout_tick" {
  count         = local.rollout_tick
  statement_id  = "rollout-tick"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.function["register"].function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.rollout_tick[0].arn
}
