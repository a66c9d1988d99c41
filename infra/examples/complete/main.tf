# A complete liveship stack on custom domains. Build the functions first,
# from the repository root:
#   cargo lambda build --profile functions --arm64 --output-format zip
# then, here: terraform init && terraform apply

terraform {
  required_version = ">= 1.9.0, < 2.0.0"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.80"
    }
  }
}

# The module uses the caller's provider: its region is the stack's region.
provider "aws" {
  region = "eu-west-1"
  default_tags {
    tags = { application = "liveship", team = "mobile" }
  }
}

module "liveship" {
  source = "../.."

  name_prefix = "acme-liveship"

  register_zip          = "${path.root}/../../../target/lambda/register/bootstrap.zip"
  latest_zip            = "${path.root}/../../../target/lambda/latest/bootstrap.zip"
  download_complete_zip = "${path.root}/../../../target/lambda/download-complete/bootstrap.zip"

  api_domain_name     = "updates.acme.example"
  api_certificate_arn = "arn:aws:acm:eu-west-1:123456789012:certificate/00000000-0000-0000-0000-000000000000"
  cdn_domain_name     = "cdn.updates.acme.example"
  cdn_certificate_arn = "arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-0000-0000-000000000000"

  log_retention_days   = 90
  event_retention_days = 60
  cache_ttl_seconds    = 10
  cors_origins         = ["https://dashboard.acme.example"]
  memory_mb            = { latest = 512 } # register and download-complete keep their defaults
}

output "api_url" {
  value = module.liveship.api_url
}

output "cdn_url" {
  value = module.liveship.cdn_url
}

output "bucket" {
  value = module.liveship.bucket
}
