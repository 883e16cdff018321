import UNetCheckpoint

/// Builds the ONNX graph of a checkpoint's network: the same layers, in the same order and with
/// the same arithmetic as the inference core (`UNetModel`), read from the architecture.
///
/// Sizes are never baked in: the crop of a skip feature and the padding of an up-sampled map
/// are computed in the graph from the two maps' shapes (`Shape` → `Slice` → `Sub`/`Div`), so the
/// batch, height and width stay dynamic for every family.
struct UNetGraph {
    let checkpoint: Checkpoint
    let options: ONNXExportOptions
    private var graph = GraphBuilder()

    static let inputName = "input"
    static let outputName = "output"

    init(checkpoint: Checkpoint, options: ONNXExportOptions) {
        self.checkpoint = checkpoint
        self.options = options
    }

    private var architecture: UNetArchitecture { checkpoint.architecture }

    /// The nodes and initializers of the whole network, from `input` to `output`.
    mutating func build() -> (nodes: [Onnx_NodeProto], initializers: [Onnx_TensorProto]) {
        var x = Self.inputName
        var skips: [String] = []
        for (level, entry) in architecture.encoder.enumerated() {
            for index in entry.convs.indices { x = levelConvolution("encoder.\(level)", index: index, input: x) }
            if level < architecture.depth {
                skips.append(x)
                x = graph.node(
                    "MaxPool", [x], name: "encoder.\(level).pool",
                    attributes: [Attribute.ints("kernel_shape", [2, 2]), Attribute.ints("strides", [2, 2])])
            }
        }
        for level in architecture.decoder.indices.reversed() {
            let prefix = "decoder.\(level)"
            x = upsample(prefix, input: x)
            var skip = skips[level]
            switch architecture.skip.merge {
            case .crop: skip = centreCrop(skip, to: x, name: "\(prefix).crop")
            case .pad: x = padToMatch(x, skip, name: "\(prefix).pad", replicateAtEnd: false)
            case .padReplicateEnd: x = padToMatch(x, skip, name: "\(prefix).pad", replicateAtEnd: true)
            }
            let parts = architecture.skip.order == .skipFirst ? [skip, x] : [x, skip]
            x = graph.node("Concat", parts, name: "\(prefix).concat", attributes: [Attribute.int("axis", 1)])
            for index in architecture.decoder[level].convs.indices {
                x = levelConvolution(prefix, index: index, input: x)
            }
        }
        let final = architecture.finalActivation
        for (index, extra) in architecture.head.convs.enumerated() {
            let p = extra.kernel / 2
            x = convolution("head.conv\(index)", input: x, kernel: extra.kernel, pads: (p, p, p, p))
            if extra.activation { x = activation(x, name: "head.act\(index)") }
        }
        x = convolution(
            "head.out", input: x, kernel: 1, pads: (0, 0, 0, 0), output: final == .none ? Self.outputName : nil)
        switch final {
        case .none: break
        case .sigmoid: graph.node("Sigmoid", [x], name: "head.sigmoid", output: Self.outputName)
        case .softmax:
            graph.node(
                "Softmax", [x], name: "head.softmax", output: Self.outputName, attributes: [Attribute.int("axis", 1)])
        }
        return (graph.nodes, graph.initializers)
    }

    // MARK: Layers with weights

