"""Parses a /metrics answer with PyPI prometheus-client's OpenMetrics
parser (an independent implementation of the exposition format), for the
end-to-end tests.

Reads {"text": EXPOSITION} on stdin; writes {"samples": [{"name", "labels",
"value"}, ...], "types": {FAMILY: TYPE}}, or fails with the parser's error.
"""

import json
import sys

from prometheus_client.openmetrics.parser import text_string_to_metric_families

request = json.load(sys.stdin)
samples = []
types = {}
for family in text_string_to_metric_families(request["text"]):
    types[family.name] = family.type
    for sample in family.samples:
        samples.append({"name": sample.name, "labels": sample.labels, "value": sample.value})
print(json.dumps({"samples": samples, "types": types}))
