import UNetCheckpoint

/// What each arrow of the drawing means for one architecture, in the words of its family:
/// `conv 3×3, ReLU` for the paper, `conv 3×3 + BatchNorm + ReLU` for milesial, `up-conv 2×2` or
/// `bilinear up-sampling ×2`, `copy and crop` or `concatenate (pad)`.
public struct StepWording: Sendable {
    public let architecture: UNetArchitecture

    public init(_ architecture: UNetArchitecture) { self.architecture = architecture }

    /// The legend text of an arrow kind.
    public func text(for kind: FeatureMapPlan.Step.Kind) -> String {
        switch kind {
        case .conv: convolution
        case .copy: copy
        case .pool: "max pool \(architecture.downsample.size)×\(architecture.downsample.size)"
        case .up: upsampling
        case .head: head
        }
    }

    private var activationName: String {
        switch architecture.activation.kind {
        case .relu: "ReLU"
        case .leakyReLU: "LeakyReLU(\(StepWording.number(architecture.activation.negativeSlope ?? 0)))"
        }
    }

    private var convolution: String {
        let k = architecture.conv.kernel
        let padding = architecture.conv.padding == .valid ? "unpadded" : "same padding"
        switch architecture.norm.kind {
        case .none: return "conv \(k)×\(k), \(activationName) (\(padding))"
        case .batch: return "conv \(k)×\(k) + BatchNorm + \(activationName) (\(padding))"
        case .instance: return "conv \(k)×\(k) + InstanceNorm + \(activationName) (\(padding))"
        }
    }

    private var copy: String {
        switch architecture.skip.merge {
        case .crop: "copy and crop"
        case .pad: "copy and concatenate (pad the up-sampled map)"
        case .padReplicateEnd: "copy and concatenate (replicate-pad the up-sampled map)"
        }
    }

    private var upsampling: String {
        let upsample = architecture.upsample
        var text: String
        switch upsample.kind {
        case .transposedConv: text = "up-conv \(upsample.kernel ?? 2)×\(upsample.kernel ?? 2)"
        case .bilinear: text = "bilinear up-sampling ×2"
        case .nearest: text = "nearest up-sampling ×2"
        }
        if let k = upsample.convKernel { text += " + conv \(k)×\(k)" }
        if upsample.activation == true { text += ", \(activationName)" }
        return text
    }

    private var head: String {
        let activation: String
        switch architecture.finalActivation {
        case .none: activation = "(logits)"
        case .sigmoid: activation = "+ sigmoid"
        case .softmax: activation = "+ softmax"
        }
        return "conv 1×1 \(activation)"
    }

    /// A number without a trailing `.0`: `0.5`, `1`.
    static func number(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(value)
    }
}
