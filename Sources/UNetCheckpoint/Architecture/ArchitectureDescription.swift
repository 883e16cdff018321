extension UNetArchitecture: CustomStringConvertible {
    /// One readable line for the network, then one per stage and head, e.g.
    /// `encoder.1: max-pool 2×2, conv 3×3 → 16, batch norm, ReLU, …`.
    public var descriptionLines: [String] {
        func count(_ n: Int, _ noun: String) -> String { "\(n) \(noun)\(n == 1 ? "" : "s")" }
        let stages =
            "\(count(encoder.count, "encoder stage")), \(count(decoder.count, "decoder stage")), "
            + count(heads.count, "head")
        var lines = ["\(name ?? "U-Net"): \(inChannels) → \(outChannels) channels, \(spatialDims)-D, \(stages)"]
        for stage in encoder { lines.append("\(stage.name): " + Self.summary(of: stage.layers)) }
        for stage in decoder {
            var parts: [String] = []
            if !stage.up.isEmpty { parts.append("up: " + Self.summary(of: stage.up)) }
            if let skip = stage.skip, let merge = stage.merge {
                let gate = stage.attention.map { _ in ", attention-gated" } ?? ""
                parts.append("skip from \(encoder[safe: skip]?.name ?? "encoder[\(skip)]")\(gate) (\(merge.summary))")
            }
            if !stage.layers.isEmpty { parts.append(Self.summary(of: stage.layers)) }
            lines.append("\(stage.name): " + parts.joined(separator: "; "))
        }
        for head in heads {
            let role = head.role == .output ? "" : " (deep supervision)"
            let layers = head.layers.isEmpty ? "the stage's output" : Self.summary(of: head.layers)
            lines.append("\(head.name)\(role), from \(decoder[safe: head.from]?.name ?? "?"): \(layers)")
        }
        if version1 != nil { lines.append("uses only schema 1.0 features") }
        return lines
    }

    public var description: String { descriptionLines.joined(separator: "\n") }

    /// What the description uses that schema 1.0 cannot say (empty when it has a 1.0 form).
    public var featuresBeyondVersion1: [String] {
        guard version1 == nil else { return [] }
        var features: Set<String> = []
        if spatialDims == 3 { features.insert("3-D") }
        func scan(_ layers: [Layer]) {
            for layer in layers {
                switch layer {
                case .conv(let conv):
                    if conv.stride.contains(where: { $0 > 1 }) { features.insert("strided convolutions") }
                    if conv.groups > 1 { features.insert("grouped convolutions") }
                    if conv.dilation.contains(where: { $0 > 1 }) { features.insert("dilated convolutions") }
                case .convTranspose(let conv):
                    if conv.kernel != conv.stride { features.insert("transposed convolutions with kernel ≠ stride") }
                case .norm(let norm): if norm.kind == .group { features.insert("group norm") }
                case .activation(let activation):
                    if ![.relu, .leakyReLU, .sigmoid, .softmax].contains(activation.kind) {
                        features.insert("\(activation.kind.rawValue) activations")
                    }
                case .avgPool: features.insert("average pooling")
                case .residual(let unit):
                    features.insert("residual units")
                    scan(unit.body + unit.shortcut + unit.after)
                case .squeezeExcitation: features.insert("squeeze-and-excitation")
                case .spatialAttention: features.insert("spatial attention")
                case .dropout, .maxPool, .interpolate: break
                }
            }
        }
        for stage in encoder { scan(stage.layers) }
        for stage in decoder {
            scan(stage.up + stage.layers)
            if stage.attention != nil { features.insert("attention gates") }
            if stage.skip == nil { features.insert("decoder stages without a skip") }
            if stage.merge?.match == .exact { features.insert("merges of equal sizes") }
        }
        if heads.count > 1 { features.insert("several heads") }
        if encoder.count != decoder.count + 1 { features.insert("a decoder of another depth than the encoder") }
        return features.isEmpty ? ["settings that differ between stages"] : features.sorted()
    }

    /// A compact account of a layer list: `conv 3×3 → 16, batch norm, ReLU`.
    static func summary(of layers: [Layer]) -> String {
        layers.isEmpty ? "(none)" : layers.map(summary(of:)).joined(separator: ", ")
    }

    static func summary(of layer: Layer) -> String {
        func size(_ values: [Int]) -> String { values.map(String.init).joined(separator: "×") }
        func strided(_ stride: [Int]) -> String { stride.allSatisfy { $0 == 1 } ? "" : " stride \(size(stride))" }
        switch layer {
        case .conv(let conv):
            let groups = conv.groups > 1 ? " groups \(conv.groups)" : ""
            let padding: String =
                switch conv.padding {
                case .same: " same"
                case .explicit(let pads): pads.allSatisfy { $0 == 0 } ? " valid" : " pad \(size(pads))"
                }
            return
                "conv \(size(conv.kernel))\(strided(conv.stride))\(padding)\(groups)\(conv.bias ? "" : " no bias") → \(conv.out)"
        case .convTranspose(let conv):
            return
                "transposed conv \(size(conv.kernel))\(strided(conv.stride))\(conv.bias ? "" : " no bias") → \(conv.out)"
        case .norm(let norm):
            let kind = norm.kind == .group ? "group norm (\(norm.groups ?? 0) groups" : "\(norm.kind.rawValue) norm ("
            return kind + (norm.kind == .group ? ", " : "") + "eps \(norm.eps)\(norm.affine ? "" : ", not affine"))"
        case .activation(let activation):
            switch activation.kind {
            case .relu: return "ReLU"
            case .leakyReLU: return "LeakyReLU(\(activation.negativeSlope ?? 0))"
            case .prelu: return "PReLU"
            case .elu: return "ELU(\(activation.alpha ?? 1))"
            case .gelu: return activation.approximate == "tanh" ? "GELU (tanh)" : "GELU"
            case .silu: return "SiLU"
            case .sigmoid: return "sigmoid"
            case .tanh: return "tanh"
            case .relu6: return "ReLU6"
            case .softmax: return "softmax"
            }
        case .dropout(let dropout): return "dropout \(dropout.rate)"
        case .maxPool(let pool):
            return "max-pool \(size(pool.kernel))\(pool.kernel == pool.stride ? "" : strided(pool.stride))"
        case .avgPool(let pool):
            return "avg-pool \(size(pool.kernel))\(pool.kernel == pool.stride ? "" : strided(pool.stride))"
        case .interpolate(let interpolation):
            let mode =
                interpolation.mode == .nearest
                ? "nearest" : "linear (align_corners=\(interpolation.alignCorners ?? false))"
            return "\(mode) ×\(size(interpolation.scale))"
        case .residual(let unit):
            let shortcut = unit.shortcut.isEmpty ? "identity" : summary(of: unit.shortcut)
            let after = unit.after.isEmpty ? "" : ", then \(summary(of: unit.after))"
            return "residual[\(summary(of: unit.body)) + \(shortcut)\(after)]"
        case .squeezeExcitation(let se): return "squeeze-excitation (\(se.channels))"
        case .spatialAttention(let attention): return "spatial attention \(size(attention.kernel))"
        }
    }
}

extension UNetArchitecture.Merge {
    var summary: String {
        let match: String =
            switch self.match {
            case .exact: "equal sizes"
            case .crop: "crop skip to size"
            case .pad: "zero-pad to skip size"
            case .padReplicateEnd: "replicate-pad to skip size"
            }
        return "concat, \(order == .skipFirst ? "skip first" : "up-sampled first"), \(match)"
    }
}

extension Array {
    subscript(safe index: Int) -> Element? { indices.contains(index) ? self[index] : nil }
}
