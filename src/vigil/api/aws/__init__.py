"""The AWS-compatible endpoint: CloudWatch, CloudWatch Logs, X-Ray, SNS on the main port.

``interface`` states what a service implementation provides; ``protocols`` turns the wire
formats (JSON 1.0/1.1, query/XML, rest-json) into boto3-shaped dicts and back, driven by
botocore's own service models; ``sigv4`` verifies signatures; ``dispatch`` routes.
"""
