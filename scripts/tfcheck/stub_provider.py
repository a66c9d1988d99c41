#!/usr/bin/env python3
"""A stand-in hashicorp/aws provider (tfplugin6 over go-plugin gRPC) that
serves the schema rebuilt from @cdktf/provider-aws (aws-5.99.1.schema.json)
so the real Terraform core can run `validate` and `plan` offline.

It implements no AWS behaviour: validation RPCs return the ENUMS/RANGES of
validators.py for literal values, PlanResourceChange marks unset computed
attributes unknown, ReadDataSource fills computed attributes with dummies.
Needs the `tf` package (PyPI) for the generated tfplugin6 stubs and the
go-plugin handshake certificate helper.
"""
import base64
import json
import os
import sys
import shutil
import tempfile
from concurrent import futures

HERE = os.path.dirname(os.path.abspath(__file__))
SCHEMA = os.environ.get("TFCHECK_SCHEMA", os.path.join(HERE, "aws-schema.json"))
LOG = os.environ.get("TFCHECK_STUB_LOG")

import grpc  # noqa: E402
import msgpack  # noqa: E402
from msgpack.ext import ExtType  # noqa: E402
from tf.gen import grpc_controller_pb2 as controller_pb  # noqa: E402
from tf.gen import grpc_controller_pb2_grpc as controller_rpc  # noqa: E402
from tf.gen import grpc_stdio_pb2_grpc as stdio_rpc  # noqa: E402
from tf.gen import tfplugin_pb2 as pb  # noqa: E402
from tf.gen import tfplugin_pb2_grpc as rpc  # noqa: E402
from tf.runner import _self_signed_cert  # noqa: E402

sys.path.insert(0, HERE)
import validators as check  # noqa: E402  (ENUMS / RANGES / LENGTHS)


class _Unknown:
    pass


UNKNOWN = _Unknown()


def log(*a):
    if LOG:
        with open(LOG, "a") as f:
            print(*a, file=f)


def unpack(dv):
    if dv.msgpack:
        return msgpack.unpackb(dv.msgpack, raw=False, ext_hook=lambda c, d: UNKNOWN if c in (0, 12) else ExtType(c, d),
                               strict_map_key=False)
    if dv.json:
        return json.loads(dv.json)
    return None


def pack(v):
    return pb.DynamicValue(msgpack=msgpack.packb(v, default=lambda o: ExtType(0, b"") if o is UNKNOWN else o,
                                                 use_bin_type=True))


NEST = {"single": pb.Schema.NestedBlock.SINGLE, "list": pb.Schema.NestedBlock.LIST,
        "set": pb.Schema.NestedBlock.SET, "map": pb.Schema.NestedBlock.MAP, "group": pb.Schema.NestedBlock.GROUP}


def has_dynamic(b):
    for a in b.get("attributes", {}).values():
        if "dynamic" in json.dumps(a["type"]):
            return True
    return any(has_dynamic(bt["block"]) for bt in b.get("block_types", {}).values())


def block_pb(b):
    attrs = []
    for name, a in sorted(b.get("attributes", {}).items()):
        attrs.append(pb.Schema.Attribute(name=name, type=json.dumps(a["type"]).encode(),
                                         required=bool(a.get("required")), optional=bool(a.get("optional")),
                                         computed=bool(a.get("computed")), sensitive=bool(a.get("sensitive")),
                                         deprecated=bool(a.get("deprecated"))))
    bts = []
    for name, bt in sorted(b.get("block_types", {}).items()):
        mode = bt["nesting_mode"]
        if mode == "set" and has_dynamic(bt["block"]):
            mode = "list"  # cdktf truncated a too-deep (wafv2) type to `any`; sets may not hold dynamic
        bts.append(pb.Schema.NestedBlock(type_name=name, block=block_pb(bt["block"]), nesting=NEST[mode],
                                         min_items=bt.get("min_items", 0) if mode in ("list", "set") else 0,
                                         max_items=bt.get("max_items", 0) if mode in ("list", "set") else 0))
    return pb.Schema.Block(version=0, attributes=attrs, block_types=bts)


