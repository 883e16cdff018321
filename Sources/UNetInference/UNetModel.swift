import Foundation
import UNetCheckpoint

/// Why a network cannot run on an input, naming what was expected.
public struct InferenceError: UNetCkptError {
    public let message: String
    /// An input or network this pass cannot take (`.unsupported`), unless said otherwise.
    public var code: ErrorCode = .unsupported
    public var file: String? = nil
}

/// A U-Net ready to run on the CPU: the nodes of its `UNetNetwork` as executable steps, with
/// weights arranged for GEMM, BatchNorm folded into the convolution before it and ReLU-like
/// activations fused into it. Output is exactly what the source framework's model gives (logits,
/// or after the sigmoid or softmax the output head ends with).
public struct UNetModel: Sendable {
    public let network: UNetNetwork
    /// Threads a forward pass uses (default: every core). The pass splits each layer into blocks
    /// and runs a single-threaded GEMM inside them (oneDNN's, else OpenBLAS's, loaded on the first
    /// ``predict(_:)`` and asked for one thread).
    public var threads = Parallel.cores

    /// One node, ready to run: the interpreter's one switch over ``UNetNetwork/Operation`` is in
    /// ``init(_:)``, which turns each node into a step; ``run(_:until:)`` executes the steps.
    enum Step: Sendable {
        case input
        /// The input's value, unchanged (dropout, or a node folded into the one before).
        case identity
        case conv(Convolution)
        /// A convolution with TensorFlow's `same` padding and a stride: its padding depends on the
        /// input size, so it is arranged on each call.
        case sameStridedConv(Layer.Conv, inChannels: Int, weight: [Float], bias: [Float], activation: Activation?)
        /// A transposed convolution, then a crop to `cropTo(input side)` per axis when Keras' `same`
        /// padding removes one more value at the end than at the start.
        case convTranspose(TransposedConvolution, sameScale: [Int]?)
        case batchNorm(mean: [Float], variance: [Float], weight: [Float], bias: [Float], eps: Float)
        /// Group (and instance) norm, with a ReLU-like activation that alone reads it fused.
        case groupNorm(groups: Int, eps: Float, weight: [Float], bias: [Float], activation: Activation?)
        case activation(Activation)
        case prelu([Float])
        case softmax
        case pool(Pooling.Kind, Layer.Pool)
        case interpolate(scale: [Int], mode: Interpolation.Mode)
        case crop
        case pad(replicateEnd: Bool)
        case concat
        case add
        case multiply
        case channelStatistic(Layer.SpatialAttention.Statistic)
        case globalAveragePool
    }

    let steps: [Step]
    /// For each node, the last step that reads its output (its buffer is released after it).
    let lastUse: [Int]

    public var architecture: UNetArchitecture { network.architecture }

    /// What runs the matrix products, such as "oneDNN 2.6.3" or "OpenBLAS (SkylakeX kernels)"
    /// (loads it if needed).
    public static var backendDescription: String { BLAS.description }

