import Foundation
import UNetCheckpoint

/// Builds the ONNX graph of a checkpoint's network by interpreting the nodes of its
/// ``UNetNetwork`` (`Checkpoint.network`), the same nodes the inference core (`UNetModel`) runs,
/// in the same order and with the same arithmetic. Nothing here walks the architecture: the one
/// switch over ``UNetNetwork/Operation`` is in ``emit(_:)``, which turns each network node into
/// one ONNX node or a few.
///
/// Sizes are never baked in: the crop of a skip feature and the padding of an up-sampled map
/// are computed in the graph from the two maps' shapes (`Shape` → `Slice` → `Sub`/`Div`), and
/// TensorFlow's `same` padding with a stride is `auto_pad = SAME_UPPER`, so the batch and every
/// spatial size stay dynamic, in 2-D and 3-D.
struct UNetGraph {
    let checkpoint: Checkpoint
    let options: ONNXExportOptions
    private var graph = GraphBuilder()
    /// The ONNX value holding each network node's output (empty for nodes not exported).
    private var values: [String]
    /// The ONNX node name of each network node (its last ONNX node, whose output is the value).
    private var names: [String] = []
    /// Node and value names in use (ONNX has one namespace for values).
    private var taken: Set<String>
    /// Convolutions whose BatchNorm (the node after them) is folded into their weights.
    private var folded: Set<Int> = []
    /// The nodes that read each node's output.
    private let consumers: [[Int]]
    /// The network nodes the graph outputs give.
    private var outputNodes: Set<Int> = []
    private(set) var batchNormCount = 0
    private(set) var foldedBatchNormCount = 0

    static let inputName = "input"
    static let outputName = "output"

    /// A graph output: its value name, the network node it gives and the head it belongs to
    /// (nil for the default output).
    struct Output {
        let name: String
        let node: Int
        let head: Int?
    }

    init(checkpoint: Checkpoint, options: ONNXExportOptions) {
        self.checkpoint = checkpoint
        self.options = options
        values = Array(repeating: "", count: checkpoint.network.nodes.count)
        consumers = checkpoint.network.consumers
        taken = Set([Self.inputName, Self.outputName] + checkpoint.network.tensorSpecs.map(\.key))
    }

    private var network: UNetNetwork { checkpoint.network }
    private var dims: Int { network.architecture.spatialDims }

    /// The nodes and initializers of the whole network, from `input` to `output` (and the other
    /// heads' outputs when ``ONNXExportOptions/otherHeads`` is set).
    mutating func build() -> (nodes: [Onnx_NodeProto], initializers: [Onnx_TensorProto], outputs: [Output]) {
        let network = self.network
        let defaultHead = network.architecture.heads.firstIndex { $0.role == .output } ?? 0
        var targets = [network.output]
        if options.otherHeads {
            targets += network.headOutputs.indices.filter { $0 != defaultHead }.map { network.headOutputs[$0] }
        }
        outputNodes = Set(targets)
        // The nodes the outputs depend on, in network order.
        var needed = [Bool](repeating: false, count: network.nodes.count)
        for target in targets { needed[target] = true }
        for index in network.nodes.indices.reversed() where needed[index] {
            for input in network.nodes[index].inputs { needed[input] = true }
        }
        names = network.nodes.map { node in
            let base = node.key ?? node.path
            return switch node.operation {
            case .add, .multiply, .concat, .crop, .pad, .channelStatistic, .globalAveragePool:
                "\(base).\(node.operation.shortName)"
            default: base
            }
        }
        for index in names.indices.dropFirst() where needed[index] { names[index] = unique(names[index]) }

        for index in network.nodes.indices where needed[index] { values[index] = emit(index) }

        var outputs = [Output(name: Self.outputName, node: network.output, head: nil)]
        if options.otherHeads {
            for (head, node) in network.headOutputs.enumerated() where head != defaultHead {
                let name = unique(network.architecture.heads[head].name)
                graph.node("Identity", [values[node]], name: name)
                outputs.append(Output(name: name, node: node, head: head))
            }
        }
        // The default output's value is renamed `output`; an input or alias gets an Identity.
        var nodes = graph.nodes
        let value = values[network.output]
        if let producer = nodes.firstIndex(where: { $0.output == [value] }) {
            nodes[producer].output = [Self.outputName]
            for index in nodes.indices {
                nodes[index].input = nodes[index].input.map { $0 == value ? Self.outputName : $0 }
            }
        } else {
            graph.node("Identity", [value], name: unique("\(names[network.output]).output"), output: Self.outputName)
            nodes = graph.nodes
        }
        return (nodes, graph.initializers, outputs)
    }