def dummy(t, name=""):
    if t == "string":
        if name == "account_id":
            return "123456789012"
        if name in ("json", "minified_json", "policy"):
            return "{}"
        if name == "partition":
            return "aws"
        if name.endswith("arn"):
            return "arn:aws:iam::123456789012:stub/" + name
        return "stub-" + name
    if t == "number":
        return 0
    if t == "bool":
        return False
    if t == "dynamic":
        return None
    if isinstance(t, list):
        if t[0] in ("list", "set"):
            return []
        if t[0] == "map":
            return {}
        if t[0] == "object":
            return {k: dummy(v, k) for k, v in t[1].items()}
    return None


def fill(block, val, mode):
    """mode 'plan': null computed -> unknown; 'read': null computed -> dummy"""
    if not isinstance(val, dict):
        return val
    for name, a in block.get("attributes", {}).items():
        if a.get("computed") and val.get(name) is None:
            val[name] = UNKNOWN if mode == "plan" else dummy(a["type"], name)
    for name, bt in block.get("block_types", {}).items():
        v = val.get(name)
        if v is None or v is UNKNOWN:
            continue
        if bt["nesting_mode"] in ("list", "set"):
            val[name] = [fill(bt["block"], x, mode) for x in v]
        elif bt["nesting_mode"] == "map":
            val[name] = {k: fill(bt["block"], x, mode) for k, x in v.items()}
        else:
            val[name] = fill(bt["block"], v, mode)
    return val


def validate(rtype, block, val, path, diags):
    """provider-side validators (enum/range) on known values"""
    if not isinstance(val, dict):
        return
    for name, a in block.get("attributes", {}).items():
        v = val.get(name)
        full = (path + "." if path else "") + name
        if v is None and a.get("required"):
            # SDKv2 schemaMap.Validate: a required argument set to null
            diags.append(pb.Diagnostic(severity=pb.Diagnostic.ERROR, summary="Missing required argument",
                                       detail=f'The argument "{full}" is required, but no definition was found.'))
            continue
        if v is None or v is UNKNOWN:
            continue
        items = v if isinstance(v, list) else [v]
        key = (rtype, full)
        if key in check.ENUMS:
            src, allowed = check.ENUMS[key]
            for x in items:
                if x is not None and x is not UNKNOWN and x not in allowed and str(x) not in map(str, allowed):
                    diags.append(pb.Diagnostic(severity=pb.Diagnostic.ERROR,
                                               summary=f"expected {full} to be one of {allowed}, got {x}",
                                               attribute=pb.AttributePath(steps=[pb.AttributePath.Step(attribute_name=p) for p in full.split(".")])))
        if key in check.RANGES:
            lo, hi, src = check.RANGES[key]
            for x in items:
                if isinstance(x, (int, float)) and not isinstance(x, bool) and not lo <= x <= hi:
                    diags.append(pb.Diagnostic(severity=pb.Diagnostic.ERROR,
                                               summary=f"expected {full} to be in the range ({lo} - {hi}), got {x}"))
        if key in check.LENGTHS:
            lo, hi, src = check.LENGTHS[key]
            for x in items:
                if isinstance(x, str) and not lo <= len(x) <= hi:
                    diags.append(pb.Diagnostic(severity=pb.Diagnostic.ERROR,
                                               summary=f"expected length of {full} to be in the range ({lo} - {hi}), got {x}"))
    for name, bt in block.get("block_types", {}).items():
        v = val.get(name)
        full = (path + "." if path else "") + name
        if v is None or v is UNKNOWN:
            continue
        for x in (v if isinstance(v, list) else (v.values() if isinstance(v, dict) and bt["nesting_mode"] == "map" else [v])):
            validate(rtype, bt["block"], x, full, diags)


