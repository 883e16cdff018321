import UNetCheckpoint

/// MONAI's `AttentionUnet` (`monai.networks.nets.AttentionUnet`), 2-D and 3-D.
///
/// The recursive keys (`model.1`, `model.1.submodule.1`, … down to the bottom `ConvBlock`) show
/// the levels, `channels`, `kernel_size` and `up_kernel_size`; everything else AttentionUnet fixes
/// in its code. The strides and the dropout come from the constructor arguments a Lightning
/// checkpoint keeps, or else are assumed and said so.
enum MonaiAttentionUnetLayout: LibraryLayout {
    static let name = "monai-attention-unet"
    static let library = "monai"
    static let className = "monai.networks.nets.AttentionUnet"

    static func recognizes(_ input: LayoutInput) -> Bool {
        input.shapes["model.1.attention.W_g.0.conv.weight"] != nil
    }

    // MARK: - Arguments

    static let assumedStrides = MonaiUNetLayout.assumedStrides
    static let assumedDropout = "dropout 0.0 (AttentionUnet's default; dropout does nothing at inference)"

    static func arguments(_ input: LayoutInput) throws(FormatError) -> JSONValue {
        func fail(_ message: String) -> FormatError { input.unsupported(self, message) }
        let shapes = input.shapes
        guard let first = shapes["model.0.conv.0.conv.weight"], [4, 5].contains(first.count) else {
            throw fail("model.0.conv.0.conv.weight is missing or not a 2-D or 3-D conv weight")
        }
        let dims = first.count - 2
        func weight(_ key: String) throws(FormatError) -> [Int] {
            try input.convWeight(key, rank: first.count, of: self, endsMid: "level")
        }
        var channels = [first[0]]
        var level = "model.1"
        while channels.count < 64 {
            _ = try weight("\(level).attention.W_g.0.conv.weight")
            _ = try weight("\(level).upconv.up.conv.weight")
            _ = try weight("\(level).merge.conv.weight")
            if shapes["\(level).submodule.0.conv.0.conv.weight"] != nil {
                channels.append(try weight("\(level).submodule.0.conv.0.conv.weight")[0])
                level += ".submodule.1"
            } else {
                guard let bottom = shapes["\(level).submodule.conv.0.conv.weight"], bottom.count == first.count else {
                    throw fail(
                        "\(level).submodule has neither a ConvBlock and the next level (submodule.0, submodule.1) nor "
                            + "the bottom ConvBlock (submodule.conv): the keys end mid-level")
                }
                channels.append(bottom[0])
                break
            }
        }
        let head = try weight("model.2.conv.weight")
        var arguments: [String: JSONValue] = [
            "spatial_dims": .number(Double(dims)), "in_channels": .number(Double(first[1])),
            "out_channels": .number(Double(head[0])), "channels": JSONValue(channels),
            "kernel_size": JSONValue(Array(first.dropFirst(2))),
            "up_kernel_size": JSONValue(Array(try weight("model.1.upconv.up.conv.weight").dropFirst(2))),
        ]
        var assumed = AssumedArguments()
        if let found = MonaiOptions.constructorArguments(in: input, fields: ["spatial_dims", "channels", "strides"]) {
            for key in ["strides", "dropout"] where found[key] != nil { arguments[key] = found[key] }
        } else {
            arguments["strides"] = JSONValue(Array(repeating: 2, count: channels.count - 1))
            assumed.assume("strides", assumedStrides)
            assumed.assume("dropout", assumedDropout)
        }
        assumed.record(in: &arguments)
        return .object(arguments)
    }

    // MARK: - The network

