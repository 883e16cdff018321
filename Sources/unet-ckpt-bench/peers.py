#!/usr/bin/env python3
"""The peers of `unet-ckpt-bench`: the same work done the way a Python user does it today.

The Swift benchmark (Sources/unet-ckpt-bench) calls this script and reads one JSON document from
its standard output. Every timing is taken here, in the peer's own process, with the same rules
as the Swift side: one untimed warm-up, then N timed runs.

    peers.py versions
    peers.py resave IN.pth OUT.pth                 torch.load + torch.save (a torch-written file)
    peers.py read CKPT.h5 --runs N                 h5py: every dataset into memory
    peers.py write CKPT.h5 OUT.h5 --runs N         h5py: write them all, fsync, rename
    peers.py convert-once IN.pth OUT.h5            torch.load + h5py, the whole script (timed outside)
    peers.py forward CKPT.h5 --threads T --runs N --input X.npy --outputs DIR
                                                   PyTorch, onnxruntime and OpenVINO forward of the paper U-Net
    peers.py nnunet-make OUT.pth --seed S          a 3-D nnU-Net PlainConvUNet (3d_fullres-like), seeded,
                                                   its state dict saved by torch
    peers.py forward-nnunet STATE.pth --onnx X.onnx --threads T --runs N --input X.npy --outputs DIR
                                                   PyTorch (the PlainConvUNet itself), onnxruntime and
                                                   OpenVINO (our ONNX export) forward of that network
    peers.py sliding-nnunet STATE.pth --window W --threads T --runs N --input X.npy --outputs DIR
                                                   MONAI's sliding_window_inference(mode="gaussian",
                                                   overlap=0.5) of that network over a larger volume
"""
import argparse
import json
import os
import sys
import time


def timed(runs: int, body) -> list[float]:
    body()
    seconds = []
    for _ in range(runs):
        start = time.perf_counter()
        body()
        seconds.append(time.perf_counter() - start)
    return seconds


def canonical_weights(path: str) -> dict:
    """Every tensor of a unet-ckpt file by canonical key (`tensors/a/b/c` is `a.b.c`)."""
    import h5py
    weights = {}
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                weights[name.replace("/", ".")] = obj[()]
        f["tensors"].visititems(visit)
    return weights


def versions(_args) -> dict:
    from importlib.metadata import version
    found = {"python": sys.version.split()[0]}
    for name in ("numpy", "h5py", "torch", "onnx", "onnxruntime", "openvino", "dynamic_network_architectures",
                 "monai"):
        try:
            found[name] = version(name)
        except Exception:
            found[name] = None
    return found


def resave(args) -> dict:
    import torch
    state = torch.load(args.source, map_location="cpu", weights_only=True)
    torch.save(state, args.destination)
    return {"keys": len(state)}


def read(args) -> dict:
    import h5py

    def read_all():
        with h5py.File(args.checkpoint, "r") as f:
            arrays = []
            f["tensors"].visititems(
                lambda _, obj: arrays.append(obj[()]) if isinstance(obj, h5py.Dataset) else None)
        return arrays

    return {"seconds": timed(args.runs, read_all)}


def write(args) -> dict:
    import h5py
    weights = canonical_weights(args.checkpoint)
    directory = os.path.dirname(os.path.abspath(args.destination))

    def write_all():
        temporary = args.destination + ".tmp"
        with h5py.File(temporary, "w") as f:
            for key, array in weights.items():
                f.create_dataset("tensors/" + key.replace(".", "/"), data=array)
        descriptor = os.open(temporary, os.O_RDONLY)
        os.fsync(descriptor)
        os.close(descriptor)
        os.replace(temporary, args.destination)
        descriptor = os.open(directory, os.O_RDONLY)
        os.fsync(descriptor)
        os.close(descriptor)

    return {"seconds": timed(args.runs, write_all)}


def convert_once(args) -> dict:
    import h5py
    import torch
    state = torch.load(args.source, map_location="cpu", weights_only=True)
    with h5py.File(args.destination, "w") as f:
        for key, value in state.items():
            if isinstance(value, torch.Tensor):
                f.create_dataset(key, data=value.numpy())
    return {"tensors": len(state)}


def paper_levels(weights: dict) -> int:
    return 1 + max(int(key.split(".")[1]) for key in weights if key.startswith("encoder."))


def convs_of(weights: dict, prefix: str) -> list[str]:
    count = sum(1 for key in weights if key.startswith(prefix + ".conv") and key.endswith(".weight"))
    return [f"{prefix}.conv{index}" for index in range(count)]