    // MARK: The interpreter

    /// The ONNX nodes of network node `index`; returns the value holding its output. This is the
    /// exporter's one switch over ``UNetNetwork/Operation``: every operation kind, in 2-D and 3-D.
    private mutating func emit(_ index: Int) -> String {
        let node = network.nodes[index]
        let name = names[index]
        let x = node.inputs.first.map { values[$0] } ?? ""
        switch node.operation {
        case .input:
            return Self.inputName
        case .dropout:
            return x  // identity at inference
        case .conv(let conv):
            return convolution(conv, index: index, input: x)
        case .convTranspose(let conv):
            return transposedConvolution(conv, index: index, input: x)
        case .norm(let norm):
            if norm.kind == .batch { batchNormCount += 1 }
            if folded.contains(node.inputs[0]) {
                foldedBatchNormCount += 1
                return x  // folded into the convolution before it
            }
            return normalization(norm, node: node, name: name, input: x)
        case .activation(let activation):
            return self.activation(activation, node: node, name: name, input: x)
        case .maxPool(let pool):
            return graph.node("MaxPool", [x], name: name, attributes: poolAttributes(pool))
        case .avgPool(let pool):
            return graph.node(
                "AveragePool", [x], name: name,
                attributes: poolAttributes(pool) + [
                    Attribute.int("count_include_pad", pool.countIncludePad ?? true ? 1 : 0)
                ])
        case .interpolate(let interpolation):
            return resize(interpolation, name: name, input: x)
        case .add:
            return graph.node(node.inputs.count == 2 ? "Add" : "Sum", node.inputs.map { values[$0] }, name: name)
        case .multiply:
            // The gate (second input) broadcasts over channels or over space.
            return graph.node("Mul", [x, values[node.inputs[1]]], name: name)
        case .concat:
            return graph.node(
                "Concat", node.inputs.map { values[$0] }, name: name, attributes: [Attribute.int("axis", 1)])
        case .crop:
            return centreCrop(x, to: values[node.inputs[1]], name: name)
        case .pad(let mode):
            return padToMatch(x, values[node.inputs[1]], name: name, replicateAtEnd: mode == .replicateEnd)
        case .channelStatistic(let statistic):
            let op = statistic == .mean ? "ReduceMean" : "ReduceMax"
            // ReduceMean and ReduceMax take `axes` as an input from opset 18, an attribute before.
            if options.opset >= 18 {
                return graph.node(
                    op, [x, graph.int64Constant([1])], name: name, attributes: [Attribute.int("keepdims", 1)])
            }
            return graph.node(
                op, [x], name: name, attributes: [Attribute.ints("axes", [1]), Attribute.int("keepdims", 1)])
        case .globalAveragePool:
            return graph.node("GlobalAveragePool", [x], name: name)
        }
    }

    // MARK: Layers with weights

