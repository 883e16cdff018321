/// Schema 1.0 descriptions in schema 2.0 and back: the architecture part of the `1 → 2`
/// migration (docs/format.md §8). Tensor keys are kept: 2.0 layers are named as 1.0's keys.
enum ArchitectureMigration {
    /// The 2.0 description of a (validated) 1.0 one.
    static func version2(of v1: ArchitectureV1) -> UNetArchitecture {
        let k = v1.conv.kernel
        let padding = Layer.Padding.explicit(v1.conv.padding == .same ? [k / 2, k / 2] : [0, 0])
        let activation: Layer.Activation =
            switch v1.activation.kind {
            case .relu: Layer.Activation(.relu)
            case .leakyReLU: Layer.Activation(.leakyReLU, negativeSlope: v1.activation.negativeSlope)
            }
        func convStack(_ widths: [Int]) -> [Layer] {
            widths.indices.flatMap { index -> [Layer] in
                var layers: [Layer] = [
                    .conv(
                        Layer.Conv(
                            name: "conv\(index)", out: widths[index], kernel: [k, k], padding: padding,
                            bias: v1.conv.bias))
                ]
                switch v1.norm.kind {
                case .none: break
                case .batch:
                    layers.append(
                        .norm(
                            Layer.Norm(
                                name: "norm\(index)", kind: .batch, eps: v1.norm.eps ?? 1e-5,
                                momentum: v1.norm.momentum)))
                case .instance:
                    let affine = v1.norm.hasAffineParameters
                    layers.append(
                        .norm(
                            Layer.Norm(
                                name: affine ? "norm\(index)" : nil, kind: .instance,
                                eps: v1.norm.eps ?? 1e-5, affine: affine, momentum: v1.norm.momentum)))
                }
                return layers + [.activation(activation)]
            }
        }
        func dropout(after block: String) -> [Layer] {
            v1.dropout.filter { $0.after == block }.map { .dropout(Layer.Dropout(rate: $0.rate)) }
        }
        let pool = Layer.maxPool(Layer.Pool(kernel: [2, 2]))
        let encoder = v1.encoder.enumerated().map { level, entry in
            UNetArchitecture.EncoderStage(
                name: "encoder.\(level)",
                layers: (level > 0 ? [pool] : []) + convStack(entry.convs) + dropout(after: "encoder.\(level)"))
        }
        let up = v1.upsample
        let decoder = v1.decoder.indices.reversed().map { level in
            let entry = v1.decoder[level]
            var upLayers: [Layer] = []
            switch up.kind {
            case .transposedConv:
                let uk = up.kernel ?? 2
                upLayers.append(
                    .convTranspose(
                        Layer.ConvTranspose(
                            name: "up", out: entry.upChannels, kernel: [uk, uk],
                            stride: [uk, uk], bias: up.bias)))
            case .bilinear, .nearest:
                upLayers.append(
                    .interpolate(
                        Layer.Interpolate(
                            mode: up.kind == .bilinear ? .linear : .nearest, scale: [2, 2],
                            alignCorners: up.kind == .bilinear ? (up.alignCorners ?? false) : nil)))
                if let ck = up.convKernel {
                    upLayers.append(
                        .conv(
                            Layer.Conv(
                                name: "up", out: entry.upChannels, kernel: [ck, ck], padding: .same,
                                bias: up.bias)))
                }
            }
            if up.hasConvolution && up.activation == true { upLayers.append(.activation(activation)) }
            let match: UNetArchitecture.Merge.Match =
                switch v1.skip.merge {
                case .crop: .crop
                case .pad: .pad
                case .padReplicateEnd: .padReplicateEnd
                }
            let order: UNetArchitecture.Merge.Order = v1.skip.order == .skipFirst ? .skipFirst : .upsampledFirst
            return UNetArchitecture.DecoderStage(
                name: "decoder.\(level)", up: upLayers, skip: level,
                merge: UNetArchitecture.Merge(order: order, match: match),
                layers: convStack(entry.convs) + dropout(after: "decoder.\(level)"))
        }
        var head: [Layer] = []
        for (index, extra) in v1.head.convs.enumerated() {
            let p = extra.kernel / 2
            head.append(
                .conv(
                    Layer.Conv(
                        name: "conv\(index)", out: extra.channels, kernel: [extra.kernel, extra.kernel],
                        padding: .explicit([p, p]), bias: v1.head.bias)))
            if extra.activation { head.append(.activation(activation)) }
        }
        head.append(
            .conv(
                Layer.Conv(
                    name: "out", out: v1.outChannels, kernel: [1, 1], padding: .explicit([0, 0]),
                    bias: v1.head.bias)))
        switch v1.finalActivation {
        case .none: break
        case .sigmoid: head.append(.activation(Layer.Activation(.sigmoid)))
        case .softmax: head.append(.activation(Layer.Activation(.softmax)))
        }
        return UNetArchitecture(
            name: v1.name, spatialDims: 2, inChannels: v1.inChannels, encoder: encoder, decoder: decoder,
            heads: [UNetArchitecture.Head(name: "head", from: decoder.count - 1, layers: head)])
    }