def torch_forward(weights: dict, threads: int):
    """The paper's U-Net in PyTorch (valid 3x3 convs + ReLU, max-pool, up-conv, crop, concat)."""
    import torch
    import torch.nn.functional as F
    torch.set_num_threads(threads)
    w = {key: torch.from_numpy(value) for key, value in weights.items()}
    levels = paper_levels(weights)

    def stack(x, prefix):
        for conv in convs_of(weights, prefix):
            x = F.relu(F.conv2d(x, w[conv + ".weight"], w[conv + ".bias"]))
        return x

    def forward(x):
        skips = []
        for level in range(levels):
            x = stack(x, f"encoder.{level}")
            if level < levels - 1:
                skips.append(x)
                x = F.max_pool2d(x, 2)
        for level in reversed(range(levels - 1)):
            x = F.conv_transpose2d(x, w[f"decoder.{level}.up.weight"], w[f"decoder.{level}.up.bias"], stride=2)
            skip = skips[level]
            top, left = (skip.shape[2] - x.shape[2]) // 2, (skip.shape[3] - x.shape[3]) // 2
            skip = skip[:, :, top:top + x.shape[2], left:left + x.shape[3]]
            x = stack(torch.cat([skip, x], dim=1), f"decoder.{level}")
        return F.conv2d(x, w["head.out.weight"], w["head.out.bias"])

    def run(array):
        with torch.inference_mode():
            return forward(torch.from_numpy(array)).numpy()
    return run


