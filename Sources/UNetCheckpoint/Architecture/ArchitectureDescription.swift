extension UNetArchitecture: CustomStringConvertible {
    /// One readable line per aspect of the network, e.g. `convs: 3×3 valid, with bias`.
    public var descriptionLines: [String] {
        let convs = "\(conv.kernel)×\(conv.kernel) \(conv.padding.rawValue), \(conv.bias ? "with" : "no") bias"
        let norm: String
        switch self.norm.kind {
        case .none: norm = "none"
        case .batch: norm = "batch norm (eps \(self.norm.eps ?? 0))"
        case .instance:
            norm = "instance norm (eps \(self.norm.eps ?? 0)\(self.norm.hasAffineParameters ? ", affine" : ""))"
        }
        let activation = self.activation.kind == .relu ? "ReLU" : "LeakyReLU(\(self.activation.negativeSlope ?? 0))"
        var up: String
        switch upsample.kind {
        case .transposedConv: up = "\(upsample.kernel ?? 2)×\(upsample.kernel ?? 2) transposed conv"
        case .bilinear: up = "bilinear ×2 (align_corners=\(upsample.alignCorners ?? false))"
        case .nearest: up = "nearest ×2"
        }
        if let k = upsample.convKernel {
            up += " then \(k)×\(k) conv" + (upsample.activation == true ? " + activation" : "")
        }
        if upsample.hasConvolution { up += upsample.bias ? ", with bias" : ", no bias" }
        let merge: String
        switch skip.merge {
        case .crop: merge = "crop skip to size"
        case .pad: merge = "zero-pad to skip size"
        case .padReplicateEnd: merge = "replicate-pad to skip size"
        }
        let order = skip.order == .skipFirst ? "skip first" : "up-sampled first"
        let extra = head.convs.map { "\($0.kernel)×\($0.kernel) conv to \($0.channels)" }
        let headText = (extra + ["1×1 conv to \(outChannels)"]).joined(separator: ", then ")
        var lines = [
            "\(name ?? "U-Net"): \(inChannels) → \(outChannels) channels, \(encoder.count) levels (depth \(depth))",
            "convs: \(convs); norm: \(norm); activation: \(activation)",
            "down: \(downsample.size)×\(downsample.size) max-pool; up: \(up)",
            "skip: concat, \(order), \(merge)",
            "head: \(headText)\(head.bias ? " with bias" : ""); final activation: \(finalActivation.rawValue)",
        ]
        if !dropout.isEmpty {
            lines.append(
                "dropout (identity at inference): "
                    + dropout.map { "\($0.rate) after \($0.after)" }.joined(separator: ", "))
        }
        return lines
    }

    public var description: String { descriptionLines.joined(separator: "\n") }
}