    /// Arranges a checkpoint's weights for inference (float16 and bfloat16 are widened exactly).
    public init(_ checkpoint: Checkpoint) throws(InferenceError) {
        let network = checkpoint.network
        self.network = network
        let consumers = network.consumers
        var steps: [Step] = []
        var folded = Set<Int>()
        func values(_ key: String) -> [Float] { checkpoint.tensors[key]?.floatValues() ?? [] }
        /// The node that alone reads `index`'s output, if exactly one does.
        func soleConsumer(_ index: Int) -> Int? { consumers[index].count == 1 ? consumers[index][0] : nil }
        /// Marks a ReLU-like activation that alone reads `index`'s output as applied by it.
        func fusedActivation(after index: Int) -> Activation? {
            guard let next = soleConsumer(index), case .activation(let activation) = network.nodes[next].operation,
                let simple = Activation(fusable: activation)
            else { return nil }
            folded.insert(next)
            return simple
        }

        for (index, node) in network.nodes.enumerated() {
            if folded.contains(index) {
                steps.append(.identity)
                continue
            }
            let inputChannels = node.inputs.first.map { network.nodes[$0].channels } ?? 0
            switch node.operation {
            case .input: steps.append(.input)
            case .dropout: steps.append(.identity)
            case .conv(let conv):
                let key = node.key!
                var weight = values("\(key).weight")
                var bias = values("\(key).bias")
                var last = index
                // Fold a batch norm that alone reads the convolution's output.
                if let next = soleConsumer(index), case .norm(let norm) = network.nodes[next].operation,
                    norm.kind == .batch, norm.affine, let normKey = network.nodes[next].key
                {
                    (weight, bias) = checkpoint.batchNormFolded(convolution: key, norm: normKey, eps: norm.eps)
                    folded.insert(next)
                    last = next
                }
                let activation = fusedActivation(after: last)
                switch conv.padding {
                case .explicit(let pads):
                    steps.append(
                        .conv(
                            Convolution(
                                inChannels: inputChannels, outChannels: conv.out, kernel: conv.kernel,
                                stride: conv.stride, dilation: conv.dilation, padBefore: pads, padAfter: pads,
                                groups: conv.groups, weight: weight, bias: bias, activation: activation)))
                case .same where conv.stride.allSatisfy({ $0 == 1 }):
                    let total = zip(conv.kernel, conv.dilation).map { ($0 - 1) * $1 }
                    steps.append(
                        .conv(
                            Convolution(
                                inChannels: inputChannels, outChannels: conv.out, kernel: conv.kernel,
                                stride: conv.stride, dilation: conv.dilation, padBefore: total.map { $0 / 2 },
                                padAfter: total.map { $0 - $0 / 2 }, groups: conv.groups, weight: weight, bias: bias,
                                activation: activation)))
                case .same:
                    steps.append(
                        .sameStridedConv(
                            conv, inChannels: inputChannels, weight: weight, bias: bias, activation: activation))
                }
            case .convTranspose(let conv):
                var padding: [Int]
                var sameScale: [Int]?
                switch conv.padding {
                case .explicit(let pads): padding = pads
                case .same:
                    let total = zip(conv.kernel, conv.stride).map { $0 - $1 }
                    padding = total.map { $0 / 2 }
                    if total.contains(where: { $0 % 2 == 1 }) { sameScale = conv.stride }
                }
                steps.append(
                    .convTranspose(
                        TransposedConvolution(
                            inChannels: inputChannels, outChannels: conv.out, kernel: conv.kernel, stride: conv.stride,
                            padding: padding, outputPadding: conv.outputPadding, groups: conv.groups,
                            weight: values("\(node.key!).weight"), bias: values("\(node.key!).bias"),
                            activation: fusedActivation(after: index)),
                        sameScale: sameScale))
            case .norm(let norm):
                let key = node.key ?? ""
                let (weight, bias) = norm.affine ? (values("\(key).weight"), values("\(key).bias")) : ([], [])
                switch norm.kind {
                case .batch:
                    steps.append(
                        .batchNorm(
                            mean: values("\(key).running_mean"), variance: values("\(key).running_var"), weight: weight,
                            bias: bias, eps: Float(norm.eps)))
                case .instance:
                    steps.append(
                        .groupNorm(
                            groups: node.channels, eps: Float(norm.eps), weight: weight, bias: bias,
                            activation: fusedActivation(after: index)))
                case .group:
                    steps.append(
                        .groupNorm(
                            groups: norm.groups ?? 1, eps: Float(norm.eps), weight: weight, bias: bias,
                            activation: fusedActivation(after: index)))
                }
            case .activation(let activation):
                switch activation.kind {
                case .softmax: steps.append(.softmax)
                case .prelu: steps.append(.prelu(values("\(node.key!).weight")))
                default: steps.append(.activation(Activation(elementwise: activation)))
                }
            case .maxPool(let pool): steps.append(.pool(.max, pool))
            case .avgPool(let pool): steps.append(.pool(.average(countIncludePad: pool.countIncludePad ?? true), pool))
            case .interpolate(let interpolation):
                let mode: Interpolation.Mode =
                    interpolation.mode == .nearest
                    ? .nearest : .linear(alignCorners: interpolation.alignCorners ?? false)
                steps.append(.interpolate(scale: interpolation.scale, mode: mode))
            case .crop: steps.append(.crop)
            case .pad(let mode): steps.append(.pad(replicateEnd: mode == .replicateEnd))
            case .concat: steps.append(.concat)
            case .add: steps.append(.add)
            case .multiply: steps.append(.multiply)
            case .channelStatistic(let statistic): steps.append(.channelStatistic(statistic))
            case .globalAveragePool: steps.append(.globalAveragePool)
            }
        }
        self.steps = steps
        var lastUse = Array(network.nodes.indices)
        for (index, node) in network.nodes.enumerated() {
            for input in node.inputs { lastUse[input] = max(lastUse[input], index) }
        }
        self.lastUse = lastUse
    }

    /// Checks an input's channels and size before running, naming the nearest valid sizes.
    public func validate(_ shape: [Int]) throws(InferenceError) {
        let dims = architecture.spatialDims
        let axes = dims == 3 ? ["depth", "height", "width"] : ["height", "width"]
        guard shape.count == dims + 2, shape[0] >= 1 else {
            throw InferenceError(
                message: "the input must be \(dims == 3 ? "NCDHW" : "NCHW") with a batch of at least 1, not \(shape)")
        }
        guard shape[1] == architecture.inChannels else {
            throw InferenceError(
                message: "the network takes \(architecture.inChannels) channels, the input has \(shape[1])")
        }
        for (axis, side) in shape.dropFirst(2).enumerated() where network.sides(forInputSide: side, axis: axis) == nil {
            let nearest = network.nearestValidInputSides(to: side, axis: axis)
            let options = [nearest.below, nearest.above].compactMap { $0 }.map(String.init).joined(separator: " or ")
            throw InferenceError(
                message: "the input \(axes[axis]) \(side) is not valid for this network (nearest valid: \(options)); "
                    + "use --tile to process images of any size")
        }
    }

    /// Runs the network on an NCHW batch and returns its default output.
    public func predict(_ input: FeatureMap) throws(InferenceError) -> FeatureMap {
        try predict(input, node: network.output)
    }

