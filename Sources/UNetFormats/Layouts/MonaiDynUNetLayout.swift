import UNetCheckpoint

/// MONAI's `DynUNet` (`monai.networks.nets.DynUNet`), 2-D and 3-D, with plain or residual
/// blocks and deep-supervision heads.
///
/// The keys show the levels, filters, kernels, `upsample_kernel_size` (the transposed convs'
/// kernels, which DynUNet also uses as their strides), `res_block`, `trans_bias`, the heads and
/// the norm's tensors. The encoder strides, a non-parametric activation and the dropout come from
/// the constructor arguments a Lightning checkpoint keeps, or else are assumed and said so.
/// `skip_layers` holds every block a second time: those keys are aliases.
enum MonaiDynUNetLayout: LibraryLayout {
    static let name = "monai-dynunet"
    static let library = "monai"
    static let className = "monai.networks.nets.DynUNet"

    static func recognizes(_ input: LayoutInput) -> Bool {
        input.shapes["input_block.conv1.conv.weight"] != nil
    }

    // MARK: - Arguments

    static let assumedStrides =
        "strides: each level's stride taken to be its transposed conv's kernel (upsample_kernel_size, which DynUNet "
        + "uses as that conv's stride), the input block's 1; a conv's weight does not show its stride"
    static let assumedAffineNorm =
        "norm_name (\"INSTANCE\", {\"affine\": True}), DynUNet's default: norm tensors without running statistics (a "
        + "group norm has the same)"
    static let assumedInstanceNorm =
        "norm_name INSTANCE, non-affine: the norms have no tensors, so the weights cannot show which norm it is (a "
        + "non-affine group norm has none either)"
    static let assumedActivation =
        "act_name (\"leakyrelu\", {\"negative_slope\": 0.01}), DynUNet's default: an activation has no tensors"
    static let assumedDropout = "dropout None (DynUNet's default; dropout does nothing at inference)"
    static let assumedPlainBlocks =
        "res_block False (DynUNet's default): no block changes width or stride, so residual blocks would have the "
        + "same keys"

    static func arguments(_ input: LayoutInput) throws(FormatError) -> JSONValue {
        func fail(_ message: String) -> FormatError { input.unsupported(self, message) }
        let shapes = input.shapes
        guard let first = shapes["input_block.conv1.conv.weight"], [4, 5].contains(first.count) else {
            throw fail("input_block.conv1.conv.weight is not a 2-D or 3-D conv weight")
        }
        let dims = first.count - 2
        func weight(_ key: String) throws(FormatError) -> [Int] {
            try input.convWeight(key, rank: first.count, of: self, endsMid: "stage")
        }
        let blocks = blockModules(downsamples: input.count { "downsamples.\($0).conv1.conv.weight" })
        let levels = blocks.count
        var filters: [Int] = []
        var kernels: [[Int]] = []
        for block in blocks {
            let conv1 = try weight("\(block).conv1.conv.weight")
            _ = try weight("\(block).conv2.conv.weight")
            filters.append(conv1[0])
            kernels.append(Array(conv1.dropFirst(2)))
        }
        // The up blocks, deepest first; upsample_kernel_size is listed from the top.
        var upKernels: [[Int]] = []
        for up in 0..<(levels - 1) {
            upKernels.insert(Array(try weight("upsamples.\(up).transp_conv.conv.weight").dropFirst(2)), at: 0)
            _ = try weight("upsamples.\(up).conv_block.conv1.conv.weight")
            _ = try weight("upsamples.\(up).conv_block.conv2.conv.weight")
        }
        if shapes["upsamples.\(levels - 1).transp_conv.conv.weight"] != nil {
            throw fail("\(levels) up blocks for \(levels) levels: downsamples.\(levels - 2) is missing")
        }
        let head = try weight("output_block.conv.conv.weight")
        let supervision = input.count { "deep_supervision_heads.\($0).conv.conv.weight" }
        let residual = blocks.contains { shapes["\($0).conv3.conv.weight"] != nil }

        var arguments: [String: JSONValue] = [
            "spatial_dims": .number(Double(dims)), "in_channels": .number(Double(first[1])),
            "out_channels": .number(Double(head[0])), "kernel_size": .array(kernels.map { JSONValue($0) }),
            "upsample_kernel_size": .array(upKernels.map { JSONValue($0) }), "filters": JSONValue(filters),
            "res_block": .bool(residual), "deep_supervision": .bool(supervision > 0),
            "deep_supr_num": .number(Double(max(1, supervision))),
            "trans_bias": .bool(shapes["upsamples.0.transp_conv.conv.bias"] != nil),
        ]
        var assumed = AssumedArguments()
        let fields = ["spatial_dims", "strides", "upsample_kernel_size"]
        if let found = MonaiOptions.constructorArguments(in: input, fields: fields) {
            for key in ["strides", "norm_name", "act_name", "dropout", "res_block"] where found[key] != nil {
                arguments[key] = found[key]
            }
        } else {
            let ones = Array(repeating: 1, count: dims)
            let strides = [ones] + upKernels
            arguments["strides"] = .array(strides.map { JSONValue($0) })
            assumed.assume("strides", assumedStrides)
            if shapes["input_block.norm1.running_mean"] != nil {
                arguments["norm_name"] =
                    shapes["input_block.norm1.weight"] != nil
                    ? .string("BATCH") : .array([.string("BATCH"), .object(["affine": .bool(false)])])
            } else if shapes["input_block.norm1.weight"] != nil {
                assumed.assume("norm_name", assumedAffineNorm)
            } else {
                arguments["norm_name"] = .string("INSTANCE")
                assumed.assume("norm_name", assumedInstanceNorm)
            }
            if shapes["input_block.lrelu.weight"] != nil {
                throw fail("input_block.lrelu.weight: a PReLU act_name, which DynUNet shares between a block's convs")
            }
            assumed.assume("act_name", assumedActivation)
            assumed.assume("dropout", assumedDropout)
            let widths = [first[1]] + filters
            if !residual, zip(widths, widths.dropFirst()).allSatisfy({ $0 == $1 }),
                strides.joined().allSatisfy({ $0 == 1 })
            {
                assumed.assume("res_block", assumedPlainBlocks)
            }
        }
        assumed.record(in: &arguments)
        return .object(arguments)
    }

