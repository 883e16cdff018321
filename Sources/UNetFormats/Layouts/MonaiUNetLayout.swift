import UNetCheckpoint

/// MONAI's `UNet` (`monai.networks.nets.UNet`), 2-D and 3-D, with or without residual units.
///
/// The recursive keys (`model.0`, `model.1.submodule.0`, …) show the levels, widths, kernels,
/// residual units, bias, PReLU slopes and batch or affine norms. The strides' values, a
/// non-parametric activation, a norm without tensors, the dropout and the ADN order come from the
/// constructor arguments a Lightning checkpoint keeps, or else are MONAI's defaults, said as
/// assumptions.
enum MonaiUNetLayout: LibraryLayout {
    static let name = "monai-unet"
    static let library = "monai"
    static let className = "monai.networks.nets.UNet"

    static func recognizes(_ input: LayoutInput) -> Bool {
        input.shapes["model.0.conv.unit0.conv.weight"] != nil
            || (input.shapes["model.0.conv.weight"] != nil
                && input.keys.contains { $0.hasPrefix("model.1.submodule.") })
    }

    // MARK: - Arguments

    static let assumedStrides = "MONAI has no default for strides; 2 assumed, as in MONAI's examples"
    static let assumedInstanceNorm =
        "norm INSTANCE, non-affine (MONAI's default): it has no tensors, so the weights cannot show it (nor its absence)"
    static let assumedAffineNorm =
        "norm (\"instance\", {\"affine\": True}): norm tensors without running statistics (a group norm has the same)"
    static let assumedReLU =
        "act RELU: the weights hold no PReLU slopes (MONAI's default act), and a non-parametric activation has no "
        + "tensors"
    static let assumedADN =
        "dropout 0.0 and adn_ordering NDA (norm, dropout, then activation), MONAI's defaults; dropout does nothing at "
        + "inference"

    static func arguments(_ input: LayoutInput) throws(FormatError) -> JSONValue {
        func fail(_ message: String) -> FormatError { input.unsupported(self, message) }
        let shapes = input.shapes
        let residual = shapes["model.0.conv.unit0.conv.weight"] != nil
        func down(_ prefix: String) -> String { residual ? "\(prefix).0.conv.unit0" : "\(prefix).0" }
        func up(_ prefix: String) -> String { residual ? "\(prefix).2.0" : "\(prefix).2" }
        var prefixes: [String] = []
        var prefix = "model"
        while shapes["\(down(prefix)).conv.weight"] != nil {
            guard shapes["\(up(prefix)).conv.weight"] != nil else {
                throw fail(
                    "level \(prefixes.count) has a down layer but no up layer \(up(prefix)).conv.weight: the keys end "
                        + "mid-level")
            }
            prefixes.append(prefix)
            prefix += ".1.submodule"
        }
        let bottom = residual ? "\(prefix).conv.unit0" : prefix
        guard !prefixes.isEmpty, let bottomShape = shapes["\(bottom).conv.weight"], bottomShape.count >= 2 else {
            throw fail("no bottom layer \(bottom).conv.weight below level \(prefixes.count): the keys end mid-level")
        }
        guard let first = shapes["\(down("model")).conv.weight"], let top = shapes["\(up("model")).conv.weight"],
            [4, 5].contains(first.count), top.count == first.count
        else { throw fail("model.0's conv is not a 2-D or 3-D conv weight") }
        let dims = first.count - 2
        var channels: [Int] = []
        for level in prefixes {
            guard let shape = shapes["\(down(level)).conv.weight"], shape.count == first.count else {
                throw fail("\(down(level)).conv.weight is not a \(dims)-D conv weight")
            }
            channels.append(shape[0])
        }
        channels.append(bottomShape[0])
        let kernel = Array(first.dropFirst(2))
        let upKernel = Array(top.dropFirst(2))
        let units = residual ? input.count { "model.0.conv.unit\($0).conv.weight" } : 0
        let source = "\(down("model"))"

        var assumed = AssumedArguments()
        var arguments: [String: JSONValue] = [
            "spatial_dims": .number(Double(dims)), "in_channels": .number(Double(first[1])),
            "out_channels": .number(Double(top[1])), "channels": JSONValue(channels),
            "kernel_size": JSONValue(kernel), "up_kernel_size": JSONValue(upKernel),
            "num_res_units": .number(Double(units)), "bias": .bool(shapes["\(source).conv.bias"] != nil),
        ]
        let found = MonaiOptions.constructorArguments(in: input, fields: ["spatial_dims", "channels", "strides"])
        if let found {
            for key in ["strides", "act", "norm", "dropout", "adn_ordering"] { arguments[key] = found[key] }
            arguments["act"] = arguments["act"] ?? .string("PRELU")
            arguments["norm"] = arguments["norm"] ?? .string("INSTANCE")
            arguments["dropout"] = arguments["dropout"] ?? .number(0)
        } else {
            // A residual unit shows whether its level is strided: a shortcut conv with the unit's
            // kernel when strided, a 1×1 one (or none) when not.
            let strides = prefixes.map { level -> Int in
                guard residual, kernel.contains(where: { $0 != 1 }) else { return 2 }
                guard let shortcut = shapes["\(level).0.residual.weight"] else { return 1 }
                return shortcut.dropFirst(2).allSatisfy { $0 == 1 } ? 1 : 2
            }
            arguments["strides"] = JSONValue(strides)
            if strides.contains(2) { assumed.assume("strides", assumedStrides) }
            if let slopes = shapes["\(source).adn.A.weight"] {
                arguments["act"] =
                    slopes == [1]
                    ? .string("PRELU")
                    : .array([.string("prelu"), .object(["num_parameters": .number(Double(slopes.first ?? 1))])])
            } else {
                arguments["act"] = .string("RELU")
                assumed.assume("act", assumedReLU)
            }
            if shapes["\(source).adn.N.running_mean"] != nil {
                arguments["norm"] = .string("BATCH")
            } else if shapes["\(source).adn.N.weight"] != nil {
                arguments["norm"] = .array([.string("instance"), .object(["affine": .bool(true)])])
                assumed.assume("norm", assumedAffineNorm)
            } else {
                arguments["norm"] = .string("INSTANCE")
                assumed.assume("norm", assumedInstanceNorm)
            }
            arguments["dropout"] = .number(0)
            arguments["adn_ordering"] = .string("NDA")
            assumed.assume("adn_ordering", assumedADN)
        }
        assumed.record(in: &arguments)
        return .object(arguments)
    }