    /// A convolution with its weight and bias, or with the BatchNorm that alone reads its output
    /// folded in (`--fold-batchnorm`, as the inference core folds: `Checkpoint.batchNormFolded`).
    private mutating func convolution(_ conv: Layer.Conv, index: Int, input: String) -> String {
        let node = network.nodes[index]
        let key = node.key!
        var inputs = [input]
        let consumers = self.consumers[index]
        // Not when the convolution's own output is a graph output (an empty head reads it).
        if options.foldBatchNorm, consumers.count == 1, !outputNodes.contains(index),
            case .norm(let norm) = network.nodes[consumers[0]].operation,
            norm.kind == .batch, norm.affine, let normKey = network.nodes[consumers[0]].key
        {
            let (weight, bias) = checkpoint.batchNormFolded(convolution: key, norm: normKey, eps: norm.eps)
            let shape = node.tensors[0].shape
            inputs.append(graph.floatInitializer("\(key).weight.bn_folded", shape: shape, values: weight))
            inputs.append(graph.floatInitializer("\(key).bias.bn_folded", shape: [shape[0]], values: bias))
            folded.insert(index)
        } else {
            inputs += node.tensors.map { checkpointTensor($0.key) }
        }
        var attributes = [
            Attribute.ints("kernel_shape", conv.kernel), Attribute.ints("strides", conv.stride),
            Attribute.ints("dilations", conv.dilation), Attribute.int("group", conv.groups),
        ]
        switch conv.padding {
        case .explicit(let pads):
            attributes.append(Attribute.ints("pads", pads + pads))
        case .same where conv.stride.allSatisfy({ $0 == 1 }):
            // TensorFlow's `same` at stride 1: (k − 1)·d / 2 before, the rest after, for any side.
            let total = zip(conv.kernel, conv.dilation).map { ($0 - 1) * $1 }
            attributes.append(Attribute.ints("pads", total.map { $0 / 2 } + total.map { $0 - $0 / 2 }))
        case .same:
            // With a stride the padding depends on the side: ONNX computes it as TensorFlow does.
            attributes.append(Attribute.string("auto_pad", "SAME_UPPER"))
        }
        return graph.node("Conv", inputs, name: names[index], attributes: attributes)
    }

    /// A transposed convolution (IOHW weight as stored); Keras' `same` removes `max(k − s, 0)`
    /// values per axis, half (rounded down) at the start and the rest at the end.
    private mutating func transposedConvolution(_ conv: Layer.ConvTranspose, index: Int, input: String) -> String {
        let pads: [Int]
        switch conv.padding {
        case .explicit(let values): pads = values + values
        case .same:
            let total = zip(conv.kernel, conv.stride).map { max($0 - $1, 0) }
            pads = total.map { $0 / 2 } + total.map { $0 - $0 / 2 }
        }
        var attributes = [
            Attribute.ints("kernel_shape", conv.kernel), Attribute.ints("strides", conv.stride),
            Attribute.ints("pads", pads), Attribute.int("group", conv.groups),
        ]
        if conv.outputPadding.contains(where: { $0 != 0 }) {
            attributes.append(Attribute.ints("output_padding", conv.outputPadding))
        }
        let inputs = [input] + network.nodes[index].tensors.map { checkpointTensor($0.key) }
        return graph.node("ConvTranspose", inputs, name: names[index], attributes: attributes)
    }