    /// The encoder blocks in state-dict order: `input_block`, `downsamples.N`, `bottleneck`.
    static func blockModules(downsamples: Int) -> [String] {
        ["input_block"] + (0..<downsamples).map { "downsamples.\($0)" } + ["bottleneck"]
    }

    // MARK: - The network

    static func reading(_ arguments: JSONValue, file: String?) throws(FormatError) -> LayoutReading {
        try DynUNetBuilder(arguments, file: file).reading()
    }
}

/// Builds what `DynUNet` builds: `UnetBasicBlock`s or `UnetResBlock`s down, `UnetUpBlock`s up
/// (transposed conv, `[up-sampled, skip]`, a basic block), `UnetOutBlock` heads.
private struct DynUNetBuilder {
    let arguments: JSONValue
    let file: String?
    let dims: Int
    let inChannels: Int
    let outChannels: Int
    let filters: [Int]
    let kernels: [[Int]]
    let strides: [[Int]]
    let upKernels: [[Int]]
    let norm: MonaiOptions.Norm
    let activation: Layer.Activation
    /// The dropout after every conv (`get_conv_layer` with only `D` in its ADN).
    let dropout: MonaiOptions.ADN
    let residual: Bool
    let transBias: Bool
    /// The deep-supervision heads (0 without `deep_supervision`).
    let supervision: Int

