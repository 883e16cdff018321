/// How a tensor's axes are ordered.
public enum TensorLayout: String, Codable, Sendable {
    /// Convolution weight: output channels, input channels, kernel height, kernel width.
    case oihw = "OIHW"
    /// Transposed-convolution weight: input channels, output channels, kernel height, kernel width.
    case iohw = "IOHW"
    /// One value per channel (biases, norm parameters and statistics).
    case channels = "C"
}

/// One tensor an architecture requires: its canonical key, shape and layout.
public struct TensorSpec: Hashable, Sendable {
    /// Dotted canonical key, e.g. `encoder.0.conv0.weight`.
    public let key: String
    public let shape: [Int]
    public let layout: TensorLayout

    /// The number of elements.
    public var elementCount: Int { shape.reduce(1, *) }
    /// The layer the tensor belongs to, e.g. `encoder.0.conv0`.
    public var layer: String { String(key[..<(key.lastIndex(of: ".") ?? key.endIndex)]) }
    /// The block (level or head) it belongs to, e.g. `encoder.0`, `decoder.3` or `head`.
    public var block: String {
        let parts = key.split(separator: ".")
        return parts.first == "head" ? "head" : parts.prefix(2).joined(separator: ".")
    }
    /// The dataset path in the file: `/tensors/` and the key with dots as slashes.
    public var datasetPath: String { TensorSpec.datasetPath(forKey: key) }

    static func datasetPath(forKey key: String) -> String {
        "/tensors/" + key.split(separator: ".", omittingEmptySubsequences: false).joined(separator: "/")
    }
}

extension UNetArchitecture {
    /// Channel counts that flow through the network, derived from the description.
    public struct ChannelPlan: Sendable {
        /// Input channels of each encoder level.
        public var encoderInputs: [Int]
        /// Channels arriving from below at each decoder level (before up-sampling).
        public var decoderBelow: [Int]
        /// Input channels of the head.
        public var headInput: Int
    }

    /// The channels entering each level and the head.
    public var channelPlan: ChannelPlan {
        let encoderInputs = encoder.indices.map { $0 == 0 ? inChannels : encoder[$0 - 1].convs.last ?? 0 }
        let decoderBelow = decoder.indices.map { level in
            level == depth - 1 ? (encoder[depth].convs.last ?? 0) : (decoder[level + 1].convs.last ?? 0)
        }
        return ChannelPlan(
            encoderInputs: encoderInputs, decoderBelow: decoderBelow, headInput: decoder.first?.convs.last ?? 0)
    }

    /// Every tensor the architecture requires, in canonical order (docs/format.md §4).
    /// Call ``validate()`` first: shapes of an invalid description are meaningless.
    public func tensorSpecs() -> [TensorSpec] {
        let plan = channelPlan
        var specs: [TensorSpec] = []
        for (level, entry) in encoder.enumerated() {
            appendConvStack(
                prefix: "encoder.\(level)", input: plan.encoderInputs[level], widths: entry.convs, to: &specs)
        }
        for level in decoder.indices.reversed() {
            let entry = decoder[level]
            let prefix = "decoder.\(level)"
            let below = plan.decoderBelow[level]
            if upsample.kind == .transposedConv {
                let k = upsample.kernel ?? 2
                specs.append(
                    TensorSpec(key: "\(prefix).up.weight", shape: [below, entry.upChannels, k, k], layout: .iohw))
            } else if let k = upsample.convKernel {
                specs.append(
                    TensorSpec(key: "\(prefix).up.weight", shape: [entry.upChannels, below, k, k], layout: .oihw))
            }
            if upsample.hasConvolution && upsample.bias {
                specs.append(TensorSpec(key: "\(prefix).up.bias", shape: [entry.upChannels], layout: .channels))
            }
            let skipChannels = encoder[level].convs.last ?? 0
            appendConvStack(prefix: prefix, input: skipChannels + entry.upChannels, widths: entry.convs, to: &specs)
        }
        var input = plan.headInput
        for (index, extra) in head.convs.enumerated() {
            appendConv(
                "head.conv\(index)", input: input, output: extra.channels, kernel: extra.kernel, bias: head.bias,
                to: &specs)
            input = extra.channels
        }
        appendConv("head.out", input: input, output: outChannels, kernel: 1, bias: head.bias, to: &specs)
        return specs
    }

    private func appendConvStack(prefix: String, input: Int, widths: [Int], to specs: inout [TensorSpec]) {
        var input = input
        for (index, width) in widths.enumerated() {
            appendConv(
                "\(prefix).conv\(index)", input: input, output: width, kernel: conv.kernel, bias: conv.bias, to: &specs)
            let norm = "\(prefix).norm\(index)"
            if self.norm.hasAffineParameters {
                specs.append(TensorSpec(key: "\(norm).weight", shape: [width], layout: .channels))
                specs.append(TensorSpec(key: "\(norm).bias", shape: [width], layout: .channels))
            }
            if self.norm.kind == .batch {
                specs.append(TensorSpec(key: "\(norm).running_mean", shape: [width], layout: .channels))
                specs.append(TensorSpec(key: "\(norm).running_var", shape: [width], layout: .channels))
            }
            input = width
        }
    }

    private func appendConv(
        _ layer: String, input: Int, output: Int, kernel: Int, bias: Bool, to specs: inout [TensorSpec]
    ) {
        specs.append(TensorSpec(key: "\(layer).weight", shape: [output, input, kernel, kernel], layout: .oihw))
        if bias { specs.append(TensorSpec(key: "\(layer).bias", shape: [output], layout: .channels)) }
    }

    /// The total number of values in all tensors (weights, biases and norm statistics).
    public var parameterCount: Int { tensorSpecs().reduce(0) { $0 + $1.elementCount } }
}
