"""Runtime operations code: boto3 only, never aws_cdk (runs in CodeBuild steps and from a laptop)."""