    /// BatchNorm, instance norm or group norm; a norm without affine parameters gets ones and
    /// zeros as its scale and shift (ONNX's nodes always take them).
    private mutating func normalization(
        _ norm: Layer.Norm, node: UNetNetwork.Node, name: String, input: String
    ) -> String {
        let channels = node.channels
        let eps = Attribute.float("epsilon", Float(norm.eps))
        let key = node.key ?? ""
        func affine(_ graph: inout UNetGraph) -> (scale: String, shift: String) {
            norm.affine
                ? (graph.checkpointTensor("\(key).weight"), graph.checkpointTensor("\(key).bias"))
                : (graph.ones(channels), graph.zeros(channels))
        }
        switch norm.kind {
        case .batch:
            let (scale, shift) = affine(&self)
            let statistics = [checkpointTensor("\(key).running_mean"), checkpointTensor("\(key).running_var")]
            return graph.node("BatchNormalization", [input, scale, shift] + statistics, name: name, attributes: [eps])
        case .instance:
            let (scale, shift) = affine(&self)
            return graph.node("InstanceNormalization", [input, scale, shift], name: name, attributes: [eps])
        case .group:
            let groups = norm.groups ?? 1
            // GroupNormalization's scale and bias are per channel from opset 21; opsets 18–20
            // defined them per group, so below 21 the norm is an instance norm over the groups.
            if options.opset >= 21 {
                let (scale, shift) = affine(&self)
                return graph.node(
                    "GroupNormalization", [input, scale, shift], name: name,
                    attributes: [eps, Attribute.int("num_groups", groups)])
            }
            let shape = graph.node("Shape", [input], name: unique("\(name).shape"))
            let grouped = graph.node(
                "Reshape", [input, graph.int64Constant([0, Int64(groups), -1])], name: unique("\(name).grouped"))
            let normalized = graph.node(
                "InstanceNormalization", [grouped, ones(groups), zeros(groups)], name: unique("\(name).normalized"),
                attributes: [eps])
            guard norm.affine else { return graph.node("Reshape", [normalized, shape], name: name) }
            let restored = graph.node("Reshape", [normalized, shape], name: unique("\(name).ungrouped"))
            let (scale, shift) = affine(&self)
            let scaled = graph.node(
                "Mul", [restored, perChannel(scale, channels, name: name)], name: unique("\(name).scaled"))
            return graph.node("Add", [scaled, perChannel(shift, channels, name: name)], name: name)
        }
    }

    private mutating func activation(
        _ activation: Layer.Activation, node: UNetNetwork.Node, name: String, input x: String
    ) -> String {
        switch activation.kind {
        case .relu:
            return graph.node("Relu", [x], name: name)
        case .leakyReLU:
            return graph.node(
                "LeakyRelu", [x], name: name,
                attributes: [Attribute.float("alpha", Float(activation.negativeSlope ?? 0.01))])
        case .prelu:
            let weight = checkpointTensor(node.tensors[0].key)
            let count = node.tensors[0].shape[0]
            // One slope per channel broadcasts as [C, 1, 1(, 1)]; a shared one as it is.
            let slope = count == 1 ? weight : perChannel(weight, count, name: name)
            return graph.node("PRelu", [x, slope], name: name)
        case .elu:
            return graph.node(
                "Elu", [x], name: name, attributes: [Attribute.float("alpha", Float(activation.alpha ?? 1))])
        case .gelu:
            let tanh = activation.approximate == "tanh"
            if options.opset >= 20 {
                return graph.node(
                    "Gelu", [x], name: name, attributes: [Attribute.string("approximate", tanh ? "tanh" : "none")])
            }
            let half = graph.node("Mul", [x, floatConstant(0.5)], name: unique("\(name).half"))
            let inner: String
            if tanh {
                // 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))
                let square = graph.node("Mul", [x, x], name: unique("\(name).square"))
                let cube = graph.node("Mul", [square, x], name: unique("\(name).cube"))
                let term = graph.node("Mul", [cube, floatConstant(0.044715)], name: unique("\(name).cubic"))
                let sum = graph.node("Add", [x, term], name: unique("\(name).sum"))
                let scaled = graph.node(
                    "Mul", [sum, floatConstant(Float((2 / Double.pi).squareRoot()))], name: unique("\(name).scaled"))
                inner = graph.node("Tanh", [scaled], name: unique("\(name).tanh"))
            } else {
                // 0.5·x·(1 + erf(x / √2))
                let scaled = graph.node(
                    "Mul", [x, floatConstant(Float(1 / 2.0.squareRoot()))], name: unique("\(name).scaled"))
                inner = graph.node("Erf", [scaled], name: unique("\(name).erf"))
            }
            let plusOne = graph.node("Add", [inner, floatConstant(1)], name: unique("\(name).plus_one"))
            return graph.node("Mul", [half, plusOne], name: name)
        case .silu:
            let sigmoid = graph.node("Sigmoid", [x], name: unique("\(name).sigmoid"))
            return graph.node("Mul", [x, sigmoid], name: name)
        case .sigmoid:
            return graph.node("Sigmoid", [x], name: name)
        case .tanh:
            return graph.node("Tanh", [x], name: name)
        case .relu6:
            return graph.node("Clip", [x, floatConstant(0), floatConstant(6)], name: name)
        case .softmax:
            return graph.node("Softmax", [x], name: name, attributes: [Attribute.int("axis", 1)])
        }
    }

