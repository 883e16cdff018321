import Foundation
import UNetCheckpoint

/// Why a network cannot run on an input, naming what was expected.
public struct InferenceError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public var description: String { message }
}

/// A U-Net ready to run on the CPU: the nodes of its ``UNetNetwork`` as executable steps, with
/// weights arranged for GEMM, BatchNorm folded into the convolution before it and ReLU-like
/// activations fused into it. Output is exactly what the source framework's model gives (logits,
/// or after the sigmoid or softmax the output head ends with).
public struct UNetModel: Sendable {
    public let network: UNetNetwork
    /// Threads a forward pass uses (default: every core). The pass splits each layer into blocks
    /// and runs OpenBLAS single-threaded inside them (OpenBLAS is loaded on the first
    /// ``predict(_:)``, with one thread).
    public var threads = Parallel.cores

    /// One node, ready to run.
    enum Step: Sendable {
        case input
        /// The input's value, unchanged (dropout, or a node folded into the one before).
        case identity
        case conv(Convolution)
        case convTranspose(TransposedConvolution)
        /// `x · scale[c] + shift[c]`: a batch norm that could not be folded.
        case channelAffine(scale: [Float], shift: [Float])
        case instanceNorm(eps: Float, weight: [Float], bias: [Float])
        case activation(Activation)
        case softmax
        case maxPool2
        case upsample2(bilinear: Bool, alignCorners: Bool)
        case crop
        case pad(replicateEnd: Bool)
        case concat
    }

    let steps: [Step]
    /// For each node, the last step that reads its output (its buffer is released after it).
    let lastUse: [Int]

    public var architecture: UNetArchitecture { network.architecture }

