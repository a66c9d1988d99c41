"""Prints infra/*.tf as one JSON object {file name: parsed HCL}, for
tests/tests/infra.rs (python-hcl2 8.x, in .venv/hcl2)."""
import json
import pathlib
import sys

import hcl2
from hcl2 import SerializationOptions

root = pathlib.Path(sys.argv[1])
opts = SerializationOptions(strip_string_quotes=True, explicit_blocks=False)
out = {}
for path in sorted(root.glob("*.tf")):
    with path.open() as f:
        out[path.name] = hcl2.load(f, serialization_options=opts)
json.dump(out, sys.stdout)
