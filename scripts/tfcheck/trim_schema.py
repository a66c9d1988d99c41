#!/usr/bin/env python3
"""Writes scripts/tfcheck/aws-schema.json: the part of the hashicorp/aws
5.99.1 provider schema that infra/ uses (its resource and data source
types), so scripts/test needs neither the 400 MB npm package nor network.

Re-run when infra/ starts using another resource type:
  1. the full schema, from @cdktf/provider-aws (generated from aws 5.99.1):
       sh ../shared/tools/tfcheck/setup.sh   (or: npm pack @cdktf/provider-aws@19.65.1,
       unpack, and run extract_schema.py from that tool on it)
  2. python3 scripts/tfcheck/trim_schema.py FULL_SCHEMA.json infra
"""
import json
import os
import re
import sys


def used_types(infra):
    res, data = set(), set()
    for root, _, files in os.walk(infra):
        for f in files:
            if f.endswith(".tf"):
                text = open(os.path.join(root, f)).read()
                res.update(re.findall(r'^\s*resource\s+"([a-z0-9_]+)"', text, re.M))
                data.update(re.findall(r'^\s*data\s+"([a-z0-9_]+)"', text, re.M))
    return res, data


def main(full, infra):
    doc = json.load(open(full))
    res, data = used_types(infra)
    out = json.loads(json.dumps(doc))
    for ps in out["provider_schemas"].values():
        missing = (res - set(ps["resource_schemas"])) | (data - set(ps["data_source_schemas"]))
        if missing:
            sys.exit(f"not in the provider schema: {sorted(missing)}")
        ps["resource_schemas"] = {k: v for k, v in ps["resource_schemas"].items() if k in res}
        ps["data_source_schemas"] = {k: v for k, v in ps["data_source_schemas"].items() if k in data}
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "aws-schema.json"), "w") as f:
        json.dump(out, f, indent=None, separators=(",", ":"), sort_keys=True)
        f.write("\n")
    print(f"aws-schema.json: {len(res)} resource types, {len(data)} data sources")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