    /// The 1.0 form of a 2.0 description, when there is one: the fields are read off the
    /// description's first layers, and the candidate is kept only if it migrates back to exactly
    /// the same description.
    static func version1(of v2: UNetArchitecture) -> ArchitectureV1? {
        guard v2.spatialDims == 2, v2.heads.count == 1, v2.encoder.count >= 2,
            v2.decoder.count == v2.encoder.count - 1
        else { return nil }
        func convs(_ layers: [Layer]) -> [Layer.Conv] {
            layers.compactMap { if case .conv(let conv) = $0 { conv } else { nil } }
        }
        let stageLayers = v2.encoder.flatMap(\.layers)
        guard let first = convs(stageLayers).first, let kernel = first.kernel.first,
            case .explicit(let pads) = first.padding
        else { return nil }
        let norm: ArchitectureV1.Normalization =
            stageLayers.lazy.compactMap { layer -> ArchitectureV1.Normalization? in
                guard case .norm(let norm) = layer else { return nil }
                switch norm.kind {
                case .batch: return ArchitectureV1.Normalization(kind: .batch, eps: norm.eps, momentum: norm.momentum)
                case .instance:
                    return ArchitectureV1.Normalization(
                        kind: .instance, eps: norm.eps, affine: norm.affine, momentum: norm.momentum)
                case .group: return nil
                }
            }.first ?? .none
        let activation: ArchitectureV1.Activation? = stageLayers.lazy.compactMap { layer in
            guard case .activation(let activation) = layer else { return nil }
            switch activation.kind {
            case .relu: return ArchitectureV1.Activation.relu
            case .leakyReLU: return ArchitectureV1.Activation.leakyReLU(activation.negativeSlope ?? 0)
            default: return nil
            }
        }.first
        guard let activation else { return nil }
        let encoder = v2.encoder.map { ArchitectureV1.EncoderLevel(convs: convs($0.layers).map(\.out)) }
        let decoderStages = v2.decoder.reversed()
        let decoder = decoderStages.map { stage in
            ArchitectureV1.DecoderLevel(
                upChannels: convs(stage.up).first?.out
                    ?? stage.up.lazy.compactMap { if case .convTranspose(let c) = $0 { c.out } else { nil } }.first
                    ?? 0,
                convs: convs(stage.layers).map(\.out))
        }
        guard let lowest = v2.decoder.first, let merge = lowest.merge else { return nil }
        var upsample: ArchitectureV1.Upsampling
        switch lowest.up.first {
        case .convTranspose(let conv)?:
            upsample = .init(kind: .transposedConv, kernel: conv.kernel.first, bias: conv.bias)
        case .interpolate(let interpolation)?:
            upsample = .init(
                kind: interpolation.mode == .linear ? .bilinear : .nearest, alignCorners: interpolation.alignCorners)
            if let conv = convs(lowest.up).first {
                upsample.convKernel = conv.kernel.first
                upsample.bias = conv.bias
                upsample.activation = lowest.up.contains { if case .activation = $0 { true } else { false } }
            }
        default: return nil
        }
        if upsample.kind == .transposedConv && lowest.up.count > 1 { upsample.activation = true }
        // A bare interpolation keeps the channels from below.
        var decoderLevels = decoder
        if !upsample.hasConvolution {
            var below = encoder.last?.convs.last ?? 0
            for level in decoderLevels.indices.reversed() {
                decoderLevels[level].upChannels = below
                below = decoderLevels[level].convs.last ?? 0
            }
        }
        let headConvs = convs(v2.heads[0].layers)
        guard let out = headConvs.last else { return nil }
        let extras = headConvs.dropLast().map { conv in
            ArchitectureV1.Head.ExtraConvolution(channels: conv.out, kernel: conv.kernel.first ?? 1)
        }
        var dropout: [ArchitectureV1.Dropout] = []
        for stage in v2.encoder {
            for case .dropout(let d) in stage.layers { dropout.append(.init(after: stage.name, rate: d.rate)) }
        }
        for stage in v2.decoder.reversed() {
            for case .dropout(let d) in stage.layers { dropout.append(.init(after: stage.name, rate: d.rate)) }
        }
        let skipMerge: ArchitectureV1.SkipConnection.Merge
        switch merge.match {
        case .crop: skipMerge = .crop
        case .pad: skipMerge = .pad
        case .padReplicateEnd: skipMerge = .padReplicateEnd
        case .exact: return nil
        }
        var candidate = ArchitectureV1(
            name: v2.name, inChannels: v2.inChannels, outChannels: out.out, encoder: encoder, decoder: decoderLevels,
            conv: .init(kernel: kernel, padding: pads.allSatisfy { $0 == 0 } ? .valid : .same, bias: first.bias),
            norm: norm, activation: activation, downsample: .maxPool2, upsample: upsample,
            skip: .init(order: merge.order == .skipFirst ? .skipFirst : .upsampledFirst, merge: skipMerge),
            dropout: dropout, head: .init(convs: extras, bias: out.bias), finalActivation: v2.finalActivation)
        // Extra head convs without an activation are told by the layer after them.
        let headLayers = v2.heads[0].layers
        var extraIndex = 0
        for (position, layer) in headLayers.enumerated() {
            guard case .conv = layer, extraIndex < candidate.head.convs.count else { continue }
            let next = position + 1 < headLayers.count ? headLayers[position + 1] : nil
            if case .activation(let a)? = next, a.kind == .relu || a.kind == .leakyReLU {
                candidate.head.convs[extraIndex].activation = true
            } else {
                candidate.head.convs[extraIndex].activation = false
            }
            extraIndex += 1
        }
        guard (try? candidate.validate()) != nil, version2(of: candidate) == v2 else { return nil }
        return candidate
    }
}