    /// A level convolution (`<prefix>.conv<index>`) with its normalisation and the activation.
    private mutating func levelConvolution(_ prefix: String, index: Int, input: String) -> String {
        let layer = "\(prefix).conv\(index)"
        let norm = "\(prefix).norm\(index)"
        let k = architecture.conv.kernel
        let p = architecture.conv.padding == .same ? k / 2 : 0
        let pads = (p, p, p, p)
        var x: String
        switch architecture.norm.kind {
        case .none:
            x = convolution(layer, input: input, kernel: k, pads: pads)
        case .batch where options.foldBatchNorm:
            let (weight, bias) = checkpoint.batchNormFolded(convolution: layer, norm: norm)
            let shape = checkpoint.tensors["\(layer).weight"]!.shape
            let weightName = graph.floatInitializer("\(layer).weight.bn_folded", shape: shape, values: weight)
            let biasName = graph.floatInitializer("\(layer).bias.bn_folded", shape: [shape[0]], values: bias)
            x = graph.node(
                "Conv", [input, weightName, biasName], name: layer, attributes: Self.convAttributes(k, pads))
        case .batch:
            x = convolution(layer, input: input, kernel: k, pads: pads)
            x = graph.node(
                "BatchNormalization",
                [
                    x, checkpointTensor("\(norm).weight"), checkpointTensor("\(norm).bias"),
                    checkpointTensor("\(norm).running_mean"), checkpointTensor("\(norm).running_var"),
                ],
                name: norm, attributes: [Attribute.float("epsilon", epsilon)])
        case .instance:
            x = convolution(layer, input: input, kernel: k, pads: pads)
            let channels = checkpoint.tensors["\(layer).weight"]!.shape[0]
            let scale: String, shift: String
            if architecture.norm.hasAffineParameters {
                (scale, shift) = (checkpointTensor("\(norm).weight"), checkpointTensor("\(norm).bias"))
            } else {
                // ONNX's InstanceNormalization always takes a scale and a shift: the identity ones.
                scale = graph.floatInitializer(
                    "const.ones.\(channels)", shape: [channels], values: Array(repeating: 1, count: channels))
                shift = graph.floatInitializer(
                    "const.zeros.\(channels)", shape: [channels], values: Array(repeating: 0, count: channels))
            }
            x = graph.node(
                "InstanceNormalization", [x, scale, shift], name: norm,
                attributes: [Attribute.float("epsilon", epsilon)])
        }
        return activation(x, name: "\(prefix).act\(index)")
    }

    /// The up-sampling step of a decoder level: a transposed convolution, or an interpolation
    /// with an optional convolution after it; the activation after either when the architecture says so.
    private mutating func upsample(_ prefix: String, input: String) -> String {
        let upsample = architecture.upsample
        let layer = "\(prefix).up"
        var x: String
        switch upsample.kind {
        case .transposedConv:
            let k = upsample.kernel ?? 2
            x = graph.node(
                "ConvTranspose", weightInputs(layer, input: input), name: layer,
                attributes: [Attribute.ints("kernel_shape", [k, k]), Attribute.ints("strides", [k, k])])
        case .bilinear, .nearest:
            // Inputs X, roi (unused: empty), scales [1, 1, 2, 2].
            let scales = graph.floatInitializer("const.scales.x2", shape: [4], values: [1, 1, 2, 2])
            x = graph.node(
                "Resize", [input, "", scales], name: "\(layer).resize", attributes: resizeAttributes(upsample))
            guard let k = upsample.convKernel else { return x }
            // TensorFlow's "same" for any side: (k − 1) / 2 before, the rest after.
            let before = (k - 1) / 2, after = k - 1 - (k - 1) / 2
            x = convolution(layer, input: x, kernel: k, pads: (before, before, after, after))
        }
        return upsample.activation == true ? activation(x, name: "\(layer).act") : x
    }

    private func resizeAttributes(_ upsample: UNetArchitecture.Upsampling) -> [Onnx_AttributeProto] {
        if upsample.kind == .nearest {
            // Output pixel y reads input floor(y / 2).
            return [
                Attribute.string("mode", "nearest"), Attribute.string("coordinate_transformation_mode", "asymmetric"),
                Attribute.string("nearest_mode", "floor"),
            ]
        }
        // PyTorch's bilinear: align_corners, or half-pixel centres clamped at 0.
        let transformation = upsample.alignCorners == true ? "align_corners" : "pytorch_half_pixel"
        return [Attribute.string("mode", "linear"), Attribute.string("coordinate_transformation_mode", transformation)]
    }

    /// A convolution `<layer>.weight` (+ `.bias` when the checkpoint has one), stride 1, with
    /// zero padding (top, left, bottom, right).
    private mutating func convolution(
        _ layer: String, input: String, kernel: Int, pads: (Int, Int, Int, Int), output: String? = nil
    ) -> String {
        graph.node(
            "Conv", weightInputs(layer, input: input), name: layer, output: output,
            attributes: Self.convAttributes(kernel, pads))
    }