    // MARK: - The network

    static func reading(_ arguments: JSONValue, file: String?) throws(FormatError) -> LayoutReading {
        try MonaiUNetBuilder(arguments, file: file).reading()
    }
}

/// Builds what `UNet._create_block` builds: per level `Sequential(down, SkipConnection(next), up)`.
private struct MonaiUNetBuilder {
    let arguments: JSONValue
    let dims: Int
    let inChannels: Int
    let outChannels: Int
    let channels: [Int]
    let strides: [[Int]]
    let kernel: [Int]
    let upKernel: [Int]
    let units: Int
    let bias: Bool
    let adn: MonaiOptions.ADN

    init(_ arguments: JSONValue, file: String?) throws(FormatError) {
        func fail(_ message: String) -> FormatError {
            FormatError(.unsupported, file: file, "\(MonaiUNetLayout.name): \(message)")
        }
        self.arguments = arguments
        guard let dims = arguments["spatial_dims"]?.integerValue, [2, 3].contains(dims),
            let inChannels = arguments["in_channels"]?.integerValue, inChannels > 0,
            let outChannels = arguments["out_channels"]?.integerValue, outChannels > 0,
            let channels = arguments["channels"]?.integers, channels.count >= 2, channels.allSatisfy({ $0 > 0 })
        else { throw fail("spatial_dims (2 or 3), in_channels, out_channels or channels (2 or more) missing") }
        self.dims = dims
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.channels = channels
        guard let strides = MonaiOptions.perAxis(arguments["strides"], dims: dims, count: channels.count - 1),
            strides.allSatisfy({ $0.allSatisfy { $0 >= 1 } })
        else { throw fail("strides \(arguments["strides"]?.compactText ?? "missing"): not one per level") }
        self.strides = strides
        guard let kernel = MonaiOptions.perAxis(arguments["kernel_size"] ?? .number(3), dims: dims, count: 1)?.first,
            let upKernel = MonaiOptions.perAxis(arguments["up_kernel_size"] ?? .number(3), dims: dims, count: 1)?
                .first,
            (kernel + upKernel).allSatisfy({ $0 >= 1 && $0 % 2 == 1 })
        else { throw fail("kernel_size or up_kernel_size not odd (MONAI's same padding needs odd kernels)") }
        self.kernel = kernel
        self.upKernel = upKernel
        units = arguments["num_res_units"]?.integerValue ?? 0
        guard (0...64).contains(units) else { throw fail("num_res_units \(units)") }
        bias = arguments["bias"]?.boolValue ?? true
        let layout = MonaiUNetLayout.name
        let ordering = arguments["adn_ordering"]?.stringValue ?? "NDA"
        guard !ordering.isEmpty, ordering.uppercased().allSatisfy({ "NDA".contains($0) }) else {
            throw fail("adn_ordering \(ordering) is not made of N, D and A")
        }
        var dropout: Double? = 0
        if let value = arguments["dropout"] {
            if value.isNull {
                dropout = nil
            } else if let rate = value.doubleValue {
                dropout = rate
            } else {
                throw fail("dropout \(value.compactText): only a rate is built")
            }
        }
        adn = MonaiOptions.ADN(
            norm: try MonaiOptions.norm(arguments["norm"] ?? .string("INSTANCE"), file: file, layout: layout),
            activation: try MonaiOptions.activation(arguments["act"] ?? .string("PRELU"), file: file, layout: layout),
            dropout: dropout, ordering: ordering)
    }