    init(_ arguments: JSONValue, file: String?) throws(FormatError) {
        func fail(_ message: String) -> FormatError {
            FormatError(.unsupported, file: file, "\(MonaiDynUNetLayout.name): \(message)")
        }
        self.arguments = arguments
        self.file = file
        guard let dims = arguments["spatial_dims"]?.integerValue, [2, 3].contains(dims),
            let inChannels = arguments["in_channels"]?.integerValue, inChannels > 0,
            let outChannels = arguments["out_channels"]?.integerValue, outChannels > 0,
            let levels = arguments["strides"]?.arrayValue?.count, levels >= 3
        else { throw fail("spatial_dims (2 or 3), in_channels, out_channels or strides (3 or more) missing") }
        self.dims = dims
        self.inChannels = inChannels
        self.outChannels = outChannels
        func perAxis(_ field: String, count: Int) throws(FormatError) -> [[Int]] {
            guard let values = MonaiOptions.perAxis(arguments[field], dims: dims, count: count),
                values.joined().allSatisfy({ $0 >= 1 })
            else { throw fail("\(field) \(arguments[field]?.compactText ?? "missing"): not \(count) per-axis values") }
            return values
        }
        strides = try perAxis("strides", count: levels)
        kernels = try perAxis("kernel_size", count: levels)
        upKernels = try perAxis("upsample_kernel_size", count: levels - 1)
        if let filters = arguments["filters"]?.integers {
            guard filters.count >= levels, filters.allSatisfy({ $0 > 0 }) else {
                throw fail("filters \(filters): fewer than the \(levels) levels")
            }
            self.filters = Array(filters.prefix(levels))
        } else {
            filters = (0..<levels).map { min(1 << (5 + $0), dims == 3 ? 320 : 512) }
        }
        let layout = MonaiDynUNetLayout.name
        let normName = arguments["norm_name"] ?? .array([.string("INSTANCE"), .object(["affine": .bool(true)])])
        guard let norm = try MonaiOptions.norm(normName, file: file, layout: layout) else {
            throw fail("norm_name None: DynUNet always builds its norms")
        }
        self.norm = norm
        let actName =
            arguments["act_name"] ?? .array([.string("leakyrelu"), .object(["negative_slope": .number(0.01)])])
        switch try MonaiOptions.activation(actName, file: file, layout: layout) {
        case .plain(let activation): self.activation = activation
        case .prelu: throw fail("act_name PReLU: DynUNet shares one PReLU between a block's convs, which is not built")
        case nil: throw fail("act_name None: DynUNet always builds its activation")
        }
        var rate: Double?
        if let value = arguments["dropout"], !value.isNull {
            guard let number = value.doubleValue else {
                throw fail("dropout \(value.compactText): only a rate is built")
            }
            rate = number
        }
        dropout = MonaiOptions.ADN(norm: nil, activation: nil, dropout: rate, ordering: "D")
        residual = arguments["res_block"]?.boolValue ?? false
        transBias = arguments["trans_bias"]?.boolValue ?? false
        let supervision = arguments["deep_supr_num"]?.integerValue ?? 1
        if arguments["deep_supervision"]?.boolValue ?? false {
            guard (1..<(levels - 1)).contains(supervision) else {
                throw fail("deep_supr_num \(supervision): DynUNet takes 1 to \(levels - 2) for \(levels) levels")
            }
            self.supervision = supervision
        } else {
            self.supervision = 0
        }
    }

    func fail(_ message: String) -> FormatError {
        FormatError(.unsupported, file: file, "\(MonaiDynUNetLayout.name): \(message)")
    }

    /// `get_conv_layer`: no bias unless asked, padding `get_padding` = (k − s + 1) / 2 and, transposed,
    /// output padding `get_output_padding` = 2p + s − k (MONAI refuses either negative), then the dropout.
    func conv(
        _ layers: inout KeyedLayers, _ source: String, in prefix: String, out: Int, kernel: [Int], stride: [Int],
        transposed: Bool = false, bias: Bool = false
    ) throws(FormatError) -> [Layer] {
        let padding = zip(kernel, stride).map { kernel, stride in (kernel - stride + 1) / 2 }
        let outputPadding = padding.indices.map { 2 * padding[$0] + stride[$0] - kernel[$0] }
        guard zip(kernel, stride).allSatisfy({ $0 - $1 + 1 >= 0 }), !transposed || outputPadding.allSatisfy({ $0 >= 0 })
        else {
            throw fail("\(source): kernel \(kernel) with stride \(stride) gives MONAI a negative padding")
        }
        return MonaiOptions.convolution(
            &layers, source: source, prefix: prefix, out: out, kernel: kernel, stride: stride, padding: padding,
            outputPadding: transposed ? outputPadding : nil, transposed: transposed, bias: bias, adn: dropout)
    }

    /// A `UnetBasicBlock` or `UnetResBlock` (tensors bound in state-dict order: conv1, conv2,
    /// norm1, norm2, then the shortcut's conv3 and norm3, present when the width or size changes).
    func block(
        _ layers: inout KeyedLayers, _ source: String, in prefix: String, input: Int, out: Int, kernel: [Int],
        stride: [Int], residual: Bool
    ) throws(FormatError) -> [Layer] {
        let ones = layers.axes(1)
        let name = residual ? layers.name("res", in: prefix) : nil
        let inner = name.map { "\(prefix).\($0)" } ?? prefix
        let conv1 = try conv(&layers, "\(source).conv1", in: inner, out: out, kernel: kernel, stride: stride)
        let conv2 = try conv(&layers, "\(source).conv2", in: inner, out: out, kernel: kernel, stride: ones)
        let norm1 = MonaiOptions.normLayer(&layers, norm, source: "\(source).norm1", prefix: inner)
        let norm2 = MonaiOptions.normLayer(&layers, norm, source: "\(source).norm2", prefix: inner)
        let act = Layer.activation(activation)
        guard let name else { return conv1 + [norm1, act] + conv2 + [norm2, act] }
        var shortcut: [Layer] = []
        if input != out || stride != ones {
            shortcut = try conv(&layers, "\(source).conv3", in: inner, out: out, kernel: ones, stride: stride)
            shortcut.append(MonaiOptions.normLayer(&layers, norm, source: "\(source).norm3", prefix: inner))
        }
        return [
            .residual(
                .init(name: name, body: conv1 + [norm1, act] + conv2 + [norm2], shortcut: shortcut, after: [act]))
        ]
    }