    private static func convAttributes(_ kernel: Int, _ pads: (Int, Int, Int, Int)) -> [Onnx_AttributeProto] {
        [
            Attribute.ints("kernel_shape", [kernel, kernel]), Attribute.ints("strides", [1, 1]),
            Attribute.ints("pads", [pads.0, pads.1, pads.2, pads.3]),
        ]
    }

    /// `[input, <layer>.weight]`, and `<layer>.bias` when the checkpoint has it.
    private mutating func weightInputs(_ layer: String, input: String) -> [String] {
        var inputs = [input, checkpointTensor("\(layer).weight")]
        if checkpoint.tensors["\(layer).bias"] != nil { inputs.append(checkpointTensor("\(layer).bias")) }
        return inputs
    }

    /// A checkpoint tensor as a float32 initializer under its canonical key (16-bit values widened exactly).
    private mutating func checkpointTensor(_ key: String) -> String {
        let tensor = checkpoint.tensors[key]!
        return graph.floatInitializer(key, shape: tensor.shape, values: tensor.floatValues())
    }

    private var epsilon: Float { Float(architecture.norm.eps ?? 1e-5) }

    /// The network's activation (ReLU or LeakyReLU with its slope).
    private mutating func activation(_ input: String, name: String) -> String {
        switch architecture.activation.kind {
        case .relu: graph.node("Relu", [input], name: name)
        case .leakyReLU:
            graph.node(
                "LeakyRelu", [input], name: name,
                attributes: [Attribute.float("alpha", Float(architecture.activation.negativeSlope ?? 0.01))])
        }
    }

    // MARK: Merging a skip feature with the up-sampled map

    /// `[height, width]` of a value, as an int64 vector computed in the graph.
    private mutating func spatialSize(_ value: String, name: String) -> String {
        let shape = graph.node("Shape", [value], name: "\(name).shape")
        return graph.node(
            "Slice", [shape, graph.int64Constant([2]), graph.int64Constant([4]), graph.int64Constant([0])],
            name: "\(name).hw")
    }

    /// `[skip height − up height, skip width − up width]`.
    private mutating func sizeDifference(_ skip: String, _ up: String, name: String) -> (difference: String, up: String)
    {
        let skipSize = spatialSize(skip, name: "\(name).skip")
        let upSize = spatialSize(up, name: "\(name).up")
        return (graph.node("Sub", [skipSize, upSize], name: "\(name).difference"), upSize)
    }

    /// The paper's crop: the centre of `skip` at the size of `up`, `floor(difference / 2)` off the top and left.
    private mutating func centreCrop(_ skip: String, to up: String, name: String) -> String {
        let (difference, upSize) = sizeDifference(skip, up, name: name)
        let start = graph.node("Div", [difference, graph.int64Constant([2, 2])], name: "\(name).start")
        let end = graph.node("Add", [start, upSize], name: "\(name).end")
        return graph.node("Slice", [skip, start, end, graph.int64Constant([2, 3])], name: name)
    }

    /// Pads `up` to the size of `skip`: zeros with `floor(difference / 2)` before (milesial's
    /// `F.pad`), or the edge values repeated after (MONAI's replicate pad at the end).
    private mutating func padToMatch(_ up: String, _ skip: String, name: String, replicateAtEnd: Bool) -> String {
        let (difference, _) = sizeDifference(skip, up, name: name)
        let pads: String
        var attributes: [Onnx_AttributeProto] = []
        if replicateAtEnd {
            // [N, C, H, W begins; N, C ends] = 0, then the H and W ends.
            pads = graph.node(
                "Concat", [graph.int64Constant([0, 0, 0, 0, 0, 0]), difference], name: "\(name).pads",
                attributes: [Attribute.int("axis", 0)])
            attributes.append(Attribute.string("mode", "edge"))
        } else {
            let before = graph.node("Div", [difference, graph.int64Constant([2, 2])], name: "\(name).before")
            let after = graph.node("Sub", [difference, before], name: "\(name).after")
            let zeros = graph.int64Constant([0, 0])
            pads = graph.node(
                "Concat", [zeros, before, zeros, after], name: "\(name).pads", attributes: [Attribute.int("axis", 0)])
        }
        return graph.node("Pad", [up, pads], name: name, attributes: attributes)
    }
}