class Servicer(rpc.ProviderServicer):
    def __init__(self):
        doc = json.load(open(SCHEMA))
        ps = doc["provider_schemas"]["registry.terraform.io/hashicorp/aws"]
        self.res = ps["resource_schemas"]
        self.data = ps["data_source_schemas"]
        self.prov = ps["provider"]
        self._resp = None

    def GetMetadata(self, request, context):
        log("GetMetadata")
        return pb.GetMetadata.Response(server_capabilities=pb.ServerCapabilities(plan_destroy=True))

    def GetProviderSchema(self, request, context):
        log("GetProviderSchema")
        if self._resp is None:
            self._resp = pb.GetProviderSchema.Response(
                provider=pb.Schema(version=0, block=block_pb(self.prov["block"])),
                provider_meta=pb.Schema(version=0, block=pb.Schema.Block()),
                resource_schemas={k: pb.Schema(version=0, block=block_pb(v["block"])) for k, v in self.res.items()},
                data_source_schemas={k: pb.Schema(version=0, block=block_pb(v["block"])) for k, v in self.data.items()},
                server_capabilities=pb.ServerCapabilities(plan_destroy=True))
        return self._resp

    def ValidateProviderConfig(self, request, context):
        return pb.ValidateProviderConfig.Response()

    def ValidateResourceConfig(self, request, context):
        diags = []
        validate(request.type_name, self.res[request.type_name]["block"], unpack(request.config), "", diags)
        log("ValidateResourceConfig", request.type_name, len(diags))
        return pb.ValidateResourceConfig.Response(diagnostics=diags)

    def ValidateDataResourceConfig(self, request, context):
        diags = []
        validate(request.type_name, self.data[request.type_name]["block"], unpack(request.config), "", diags)
        return pb.ValidateDataResourceConfig.Response(diagnostics=diags)

    def UpgradeResourceState(self, request, context):
        st = json.loads(request.raw_state.json) if request.raw_state.json else None
        return pb.UpgradeResourceState.Response(upgraded_state=pack(st))

    def ConfigureProvider(self, request, context):
        return pb.ConfigureProvider.Response()

    def ReadResource(self, request, context):
        return pb.ReadResource.Response(new_state=request.current_state, private=request.private)

    def PlanResourceChange(self, request, context):
        prop = unpack(request.proposed_new_state)
        prior = unpack(request.prior_state)
        if prop is None:
            return pb.PlanResourceChange.Response(planned_state=request.proposed_new_state)
        blk = self.res[request.type_name]["block"]
        if prior is None:
            prop = fill(blk, prop, "plan")
        log("Plan", request.type_name)
        return pb.PlanResourceChange.Response(planned_state=pack(prop), legacy_type_system=True)

    def ApplyResourceChange(self, request, context):
        return pb.ApplyResourceChange.Response(
            diagnostics=[pb.Diagnostic(severity=pb.Diagnostic.ERROR, summary="stub provider cannot apply")])

    def ImportResourceState(self, request, context):
        return pb.ImportResourceState.Response(
            diagnostics=[pb.Diagnostic(severity=pb.Diagnostic.ERROR, summary="stub provider cannot import")])

    def ReadDataSource(self, request, context):
        cfg = unpack(request.config)
        blk = self.data[request.type_name]["block"]
        st = fill(blk, cfg, "read")
        log("ReadDataSource", request.type_name)
        return pb.ReadDataSource.Response(state=pack(st))

    def GetFunctions(self, request, context):
        return pb.GetFunctions.Response()

    def StopProvider(self, request, context):
        return pb.StopProvider.Response()


def main():
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    rpc.add_ProviderServicer_to_server(Servicer(), server)
    stopped = {"v": False}

    class Ctl(controller_rpc.GRPCControllerServicer):
        def Shutdown(self, request, context):
            stopped["v"] = True
            return controller_pb.Empty()

    class Stdio(stdio_rpc.GRPCStdioServicer):
        def StreamStdio(self, request, context):
            return iter([])

    controller_rpc.add_GRPCControllerServicer_to_server(Ctl(), server)
    stdio_rpc.add_GRPCStdioServicer_to_server(Stdio(), server)
    tmp = tempfile.mkdtemp(prefix="tfstub-")
    sock = os.path.join(tmp, "plugin.sock")
    chain, creds = _self_signed_cert()
    server.add_secure_port("unix://" + sock, creds)
    server.start()
    print("|".join(["1", "6", "unix", sock, "grpc", base64.b64encode(chain).decode().rstrip("=")]), flush=True)
    try:
        while not stopped["v"]:
            if server.wait_for_termination(0.1) is False and stopped["v"]:
                break
    finally:
        server.stop(0)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