    /// Kernel, strides, symmetric pads and `ceil_mode` (PyTorch's rule) of a pooling node.
    private func poolAttributes(_ pool: Layer.Pool) -> [Onnx_AttributeProto] {
        [
            Attribute.ints("kernel_shape", pool.kernel), Attribute.ints("strides", pool.stride),
            Attribute.ints("pads", pool.padding + pool.padding), Attribute.int("ceil_mode", pool.ceilMode ? 1 : 0),
        ]
    }

    /// Up-sampling by integer scales (`Resize` with scales `[1, 1, s…]`).
    private mutating func resize(_ interpolation: Layer.Interpolate, name: String, input: String) -> String {
        let scales = [1, 1] + interpolation.scale
        let constant = graph.floatInitializer(
            "const.scales." + scales.map(String.init).joined(separator: "_"), shape: [scales.count],
            values: scales.map(Float.init))
        let attributes: [Onnx_AttributeProto]
        switch interpolation.mode {
        case .nearest:
            // PyTorch's nearest: output position y reads input floor(y / scale).
            attributes = [
                Attribute.string("mode", "nearest"), Attribute.string("coordinate_transformation_mode", "asymmetric"),
                Attribute.string("nearest_mode", "floor"),
            ]
        case .linear:
            // PyTorch's (bi/tri)linear: align_corners, or half-pixel centres clamped at 0.
            let transformation = interpolation.alignCorners == true ? "align_corners" : "pytorch_half_pixel"
            attributes = [
                Attribute.string("mode", "linear"), Attribute.string("coordinate_transformation_mode", transformation),
            ]
        }
        // Inputs X, roi (unused: empty), scales.
        return graph.node("Resize", [input, "", constant], name: name, attributes: attributes)
    }

    // MARK: Matching sizes

    /// The spatial sizes of a value, as an int64 vector computed in the graph.
    private mutating func spatialSize(_ value: String, name: String) -> String {
        let shape = graph.node("Shape", [value], name: unique("\(name).shape"))
        return graph.node(
            "Slice",
            [shape, graph.int64Constant([2]), graph.int64Constant([Int64(2 + dims)]), graph.int64Constant([0])],
            name: unique("\(name).size"))
    }

    /// `reference sizes − smaller sizes` per spatial axis, and the smaller value's sizes.
    private mutating func sizeDifference(_ larger: String, _ smaller: String, name: String)
        -> (difference: String, smaller: String)
    {
        let largerSize = spatialSize(larger, name: "\(name).larger")
        let smallerSize = spatialSize(smaller, name: "\(name).smaller")
        return (graph.node("Sub", [largerSize, smallerSize], name: unique("\(name).difference")), smallerSize)
    }

    /// The centre of `value` at the size of `reference`, `floor(difference / 2)` off the start.
    private mutating func centreCrop(_ value: String, to reference: String, name: String) -> String {
        let (difference, referenceSize) = sizeDifference(value, reference, name: name)
        let twos = graph.int64Constant(Array(repeating: 2, count: dims))
        let start = graph.node("Div", [difference, twos], name: unique("\(name).start"))
        let end = graph.node("Add", [start, referenceSize], name: unique("\(name).end"))
        let axes = graph.int64Constant((0..<dims).map { Int64(2 + $0) })
        return graph.node("Slice", [value, start, end, axes], name: name)
    }