def onnx_model(weights: dict, shape: list[int]):
    """The same network as an ONNX graph (opset 17) with the weights as initializers."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    nodes, initializers = [], []
    levels = paper_levels(weights)
    for key, value in weights.items():
        initializers.append(numpy_helper.from_array(value.astype(np.float32), key))
    counter = [0]

    def node(op, inputs, **attributes):
        counter[0] += 1
        name = f"{op.lower()}{counter[0]}"
        nodes.append(helper.make_node(op, inputs, [name], name=name, **attributes))
        return name

    def constant(values):
        counter[0] += 1
        name = f"const{counter[0]}"
        initializers.append(numpy_helper.from_array(np.array(values, dtype=np.int64), name))
        return name

    side = shape[2]

    def stack(x, prefix, side):
        for conv in convs_of(weights, prefix):
            x = node("Relu", [node("Conv", [x, conv + ".weight", conv + ".bias"], kernel_shape=[3, 3])])
            side -= 2
        return x, side

    x, skips, sides = "input", [], []
    for level in range(levels):
        x, side = stack(x, f"encoder.{level}", side)
        if level < levels - 1:
            skips.append(x)
            sides.append(side)
            x = node("MaxPool", [x], kernel_shape=[2, 2], strides=[2, 2])
            side //= 2
    for level in reversed(range(levels - 1)):
        x = node("ConvTranspose", [x, f"decoder.{level}.up.weight", f"decoder.{level}.up.bias"],
                 kernel_shape=[2, 2], strides=[2, 2])
        side *= 2
        margin = (sides[level] - side) // 2
        skip = node("Slice", [skips[level], constant([margin, margin]),
                              constant([margin + side, margin + side]), constant([2, 3])])
        x, side = stack(node("Concat", [skip, x], axis=1), f"decoder.{level}", side)
    output = node("Conv", [x, "head.out.weight", "head.out.bias"], kernel_shape=[1, 1])
    classes = weights["head.out.weight"].shape[0]
    graph = helper.make_graph(
        nodes, "paper-unet",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info(output, TensorProto.FLOAT, [shape[0], classes, side, side])],
        initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx.checker.check_model(model)
    return model


def forward(args) -> dict:
    import numpy as np
    weights = canonical_weights(args.checkpoint)
    image = np.load(args.input)
    result = {}

    run = torch_forward(weights, args.threads)
    output = run(image)
    result["torch"] = {"seconds": timed(args.runs, lambda: run(image))}
    np.save(os.path.join(args.outputs, "torch.npy"), output)

    onnx_path = os.path.join(args.outputs, "paper.onnx")
    with open(onnx_path, "wb") as f:
        f.write(onnx_model(weights, list(image.shape)).SerializeToString())
    result.update(onnx_peers(onnx_path, image, args))
    return result


def onnx_peers(onnx_path: str, image, args) -> dict:
    """onnxruntime and OpenVINO (float32, the same thread count) on an ONNX file, where installed."""
    import numpy as np
    result = {}
    try:
        import onnxruntime
    except ImportError:
        onnxruntime = None
    if onnxruntime is not None:
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = args.threads
        options.inter_op_num_threads = 1
        session = onnxruntime.InferenceSession(onnx_path, options, providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        output = session.run(None, {name: image})[0]
        result["onnxruntime"] = {"seconds": timed(args.runs, lambda: session.run(None, {name: image}))}
        np.save(os.path.join(args.outputs, "onnxruntime.npy"), output)
    try:
        import openvino
    except ImportError:
        return result
    core = openvino.Core()
    # float32 as the others (on CPUs with AMX or AVX512-BF16 OpenVINO would pick bf16), one stream,
    # the same threads.
    compiled = core.compile_model(core.read_model(onnx_path), "CPU", {
        "INFERENCE_PRECISION_HINT": "f32", "INFERENCE_NUM_THREADS": args.threads, "NUM_STREAMS": 1,
        "PERFORMANCE_HINT": "LATENCY"})
    request = compiled.create_infer_request()
    output = np.array(request.infer({0: image})[compiled.output(0)])
    result["openvino"] = {"seconds": timed(args.runs, lambda: request.infer({0: image}))}
    np.save(os.path.join(args.outputs, "openvino.npy"), output)
    return result


NNUNET_FEATURES = [32, 64, 128, 256, 320, 320]


def nnunet_network():
    """A 3d_fullres-like nnU-Net v2 PlainConvUNet: 6 stages 32 to 320, 3x3x3 convs, 2 per stage,
    strided convs down, transposed convs up, instance norm, LeakyReLU; 1 channel in, 3 classes."""
    import torch
    from dynamic_network_architectures.architectures.unet import PlainConvUNet
    stages = len(NNUNET_FEATURES)
    return PlainConvUNet(
        input_channels=1, n_stages=stages, features_per_stage=NNUNET_FEATURES, conv_op=torch.nn.Conv3d,
        kernel_sizes=[[3, 3, 3]] * stages, strides=[[1, 1, 1]] + [[2, 2, 2]] * (stages - 1),
        n_conv_per_stage=[2] * stages, num_classes=3, n_conv_per_stage_decoder=[2] * (stages - 1),
        conv_bias=True, norm_op=torch.nn.InstanceNorm3d, norm_op_kwargs={"eps": 1e-5, "affine": True},
        dropout_op=None, dropout_op_kwargs=None, nonlin=torch.nn.LeakyReLU,
        nonlin_kwargs={"inplace": True}, deep_supervision=False)


def nnunet_make(args) -> dict:
    import torch
    torch.manual_seed(args.seed)
    model = nnunet_network()
    with torch.no_grad():
        for name, value in model.named_parameters():
            if "norm" in name:  # affine parameters near identity, not exactly it
                value.copy_((1.0 if name.endswith("weight") else 0.0) + 0.1 * (torch.rand_like(value) - 0.5))
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    torch.save(state, args.destination)
    return {"keys": len(state), "parameters": sum(v.numel() for v in state.values())}


def forward_nnunet(args) -> dict:
    import numpy as np
    import torch
    torch.set_num_threads(args.threads)
    model = nnunet_network()
    model.load_state_dict(torch.load(args.state, map_location="cpu", weights_only=True), strict=True)
    model.eval()
    image = np.load(args.input)

    def run(array):
        with torch.inference_mode():
            return model(torch.from_numpy(array)).numpy()
    output = run(image)
    result = {"torch": {"seconds": timed(args.runs, lambda: run(image))}}
    np.save(os.path.join(args.outputs, "torch.npy"), output)
    result.update(onnx_peers(args.onnx, image, args))
    return result


def sliding_nnunet(args) -> dict:
    import numpy as np
    import torch
    from monai.inferers import sliding_window_inference
    torch.set_num_threads(args.threads)
    model = nnunet_network()
    model.load_state_dict(torch.load(args.state, map_location="cpu", weights_only=True), strict=True)
    model.eval()
    volume = torch.from_numpy(np.load(args.input))

    def run():
        with torch.inference_mode():
            return sliding_window_inference(
                volume, roi_size=[args.window] * 3, sw_batch_size=1, predictor=model, overlap=0.5,
                mode="gaussian").numpy()
    output = run()
    result = {"monai": {"seconds": timed(args.runs, run)}}
    np.save(os.path.join(args.outputs, "monai.npy"), output)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("versions").set_defaults(run=versions)
    p = commands.add_parser("resave")
    p.add_argument("source")
    p.add_argument("destination")
    p.set_defaults(run=resave)
    p = commands.add_parser("read")
    p.add_argument("checkpoint")
    p.add_argument("--runs", type=int, default=5)
    p.set_defaults(run=read)
    p = commands.add_parser("write")
    p.add_argument("checkpoint")
    p.add_argument("destination")
    p.add_argument("--runs", type=int, default=5)
    p.set_defaults(run=write)
    p = commands.add_parser("convert-once")
    p.add_argument("source")
    p.add_argument("destination")
    p.set_defaults(run=convert_once)
    p = commands.add_parser("forward")
    p.add_argument("checkpoint")
    p.add_argument("--input", required=True)
    p.add_argument("--outputs", required=True)
    p.add_argument("--threads", type=int, required=True)
    p.add_argument("--runs", type=int, default=5)
    p.set_defaults(run=forward)
    p = commands.add_parser("nnunet-make")
    p.add_argument("destination")
    p.add_argument("--seed", type=int, default=4)
    p.set_defaults(run=nnunet_make)
    p = commands.add_parser("forward-nnunet")
    p.add_argument("state")
    p.add_argument("--onnx", required=True)
    p.add_argument("--input", required=True)
    p.add_argument("--outputs", required=True)
    p.add_argument("--threads", type=int, required=True)
    p.add_argument("--runs", type=int, default=5)
    p.set_defaults(run=forward_nnunet)
    p = commands.add_parser("sliding-nnunet")
    p.add_argument("state")
    p.add_argument("--window", type=int, required=True)
    p.add_argument("--input", required=True)
    p.add_argument("--outputs", required=True)
    p.add_argument("--threads", type=int, required=True)
    p.add_argument("--runs", type=int, default=5)
    p.set_defaults(run=sliding_nnunet)
    args = parser.parse_args()
    json.dump(args.run(args), sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