    static func reading(_ arguments: JSONValue, file: String?) throws(FormatError) -> LayoutReading {
        func fail(_ message: String) -> FormatError { FormatError(.unsupported, file: file, "\(name): \(message)") }
        guard let dims = arguments["spatial_dims"]?.integerValue, [2, 3].contains(dims),
            let inChannels = arguments["in_channels"]?.integerValue, inChannels > 0,
            let outChannels = arguments["out_channels"]?.integerValue, outChannels > 0,
            let channels = arguments["channels"]?.integers, channels.count >= 2, channels.allSatisfy({ $0 > 0 })
        else { throw fail("spatial_dims (2 or 3), in_channels, out_channels or channels (2 or more) missing") }
        guard channels.dropLast().allSatisfy({ $0 >= 2 }) else {
            throw fail(
                "channels \(channels): an attention gate has channels / 2 channels, so each level needs 2 or more")
        }
        let levels = channels.count - 1
        guard let strides = MonaiOptions.perAxis(arguments["strides"], dims: dims, count: levels),
            strides.joined().allSatisfy({ $0 >= 1 })
        else { throw fail("strides \(arguments["strides"]?.compactText ?? "missing"): not one per level") }
        guard let kernel = MonaiOptions.perAxis(arguments["kernel_size"] ?? .number(3), dims: dims, count: 1)?.first,
            let upKernel = MonaiOptions.perAxis(arguments["up_kernel_size"] ?? .number(3), dims: dims, count: 1)?
                .first,
            (kernel + upKernel).allSatisfy({ $0 >= 1 && $0 % 2 == 1 })
        else { throw fail("kernel_size or up_kernel_size not odd (MONAI's same padding needs odd kernels)") }
        var dropout: Double? = 0
        if let value = arguments["dropout"] {
            guard value.isNull || value.doubleValue != nil else {
                throw fail("dropout \(value.compactText): only a rate is built")
            }
            dropout = value.doubleValue
        }

        // What AttentionUnet's code fixes: ConvBlock and UpConv Convolutions with batch norm and
        // ReLU (UpConv with dropout 0.0), merge Convolutions with MONAI's defaults (PReLU, non-affine
        // instance norm), gates of 1×1 convs and plain BatchNorms.
        let batch: MonaiOptions.Norm = (.batch, 1e-5, true, nil)
        let relu = MonaiOptions.Activation.plain(.init(.relu))
        let blockADN = MonaiOptions.ADN(norm: batch, activation: relu, dropout: dropout)
        let upADN = MonaiOptions.ADN(norm: batch, activation: relu, dropout: 0)
        let mergeADN = MonaiOptions.ADN(
            norm: (.instance, 1e-5, false, nil), activation: .prelu(parameters: 1), dropout: dropout)
        var layers = KeyedLayers(dims: dims)
        let ones = layers.axes(1)
        let zeros = layers.axes(0)

        func convBlock(_ layers: inout KeyedLayers, _ source: String, _ prefix: String, out: Int, stride: [Int])
            -> [Layer]
        {
            [stride, ones].enumerated().flatMap { index, stride in
                MonaiOptions.convolution(
                    &layers, source: "\(source).conv.\(index)", prefix: prefix, out: out, kernel: kernel,
                    stride: stride,
                    bias: true, adn: blockADN)
            }
        }
        func gateBranch(_ layers: inout KeyedLayers, _ source: String, _ prefix: String, out: Int) -> [Layer] {
            MonaiOptions.convolution(
                &layers, source: "\(source).0", prefix: prefix, out: out, kernel: ones, stride: ones, padding: zeros,
                bias: true, adn: nil) + [MonaiOptions.normLayer(&layers, batch, source: "\(source).1", prefix: prefix)]
        }

        // State-dict order: each AttentionLayer's attention, upconv and merge come before its submodule.
        var encoder = [
            UNetArchitecture.EncoderStage(
                name: "encoder.0", layers: convBlock(&layers, "model.0", "encoder.0", out: channels[0], stride: ones))
        ]
        var decoder: [UNetArchitecture.DecoderStage] = []
        var source = "model.1"
        for level in 0..<levels {
            let prefix = "decoder.\(level)"
            let gatePrefix = "\(prefix).attention"
            let width = channels[level]
            let gate = gateBranch(&layers, "\(source).attention.W_g", gatePrefix, out: width / 2)
            let skip = gateBranch(&layers, "\(source).attention.W_x", gatePrefix, out: width / 2)
            let combined =
                [Layer.activation(.init(.relu))] + gateBranch(&layers, "\(source).attention.psi", gatePrefix, out: 1)
            let up = MonaiOptions.convolution(
                &layers, source: "\(source).upconv.up", prefix: prefix, out: width, kernel: upKernel,
                stride: strides[level], transposed: true, bias: true, adn: upADN)
            let merge = MonaiOptions.convolution(
                &layers, source: "\(source).merge", prefix: prefix, out: width, kernel: layers.axes(3), stride: ones,
                bias: true, adn: mergeADN)
            decoder.insert(
                .init(
                    name: prefix, up: up, skip: level, merge: .init(order: .skipFirst, match: .exact),
                    attention: .init(name: "attention", gate: gate, skip: skip, combine: .add, layers: combined),
                    layers: merge), at: 0)
            let bottom = level == levels - 1
            encoder.append(
                .init(
                    name: "encoder.\(level + 1)",
                    layers: convBlock(
                        &layers, bottom ? "\(source).submodule" : "\(source).submodule.0", "encoder.\(level + 1)",
                        out: channels[level + 1], stride: strides[level])))
            source += ".submodule.1"
        }
        let head = MonaiOptions.convolution(
            &layers, source: "model.2", prefix: "head", out: outChannels, kernel: ones, stride: ones, padding: zeros,
            bias: true, adn: nil)
        let architecture = UNetArchitecture(
            name: "MONAI AttentionUnet", spatialDims: dims, inChannels: inChannels, encoder: encoder, decoder: decoder,
            heads: [.init(name: "head", from: levels - 1, role: .output, layers: head)])
        return LayoutReading(
            library: library, className: className, architecture: architecture, keys: layers.keys,
            arguments: arguments, assumptions: AssumedArguments.texts(in: arguments))
    }
}
