import Foundation
import UNetCheckpoint

/// Why a network cannot run on an input, naming what was expected.
public struct InferenceError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public var description: String { message }
}

/// A U-Net ready to run on the CPU: weights of a ``Checkpoint`` arranged for GEMM, BatchNorm
/// folded into the convolutions. Any architecture the schema describes runs; output is exactly
/// what the source framework's model gives (logits, or after the sigmoid or softmax the
/// architecture ends with).
public struct UNetModel: Sendable {
    public let architecture: UNetArchitecture
    /// Threads a forward pass uses (default: every core). The pass splits each layer into blocks
    /// and runs OpenBLAS single-threaded inside them (OpenBLAS is loaded on the first
    /// ``predict(_:)``, with one thread).
    public var threads = Parallel.cores

    /// A convolution and what follows it before the next layer.
    struct Block: Sendable {
        let conv: Convolution
        /// InstanceNorm's epsilon, scale and shift; when set, the activation runs after it.
        let instanceNorm: (eps: Float, weight: [Float], bias: [Float])?
        let activation: Activation?

        func callAsFunction(_ input: FeatureMap, threads: Int) -> FeatureMap {
            var output = conv(input, threads: threads)
            if let norm = instanceNorm {
                Resampling.instanceNorm(&output, eps: norm.eps, weight: norm.weight, bias: norm.bias)
                if let activation {
                    output.values.withUnsafeMutableBufferPointer { activation.apply($0) }
                }
            }
            return output
        }
    }

    enum Upsampler: Sendable {
        case transposed(TransposedConvolution)
        case interpolate(bilinear: Bool, alignCorners: Bool, conv: Convolution?)
    }

    let encoder: [[Block]]
    /// By level (0 first); run from the deepest.
    let decoder: [(up: Upsampler, blocks: [Block])]
    let head: [Convolution]

    /// Arranges a checkpoint's weights for inference (float16 and bfloat16 are widened exactly).
    public init(_ checkpoint: Checkpoint) {
        let architecture = checkpoint.architecture
        self.architecture = architecture
        func values(_ key: String) -> [Float] { checkpoint.tensors[key]?.floatValues() ?? [] }
        let activation: Activation =
            architecture.activation.kind == .relu
            ? .relu : .leakyReLU(Float(architecture.activation.negativeSlope ?? 0.01))
        let plan = architecture.channelPlan
        let k = architecture.conv.kernel
        let pad = architecture.conv.padding == .same ? k / 2 : 0

        func block(_ prefix: String, index: Int, input: Int, output: Int) -> Block {
            var weight = values("\(prefix).conv\(index).weight")
            var bias = values("\(prefix).conv\(index).bias")
            let norm = "\(prefix).norm\(index)"
            var instance: (Float, [Float], [Float])?
            switch architecture.norm.kind {
            case .none: break
            case .batch:
                // Fold (x − mean) / sqrt(var + eps) · gamma + beta into the convolution.
                (weight, bias) = checkpoint.batchNormFolded(convolution: "\(prefix).conv\(index)", norm: norm)
            case .instance:
                instance = (Float(architecture.norm.eps ?? 1e-5), values("\(norm).weight"), values("\(norm).bias"))
            }
            let conv = Convolution(
                inChannels: input, outChannels: output, kernel: k, padTop: pad, padBottom: pad, padLeft: pad,
                padRight: pad, weight: weight, bias: bias, activation: instance == nil ? activation : nil)
            return Block(conv: conv, instanceNorm: instance, activation: activation)
        }
        func stack(_ prefix: String, input: Int, widths: [Int]) -> [Block] {
            var input = input
            return widths.enumerated().map { index, width in
                defer { input = width }
                return block(prefix, index: index, input: input, output: width)
            }
        }

        encoder = architecture.encoder.enumerated().map { level, entry in
            stack("encoder.\(level)", input: plan.encoderInputs[level], widths: entry.convs)
        }
        decoder = architecture.decoder.enumerated().map { level, entry in
            let prefix = "decoder.\(level)"
            let below = plan.decoderBelow[level]
            let up: Upsampler
            let upsample = architecture.upsample
            let upActivation = upsample.activation == true ? activation : nil
            if upsample.kind == .transposedConv {
                up = .transposed(
                    TransposedConvolution(
                        inChannels: below, outChannels: entry.upChannels, kernel: upsample.kernel ?? 2,
                        weight: values("\(prefix).up.weight"), bias: values("\(prefix).up.bias"),
                        activation: upActivation))
            } else {
                let conv = upsample.convKernel.map { uk in
                    // TensorFlow's "same" for any side: (k − 1) / 2 before, the rest after.
                    Convolution(
                        inChannels: below, outChannels: entry.upChannels, kernel: uk, padTop: (uk - 1) / 2,
                        padBottom: uk - 1 - (uk - 1) / 2, padLeft: (uk - 1) / 2, padRight: uk - 1 - (uk - 1) / 2,
                        weight: values("\(prefix).up.weight"), bias: values("\(prefix).up.bias"),
                        activation: upActivation)
                }
                up = .interpolate(
                    bilinear: upsample.kind == .bilinear, alignCorners: upsample.alignCorners ?? false, conv: conv)
            }
            let skip = architecture.encoder[level].convs.last ?? 0
            return (up, stack(prefix, input: skip + entry.upChannels, widths: entry.convs))
        }
        var headLayers: [Convolution] = []
        var input = plan.headInput
        for (index, extra) in architecture.head.convs.enumerated() {
            let p = extra.kernel / 2
            headLayers.append(
                Convolution(
                    inChannels: input, outChannels: extra.channels, kernel: extra.kernel, padTop: p, padBottom: p,
                    padLeft: p,
                    padRight: p, weight: values("head.conv\(index).weight"), bias: values("head.conv\(index).bias"),
                    activation: extra.activation ? activation : nil))
            input = extra.channels
        }
        headLayers.append(
            Convolution(
                inChannels: input, outChannels: architecture.outChannels, kernel: 1, padTop: 0, padBottom: 0,
                padLeft: 0,
                padRight: 0, weight: values("head.out.weight"), bias: values("head.out.bias"), activation: nil))
        head = headLayers
    }