    /// Pads `value` to the size of `reference`: zeros with `floor(difference / 2)` before
    /// (PyTorch's `F.pad` in milesial), or the edge values repeated at the end (MONAI).
    private mutating func padToMatch(_ value: String, _ reference: String, name: String, replicateAtEnd: Bool)
        -> String
    {
        let (difference, _) = sizeDifference(reference, value, name: name)
        // ONNX pads: the starts of N, C and every spatial axis, then their ends.
        let pads: String
        var attributes: [Onnx_AttributeProto] = []
        if replicateAtEnd {
            pads = graph.node(
                "Concat", [graph.int64Constant(Array(repeating: 0, count: dims + 4)), difference],
                name: unique("\(name).pads"), attributes: [Attribute.int("axis", 0)])
            attributes.append(Attribute.string("mode", "edge"))
        } else {
            let twos = graph.int64Constant(Array(repeating: 2, count: dims))
            let before = graph.node("Div", [difference, twos], name: unique("\(name).before"))
            let after = graph.node("Sub", [difference, before], name: unique("\(name).after"))
            let zeros = graph.int64Constant([0, 0])
            pads = graph.node(
                "Concat", [zeros, before, zeros, after], name: unique("\(name).pads"),
                attributes: [Attribute.int("axis", 0)])
        }
        return graph.node("Pad", [value, pads], name: name, attributes: attributes)
    }

    // MARK: Values

    /// A checkpoint tensor as a float32 initializer under its canonical key (16-bit values widened exactly).
    private mutating func checkpointTensor(_ key: String) -> String {
        let tensor = checkpoint.tensors[key]!
        return graph.floatInitializer(key, shape: tensor.shape, values: tensor.floatValues())
    }

    /// A per-channel vector reshaped to `[C, 1, 1(, 1)]`, to broadcast over an `N, C, …` map.
    private mutating func perChannel(_ vector: String, _ channels: Int, name: String) -> String {
        let shape = graph.int64Constant([Int64(channels)] + Array(repeating: 1, count: dims))
        return graph.node(
            "Reshape", [vector, shape], name: unique("\(name).\(vector.split(separator: ".").last ?? "")_per_channel"))
    }

    private mutating func ones(_ count: Int) -> String {
        graph.floatInitializer("const.ones.\(count)", shape: [count], values: Array(repeating: 1, count: count))
    }

    private mutating func zeros(_ count: Int) -> String {
        graph.floatInitializer("const.zeros.\(count)", shape: [count], values: Array(repeating: 0, count: count))
    }

    /// A float32 scalar initializer `const.float.<value>`.
    private mutating func floatConstant(_ value: Float) -> String {
        graph.floatInitializer("const.float.\(value)", shape: [], values: [value])
    }

    /// `base`, or `base_2`, `base_3`, … when taken; reserved from then on.
    private mutating func unique(_ base: String) -> String {
        var name = base
        var suffix = 2
        while !taken.insert(name).inserted {
            name = "\(base)_\(suffix)"
            suffix += 1
        }
        return name
    }
}

extension UNetNetwork.Operation {
    /// A short name for the node names of structural operations (`decoder[0].merge.concat`).
    var shortName: String {
        switch self {
        case .input: "input"
        case .conv: "conv"
        case .convTranspose: "conv_transpose"
        case .norm: "norm"
        case .activation: "act"
        case .dropout: "dropout"
        case .maxPool: "max_pool"
        case .avgPool: "avg_pool"
        case .interpolate: "interpolate"
        case .add: "add"
        case .multiply: "multiply"
        case .concat: "concat"
        case .crop: "crop"
        case .pad: "pad"
        case .channelStatistic(let statistic): statistic.rawValue
        case .globalAveragePool: "global_average_pool"
        }
    }
}