    /// Arranges a checkpoint's weights for inference (float16 and bfloat16 are widened exactly);
    /// throws naming the first node kind this forward pass does not run.
    public init(_ checkpoint: Checkpoint) throws(InferenceError) {
        let network = checkpoint.network
        self.network = network
        let consumers = network.consumers
        var steps: [Step] = []
        var folded = Set<Int>()
        func values(_ key: String) -> [Float] { checkpoint.tensors[key]?.floatValues() ?? [] }
        func unsupported(_ node: UNetNetwork.Node, _ what: String) -> InferenceError {
            InferenceError(message: "\(node.path): the CPU forward pass does not run \(what) yet")
        }
        /// The node that alone reads `index`'s output, if exactly one does.
        func soleConsumer(_ index: Int) -> Int? { consumers[index].count == 1 ? consumers[index][0] : nil }

        guard network.architecture.spatialDims == 2 else {
            throw InferenceError(message: "the CPU forward pass runs 2-D networks only (this one is 3-D)")
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
                guard conv.stride.allSatisfy({ $0 == 1 }), conv.dilation.allSatisfy({ $0 == 1 }), conv.groups == 1,
                    conv.kernel[0] == conv.kernel[1]
                else { throw unsupported(node, "strided, dilated, grouped or non-square convolutions") }
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
                // Fuse a ReLU-like activation that alone reads the result.
                var fused: Activation?
                if let next = soleConsumer(last), case .activation(let activation) = network.nodes[next].operation,
                    let simple = Activation(fusable: activation)
                {
                    fused = simple
                    folded.insert(next)
                }
                let k = conv.kernel[0]
                let (before, after): (Int, Int)
                switch conv.padding {
                case .explicit(let pads):
                    guard pads[0] == pads[1] else { throw unsupported(node, "padding that differs between axes") }
                    (before, after) = (pads[0], pads[0])
                case .same: (before, after) = ((k - 1) / 2, k - 1 - (k - 1) / 2)
                }
                steps.append(
                    .conv(
                        Convolution(
                            inChannels: inputChannels, outChannels: conv.out, kernel: k, padTop: before,
                            padBottom: after, padLeft: before, padRight: after, weight: weight, bias: bias,
                            activation: fused)))
            case .convTranspose(let conv):
                guard conv.kernel == conv.stride, conv.kernel[0] == conv.kernel[1], conv.groups == 1,
                    conv.padding == .explicit([0, 0]), conv.outputPadding.allSatisfy({ $0 == 0 })
                else { throw unsupported(node, "transposed convolutions other than kernel = stride, square, unpadded") }
                var fused: Activation?
                if let next = soleConsumer(index), case .activation(let activation) = network.nodes[next].operation,
                    let simple = Activation(fusable: activation)
                {
                    fused = simple
                    folded.insert(next)
                }
                steps.append(
                    .convTranspose(
                        TransposedConvolution(
                            inChannels: inputChannels, outChannels: conv.out, kernel: conv.kernel[0],
                            weight: values("\(node.key!).weight"), bias: values("\(node.key!).bias"),
                            activation: fused)))
            case .norm(let norm):
                let key = node.key
                let channels = node.channels
                let weight = norm.affine ? values("\(key!).weight") : [Float](repeating: 1, count: channels)
                let bias = norm.affine ? values("\(key!).bias") : [Float](repeating: 0, count: channels)
                switch norm.kind {
                case .batch:
                    let mean = values("\(key!).running_mean"), variance = values("\(key!).running_var")
                    let scale = (0..<channels).map { weight[$0] / (variance[$0] + Float(norm.eps)).squareRoot() }
                    let shift = (0..<channels).map { bias[$0] - mean[$0] * scale[$0] }
                    steps.append(.channelAffine(scale: scale, shift: shift))
                case .instance: steps.append(.instanceNorm(eps: Float(norm.eps), weight: weight, bias: bias))
                case .group: throw unsupported(node, "group norm")
                }
            case .activation(let activation):
                if activation.kind == .softmax {
                    steps.append(.softmax)
                } else if let simple = Activation(fusable: activation) ?? (activation.kind == .sigmoid ? .sigmoid : nil) {
                    steps.append(.activation(simple))
                } else {
                    throw unsupported(node, "\(activation.kind.rawValue) activations")
                }
            case .maxPool(let pool):
                guard pool.kernel == [2, 2], pool.stride == [2, 2], pool.padding == [0, 0], !pool.ceilMode else {
                    throw unsupported(node, "max-pooling other than 2×2 with stride 2")
                }
                steps.append(.maxPool2)
            case .interpolate(let interpolation):
                guard interpolation.scale == [2, 2] else { throw unsupported(node, "interpolation other than ×2") }
                steps.append(
                    .upsample2(
                        bilinear: interpolation.mode == .linear, alignCorners: interpolation.alignCorners ?? false))
            case .crop: steps.append(.crop)
            case .pad(let mode): steps.append(.pad(replicateEnd: mode == .replicateEnd))
            case .concat:
                guard node.inputs.count == 2 else { throw unsupported(node, "concatenations of more than two maps") }
                steps.append(.concat)
            case .avgPool: throw unsupported(node, "average pooling")
            case .add: throw unsupported(node, "residual sums")
            case .multiply: throw unsupported(node, "gates")
            case .channelStatistic: throw unsupported(node, "channel statistics")
            case .globalAveragePool: throw unsupported(node, "global average pooling")
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
        return BLAS.singleThreaded { run(input, until: node) }
    }

    private func run(_ input: FeatureMap, until target: Int) -> FeatureMap {
        guard target > 0 else { return input }
        var store = [FeatureMap?](repeating: nil, count: steps.count)
        store[0] = input
        for index in 1...target {
            let inputs = network.nodes[index].inputs
            /// The first input's map, taken over (no copy) when this step is its last reader.
            func take() -> FeatureMap {
                let source = inputs[0]
                defer { if lastUse[source] == index && source != target { store[source] = nil } }
                return store[source]!
            }
            func map(_ position: Int) -> FeatureMap { store[inputs[position]]! }
            let output: FeatureMap
            switch steps[index] {
            case .input: output = input
            case .identity: output = take()
            case .conv(let conv): output = conv(map(0), threads: threads)
            case .convTranspose(let conv): output = conv(map(0), threads: threads)
            case .channelAffine(let scale, let shift):
                var x = take()
                Resampling.channelAffine(&x, scale: scale, shift: shift)
                output = x
            case .instanceNorm(let eps, let weight, let bias):
                var x = take()
                Resampling.instanceNorm(&x, eps: eps, weight: weight, bias: bias)
                output = x
            case .activation(let activation):
                var x = take()
                x.values.withUnsafeMutableBufferPointer { activation.apply($0) }
                output = x
            case .softmax:
                var x = take()
                Resampling.softmax(&x)
                output = x
            case .maxPool2: output = Resampling.maxPool2(map(0))
            case .upsample2(let bilinear, let alignCorners):
                output = bilinear ? Resampling.bilinear2(map(0), alignCorners: alignCorners) : Resampling.nearest2(map(0))
            case .crop:
                let (x, reference) = (map(0), map(1))
                output = Resampling.crop(
                    x, top: (x.height - reference.height) / 2, left: (x.width - reference.width) / 2,
                    height: reference.height, width: reference.width)
            case .pad(let replicateEnd):
                let (x, reference) = (map(0), map(1))
                output = Resampling.pad(
                    x, height: reference.height, width: reference.width,
                    top: replicateEnd ? 0 : (reference.height - x.height) / 2,
                    left: replicateEnd ? 0 : (reference.width - x.width) / 2, replicate: replicateEnd)
            case .concat: output = Resampling.concatenate(map(0), map(1))
            }
            store[index] = output
            for source in Set(inputs) where lastUse[source] == index && source != target { store[source] = nil }
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