    /// Checks an input's channels and size before running, naming the nearest valid sizes.
    public func validate(_ shape: [Int]) throws(InferenceError) {
        guard shape.count == 4, shape[0] >= 1 else {
            throw InferenceError(message: "the input must be NCHW with a batch of at least 1, not \(shape)")
        }
        guard shape[1] == architecture.inChannels else {
            throw InferenceError(
                message: "the network takes \(architecture.inChannels) channels, the input has \(shape[1])")
        }
        for (name, side) in [("height", shape[2]), ("width", shape[3])]
        where architecture.outputSide(forInputSide: side) == nil {
            let nearest = architecture.nearestValidInputSides(to: side)
            let options = [nearest.below, nearest.above].compactMap { $0 }.map(String.init).joined(separator: " or ")
            throw InferenceError(
                message: "the input \(name) \(side) is not valid for this network (nearest valid: \(options)); "
                    + "use --tile to process images of any size")
        }
    }

    /// Runs the network on an NCHW batch.
    public func predict(_ input: FeatureMap) throws(InferenceError) -> FeatureMap {
        try validate(input.shape)
        try BLAS.require()
        return BLAS.singleThreaded { run(input) }
    }

    private func run(_ input: FeatureMap) -> FeatureMap {
        var x = input
        var skips: [FeatureMap] = []
        for (level, blocks) in encoder.enumerated() {
            for block in blocks { x = block(x, threads: threads) }
            if level < encoder.count - 1 {
                skips.append(x)
                x = Resampling.maxPool2(x)
            }
        }
        for level in stride(from: decoder.count - 1, through: 0, by: -1) {
            let (up, blocks) = decoder[level]
            switch up {
            case .transposed(let conv): x = conv(x, threads: threads)
            case .interpolate(let bilinear, let alignCorners, let conv):
                x = bilinear ? Resampling.bilinear2(x, alignCorners: alignCorners) : Resampling.nearest2(x)
                if let conv { x = conv(x, threads: threads) }
            }
            var skip = skips[level]
            switch architecture.skip.merge {
            case .crop:
                skip = Resampling.crop(
                    skip, top: (skip.height - x.height) / 2, left: (skip.width - x.width) / 2, height: x.height,
                    width: x.width)
            case .pad:
                x = Resampling.pad(
                    x, height: skip.height, width: skip.width, top: (skip.height - x.height) / 2,
                    left: (skip.width - x.width) / 2, replicate: false)
            case .padReplicateEnd:
                x = Resampling.pad(x, height: skip.height, width: skip.width, top: 0, left: 0, replicate: true)
            }
            x =
                architecture.skip.order == .skipFirst
                ? Resampling.concatenate(skip, x) : Resampling.concatenate(x, skip)
            for block in blocks { x = block(x, threads: threads) }
        }
        for conv in head { x = conv(x, threads: threads) }
        switch architecture.finalActivation {
        case .none: break
        case .sigmoid: x.values.withUnsafeMutableBufferPointer { Activation.sigmoid.apply($0) }
        case .softmax: Resampling.softmax(&x)
        }
        return x
    }
}