    func reading() throws(FormatError) -> LayoutReading {
        var layers = KeyedLayers(dims: dims)
        let levels = strides.count
        let blocks = MonaiDynUNetLayout.blockModules(downsamples: levels - 2)
        var encoder: [UNetArchitecture.EncoderStage] = []
        for (level, source) in blocks.enumerated() {
            let prefix = "encoder.\(level)"
            encoder.append(
                .init(
                    name: prefix,
                    layers: try block(
                        &layers, source, in: prefix, input: level == 0 ? inChannels : filters[level - 1],
                        out: filters[level], kernel: kernels[level], stride: strides[level], residual: residual)))
        }
        // upsamples.0 serves the deepest level; its basic block has the kernel of the level below.
        var decoder: [UNetArchitecture.DecoderStage] = []
        for up in 0..<(levels - 1) {
            let level = levels - 2 - up
            let prefix = "decoder.\(level)"
            let source = "upsamples.\(up)"
            let upsample = try conv(
                &layers, "\(source).transp_conv", in: prefix, out: filters[level], kernel: upKernels[level],
                stride: upKernels[level], transposed: true, bias: transBias)
            decoder.append(
                .init(
                    name: prefix, up: upsample, skip: level, merge: .init(order: .upsampledFirst, match: .exact),
                    layers: try block(
                        &layers, "\(source).conv_block", in: prefix, input: 2 * filters[level], out: filters[level],
                        kernel: kernels[level + 1], stride: layers.axes(1), residual: false)))
        }
        let ones = layers.axes(1)
        var heads: [UNetArchitecture.Head] = [
            .init(
                name: "head", from: levels - 2, role: .output,
                layers: try conv(
                    &layers, "output_block.conv", in: "head", out: outChannels, kernel: ones, stride: ones, bias: true))
        ]
        // Head k reads level k's up block; DynUNet interpolates it (nearest) to the output's size.
        for level in stride(from: 1, through: supervision, by: 1) {
            let prefix = "deep_supervision.\(level)"
            let scale = (0..<dims).map { axis in strides[1...level].map { $0[axis] }.reduce(1, *) }
            let conv = try conv(
                &layers, "deep_supervision_heads.\(level - 1).conv", in: prefix, out: outChannels, kernel: ones,
                stride: ones, bias: true)
            heads.append(
                .init(
                    name: prefix, from: levels - 2 - level, role: .deepSupervision,
                    layers: conv + [.interpolate(.init(mode: .nearest, scale: scale))]))
        }
        let architecture = UNetArchitecture(
            name: "MONAI DynUNet", spatialDims: dims, inChannels: inChannels, encoder: encoder, decoder: decoder,
            heads: heads)
        return LayoutReading(
            library: MonaiDynUNetLayout.library, className: MonaiDynUNetLayout.className, architecture: architecture,
            keys: layers.keys, aliases: skipLayerAliases(layers.keys, blocks: blocks), arguments: arguments,
            assumptions: AssumedArguments.texts(in: arguments))
    }

    /// `skip_layers` nests every block again (`DynUNetSkipLayer`: downsample, next_layer, upsample,
    /// super_head; the bottleneck as the last next_layer): the second copies, in state-dict order.
    func skipLayerAliases(_ keys: [(source: String, canonical: String)], blocks: [String]) -> [(
        alias: String, of: String
    )] {
        let levels = blocks.count
        func skipLayer(_ level: Int) -> String { "skip_layers" + String(repeating: ".next_layer", count: level) }
        var modules = (0..<(levels - 1)).map { (blocks[$0], "\(skipLayer($0)).downsample") }
        modules.append(("bottleneck", skipLayer(levels - 1)))
        for level in stride(from: levels - 2, through: 0, by: -1) {
            modules.append(("upsamples.\(levels - 2 - level)", "\(skipLayer(level)).upsample"))
            if level >= 1, level <= supervision {
                modules.append(("deep_supervision_heads.\(level - 1)", "\(skipLayer(level)).super_head"))
            }
        }
        return modules.flatMap { module, alias in
            keys.filter { $0.source.hasPrefix(module + ".") }.map { key in
                (alias + key.source.dropFirst(module.count), key.source)
            }
        }
    }
}
