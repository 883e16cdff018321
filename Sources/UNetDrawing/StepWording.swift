import UNetCheckpoint

/// What each arrow of the drawing means, worded from the network nodes it stands for:
/// `3×3 conv, ReLU (unpadded)`, `3×3 conv, instance norm, LeakyReLU(0.01) (same padding)`,
/// `strided 3×3 conv (down), …`, `2×2 max pool`, `2×2 up-conv`, `nearest ×2 up`, `copy and crop`,
/// `attention gate`, `residual shortcut`, `1×1 conv + sigmoid`.
///
/// `word(for:)` is the wording's one switch over `UNetNetwork.Operation`; ``text(for:)``
/// puts a step's words together by the step's kind.
public struct StepWording: Sendable {
    public let network: UNetNetwork

    public init(_ network: UNetNetwork) { self.network = network }

    /// What one node contributes to the words of its arrow.
    struct Word {
        enum Category { case layer, crop, pad, replicatePad, probability }
        var text: String
        var category: Category = .layer
        /// A convolution's padding (`unpadded`, `same padding`, …), said once at the end.
        var note: String? = nil
    }

    /// The legend text of an arrow.
    public func text(for step: FeatureMapPlan.Step) -> String {
        let words = step.nodes.compactMap(word(for:))
        let layers = words.filter { $0.category == .layer || $0.category == .probability }
        let joined = layers.map(\.text).joined(separator: ", ")
        switch step.kind {
        case .conv, .pool, .up:
            let note = step.kind == .conv ? layers.lazy.compactMap(\.note).first : nil
            return joined + (note.map { " (\($0))" } ?? "")
        case .copy:
            if words.contains(where: { $0.category == .crop }) { return "copy and crop" }
            if words.contains(where: { $0.category == .pad }) { return "copy and concatenate (pad the up-sampled map)" }
            if words.contains(where: { $0.category == .replicatePad }) {
                return "copy and concatenate (replicate-pad the up-sampled map)"
            }
            return "copy and concatenate"
        case .attention:
            return "attention gate"
        case .residual:
            if step.via == "sum" { return (["residual sum"] + layers.dropFirst().map(\.text)).joined(separator: ", ") }
            return layers.isEmpty ? "residual shortcut" : "residual shortcut (\(joined))"
        case .head:
            guard let last = layers.last, last.category == .probability else {
                return joined + " (logits)"
            }
            return layers.dropLast().map(\.text).joined(separator: ", ") + " + \(last.text)"
        }
    }

    /// The words of one node, or nil when it adds none (dropout, inner statistics).
    func word(for index: Int) -> Word? {
        let node = network.nodes[index]
        switch node.operation {
        case .input, .dropout, .concat, .channelStatistic, .globalAveragePool:
            return nil
        case .conv(let conv):
            var text = "\(Self.axes(conv.kernel)) conv"
            if conv.stride.contains(where: { $0 > 1 }) { text = "strided \(text) (down)" }
            if conv.dilation.contains(where: { $0 > 1 }) { text += " dilated \(Self.axes(conv.dilation))" }
            let input = network.nodes[node.inputs[0]].channels
            if conv.groups > 1 { text += conv.groups == input ? " depthwise" : " in \(conv.groups) groups" }
            return Word(text: text, note: Self.paddingNote(conv))
        case .convTranspose(let conv):
            var text = "\(Self.axes(conv.kernel)) up-conv"
            if conv.stride != conv.kernel { text += " stride \(Self.axes(conv.stride))" }
            return Word(text: text)
        case .norm(let norm):
            switch norm.kind {
            case .batch: return Word(text: "batch norm")
            case .instance: return Word(text: "instance norm")
            case .group: return Word(text: "group norm (\(norm.groups ?? 1) groups)")
            }
        case .activation(let activation):
            let probability = activation.kind == .sigmoid || activation.kind == .softmax
            return Word(text: Self.name(activation), category: probability ? .probability : .layer)
        case .maxPool(let pool):
            return Word(text: "\(Self.axes(pool.kernel)) max pool" + Self.strideNote(pool))
        case .avgPool(let pool):
            return Word(text: "\(Self.axes(pool.kernel)) average pool" + Self.strideNote(pool))
        case .interpolate(let interpolation):
            let mode =
                interpolation.mode == .nearest
                ? "nearest" : (network.architecture.spatialDims == 3 ? "trilinear" : "bilinear")
            let scale =
                Set(interpolation.scale).count == 1 ? "\(interpolation.scale[0])" : Self.axes(interpolation.scale)
            return Word(text: "\(mode) ×\(scale) up")
        case .add:
            return Word(text: "sum")
        case .multiply:
            guard node.place.role != .attention else { return nil }
            let spatial = node.inputs.count > 1 && network.nodes[node.inputs[1]].channels == 1
            return Word(text: spatial ? "spatial attention" : "squeeze-excitation")
        case .crop:
            return Word(text: "crop", category: .crop)
        case .pad(.zeroCentred):
            return Word(text: "pad", category: .pad)
        case .pad(.replicateEnd):
            return Word(text: "replicate-pad", category: .replicatePad)
        }
    }

    /// `unpadded`, `same padding`, `padding 2×2` or nil (a 1×1 conv).
    static func paddingNote(_ conv: Layer.Conv) -> String? {
        guard conv.kernel.contains(where: { $0 > 1 }) else { return nil }
        switch conv.padding {
        case .same: return "same padding"
        case .explicit(let padding):
            if padding.allSatisfy({ $0 == 0 }) { return "unpadded" }
            let keeps = conv.kernel.indices.allSatisfy { axis in
                conv.stride[axis] == 1 && 2 * padding[axis] == conv.dilation[axis] * (conv.kernel[axis] - 1)
            }
            return keeps ? "same padding" : "padding \(axes(padding))"
        }
    }

    static func strideNote(_ pool: Layer.Pool) -> String {
        pool.stride == pool.kernel ? "" : " stride \(axes(pool.stride))"
    }

    static func name(_ activation: Layer.Activation) -> String {
        switch activation.kind {
        case .relu: "ReLU"
        case .relu6: "ReLU6"
        case .leakyReLU: "LeakyReLU(\(number(activation.negativeSlope ?? 0)))"
        case .elu: "ELU"
        case .gelu: "GELU"
        case .silu: "SiLU"
        case .sigmoid: "sigmoid"
        case .tanh: "tanh"
        case .softmax: "softmax"
        case .prelu: "PReLU"
        }
    }

    /// `3×3`, `1×3×3`.
    static func axes(_ values: [Int]) -> String { values.map(String.init).joined(separator: "×") }

    /// A number without a trailing `.0`: `0.5`, `1`.
    static func number(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(value)
    }
}