    /// A `Convolution` with this network's bias and ADN (none when `convOnly`).
    func convolution(
        _ layers: inout KeyedLayers, source: String, prefix: String, out: Int, kernel: [Int], stride: [Int],
        transposed: Bool = false, convOnly: Bool = false
    ) -> [Layer] {
        MonaiOptions.convolution(
            &layers, source: source, prefix: prefix, out: out, kernel: kernel, stride: stride, transposed: transposed,
            bias: bias, adn: convOnly ? nil : adn)
    }

    /// A `ResidualUnit`: `subunits` convolutions (the first strided) plus the shortcut, a conv
    /// with the unit's kernel when strided, 1×1 when only the width changes, else the identity.
    func residualUnit(
        _ layers: inout KeyedLayers, source: String, prefix: String, input: Int, out: Int, stride: [Int],
        subunits: Int, lastConvOnly: Bool = false
    ) -> Layer {
        let name = layers.name("res", in: prefix)
        let inner = "\(prefix).\(name)"
        let ones = layers.axes(1)
        var body: [Layer] = []
        for unit in 0..<max(1, subunits) {
            body += convolution(
                &layers, source: "\(source).conv.unit\(unit)", prefix: inner, out: out, kernel: kernel,
                stride: unit == 0 ? stride : ones, convOnly: lastConvOnly && unit == max(1, subunits) - 1)
        }
        var shortcut: [Layer] = []
        let strided = stride != ones
        if strided || input != out {
            let shortcutKernel = strided ? kernel : ones
            shortcut.append(
                layers.conv(
                    "\(source).residual", in: inner, out: out, kernel: shortcutKernel, stride: stride,
                    padding: layers.padding(shortcutKernel), bias: bias))
        }
        return .residual(.init(name: name, body: body, shortcut: shortcut))
    }

    /// The down layer of a level (and the bottom layer, stride 1).
    func downLayer(_ layers: inout KeyedLayers, source: String, prefix: String, input: Int, out: Int, stride: [Int])
        -> [Layer]
    {
        units > 0
            ? [
                residualUnit(
                    &layers, source: source, prefix: prefix, input: input, out: out, stride: stride, subunits: units)
            ]
            : convolution(&layers, source: source, prefix: prefix, out: out, kernel: kernel, stride: stride)
    }

    func reading() -> LayoutReading {
        var layers = KeyedLayers(dims: dims)
        let levels = channels.count - 1
        var encoder: [UNetArchitecture.EncoderStage] = []
        var decoder: [UNetArchitecture.DecoderStage] = []
        var source = "model"
        var sources: [String] = []
        for level in 0..<levels {
            let prefix = "encoder.\(level)"
            let input = level == 0 ? inChannels : channels[level - 1]
            encoder.append(
                .init(
                    name: prefix,
                    layers: downLayer(
                        &layers, source: "\(source).0", prefix: prefix, input: input, out: channels[level],
                        stride: strides[level])))
            sources.append(source)
            source += ".1.submodule"
        }
        // The bottom layer, then the up layers from the deepest level (state-dict order: each
        // level's up layer follows its submodule).
        encoder.append(
            .init(
                name: "encoder.\(levels)",
                layers: downLayer(
                    &layers, source: source, prefix: "encoder.\(levels)", input: channels[levels - 1],
                    out: channels[levels], stride: layers.axes(1))))
        for level in stride(from: levels - 1, through: 0, by: -1) {
            let prefix = "decoder.\(level)"
            let top = level == 0
            let out = top ? outChannels : channels[level - 1]
            let upSource = units > 0 ? "\(sources[level]).2.0" : "\(sources[level]).2"
            var stage = convolution(
                &layers, source: upSource, prefix: prefix, out: out, kernel: upKernel, stride: strides[level],
                transposed: true, convOnly: top && units == 0)
            if units > 0 {
                stage.append(
                    residualUnit(
                        &layers, source: "\(sources[level]).2.1", prefix: prefix, input: out, out: out,
                        stride: layers.axes(1), subunits: 1, lastConvOnly: top))
            }
            decoder.append(
                .init(
                    name: prefix, up: [], skip: level, merge: .init(order: .skipFirst, match: .exact), layers: stage))
        }
        let architecture = UNetArchitecture(
            name: "MONAI UNet", spatialDims: dims, inChannels: inChannels, encoder: encoder, decoder: decoder,
            heads: [.init(name: "head", from: levels - 1, role: .output, layers: [])])
        return LayoutReading(
            library: MonaiUNetLayout.library, className: MonaiUNetLayout.className, architecture: architecture,
            keys: layers.keys, arguments: arguments,
            assumptions: AssumedArguments.texts(in: arguments))
    }
}