    /// Runs the network on an NCHW batch and returns the output of one node (such as a head's).
    public func predict(_ input: FeatureMap, node: Int) throws(InferenceError) -> FeatureMap {
        try validate(input.shape)
        try BLAS.require()
        return try BLAS.singleThreaded { () throws(InferenceError) in try run(input, until: node) }
    }

    private func run(_ input: FeatureMap, until target: Int) throws(InferenceError) -> FeatureMap {
        guard target > 0 else { return input }
        var store = [FeatureMap?](repeating: nil, count: steps.count)
        store[0] = input
        for index in 1...target {
            let inputs = network.nodes[index].inputs
            /// The first input's map, taken over (no copy) when this step is its last reader.
            func take() -> FeatureMap {
                let source = inputs[0]
                defer { if lastUse[source] == index { store[source] = nil } }
                return store[source]!
            }
            func map(_ position: Int) -> FeatureMap { store[inputs[position]]! }
            var output: FeatureMap
            switch steps[index] {
            case .input: output = input
            case .identity: output = take()
            case .conv(let conv): output = conv(map(0), threads: threads)
            case .sameStridedConv(let layer, let inChannels, let weight, let bias, let activation):
                let x = map(0)
                let total = x.spatial.indices.map { axis in
                    let (k, s, d) = (layer.kernel[axis], layer.stride[axis], layer.dilation[axis])
                    let out = (x.spatial[axis] + s - 1) / s
                    return max((out - 1) * s + (k - 1) * d + 1 - x.spatial[axis], 0)
                }
                let conv = Convolution(
                    inChannels: inChannels, outChannels: layer.out, kernel: layer.kernel, stride: layer.stride,
                    dilation: layer.dilation, padBefore: total.map { $0 / 2 }, padAfter: total.map { $0 - $0 / 2 },
                    groups: layer.groups, weight: weight, bias: bias, activation: activation)
                output = conv(x, threads: threads)
            case .convTranspose(let conv, let sameScale):
                let x = map(0)
                output = conv(x, threads: threads)
                if let sameScale {
                    output = try Merging.centreCrop(output, to: zip(x.spatial, sameScale).map { $0 * $1 })
                }
            case .batchNorm(let mean, let variance, let weight, let bias, let eps):
                output = take()
                Normalization.batchNorm(&output, mean: mean, variance: variance, weight: weight, bias: bias, eps: eps)
            case .groupNorm(let groups, let eps, let weight, let bias, let activation):
                output = take()
                Normalization.groupNorm(
                    &output, groups: groups, eps: eps, weight: weight, bias: bias, activation: activation,
                    threads: threads)
            case .activation(let activation):
                output = take()
                activation.apply(&output)
            case .prelu(let weight):
                output = take()
                Activations.prelu(&output, weight: weight)
            case .softmax:
                output = take()
                Activations.softmax(&output)
            case .pool(let kind, let pool):
                output = Pooling.pool(
                    map(0), kind: kind, kernel: pool.kernel, stride: pool.stride, padding: pool.padding,
                    ceilMode: pool.ceilMode, threads: threads)
            case .interpolate(let scale, let mode): output = Interpolation.upsample(map(0), scale: scale, mode: mode)
            case .crop: output = try Merging.centreCrop(map(0), to: map(1).spatial)
            case .pad(let replicateEnd):
                output =
                    replicateEnd
                    ? try Merging.replicatePadEnd(map(0), to: map(1).spatial)
                    : try Merging.zeroPad(map(0), to: map(1).spatial)
            case .concat: output = try Merging.concatenate(inputs.map { store[$0]! }, threads: threads)
            case .add: output = try Merging.add(map(0), map(1))
            case .multiply: output = try Merging.multiply(map(0), gate: map(1))
            case .channelStatistic(let statistic):
                output = statistic == .mean ? Merging.channelMean(map(0)) : Merging.channelMax(map(0))
            case .globalAveragePool: output = Merging.globalAveragePool(map(0))
            }
            store[index] = output
            for source in Set(inputs) where lastUse[source] == index { store[source] = nil }
        }
        return store[target]!
    }
}

extension Activation {
    /// The activations a convolution can apply to its own output as it writes it.
    init?(fusable activation: Layer.Activation) {
        switch activation.kind {
        case .relu: self = .relu
        case .leakyReLU: self = .leakyReLU(Float(activation.negativeSlope ?? 0.01))
        default: return nil
        }
    }
}

extension Activation {
    /// The element-wise activation of a schema activation (not softmax or prelu).
    init(elementwise activation: Layer.Activation) {
        switch activation.kind {
        case .relu, .softmax, .prelu: self = .relu
        case .leakyReLU: self = .leakyReLU(Float(activation.negativeSlope ?? 0.01))
        case .elu: self = .elu(Float(activation.alpha ?? 1))
        case .gelu: self = activation.approximate == "tanh" ? .geluTanh : .gelu
        case .silu: self = .silu
        case .sigmoid: self = .sigmoid
        case .tanh: self = .tanh
        case .relu6: self = .relu6
        }
    }
}
