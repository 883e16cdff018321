import UNetCheckpoint

/// MONAI's `BasicUNet` with 3-D weights (2-D files keep the schema 1.0 `MonaiBasicUNetLayout`).
///
/// The keys show the six feature counts, the bias and the norm's tensors; the activation and the
/// dropout come from `hyper_parameters` when the file has them, else are BasicUNet's defaults
/// (LeakyReLU 0.1, dropout 0), said as assumptions.
enum MonaiBasicUNet3DLayout: LibraryLayout {
    static let name = "monai-basicunet"
    static let library = "monai"
    static let className = "monai.networks.nets.BasicUNet"

    static func recognizes(_ input: LayoutInput) -> Bool {
        input.shapes["conv_0.conv_0.conv.weight"]?.count == 5 && input.shapes["final_conv.weight"] != nil
    }

    static let assumedActivation =
        "act (\"LeakyReLU\", {\"negative_slope\": 0.1}), BasicUNet's default: an activation has no tensors"
    static let assumedDropout = "dropout 0.0 (BasicUNet's default; dropout does nothing at inference)"
    static let assumedAffineNorm =
        "norm (\"instance\", {\"affine\": True}), BasicUNet's default: norm tensors without running statistics (a "
        + "group norm has the same)"

    /// The TwoConv blocks in state-dict order: (library module, canonical stage).
    private static let blocks = ["conv_0"] + (1...4).map { "down_\($0).convs" }

    static func arguments(_ input: LayoutInput) throws(FormatError) -> JSONValue {
        func fail(_ message: String) -> FormatError { input.unsupported(self, message) }
        let shapes = input.shapes
        var features: [Int] = []
        for block in blocks {
            guard let shape = shapes["\(block).conv_0.conv.weight"], shape.count == 5 else {
                throw fail("\(block).conv_0.conv.weight is missing or not a 3-D conv weight")
            }
            features.append(shape[0])
        }
        guard let last = shapes["upcat_1.convs.conv_0.conv.weight"], last.count == 5,
            let head = shapes["final_conv.weight"], head.count == 5, let first = shapes["conv_0.conv_0.conv.weight"]
        else {
            throw fail(
                "upcat_1.convs.conv_0.conv.weight is missing (an upsample other than deconv, or a truncated file)")
        }
        features.append(last[0])
        var arguments: [String: JSONValue] = [
            "spatial_dims": .number(3), "in_channels": .number(Double(first[1])),
            "out_channels": .number(Double(head[0])), "features": JSONValue(features),
            "bias": .bool(shapes["conv_0.conv_0.conv.bias"] != nil), "upsample": .string("deconv"),
        ]
        var assumed = AssumedArguments()
        if let found = MonaiOptions.constructorArguments(in: input, fields: ["spatial_dims", "features"]) {
            for key in ["act", "norm", "dropout", "upsample"] where found[key] != nil { arguments[key] = found[key] }
        } else {
            if shapes["conv_0.conv_0.adn.N.running_mean"] != nil {
                arguments["norm"] = .string("batch")
            } else if shapes["conv_0.conv_0.adn.N.weight"] != nil {
                assumed.assume("norm", assumedAffineNorm)
            } else {
                throw fail(
                    "the convs have no norm tensors: BasicUNet's default norm (an affine instance norm) has them, "
                        + "and no norm or a non-affine one cannot be told apart; a file with hyper_parameters says which"
                )
            }
            if let slopes = shapes["conv_0.conv_0.adn.A.weight"] {
                arguments["act"] = .array([
                    .string("prelu"), .object(["num_parameters": .number(Double(slopes.first ?? 1))]),
                ])
            } else {
                assumed.assume("act", assumedActivation)
            }
            assumed.assume("dropout", assumedDropout)
        }
        assumed.record(in: &arguments)
        return .object(arguments)
    }

    static func reading(_ arguments: JSONValue, file: String?) throws(FormatError) -> LayoutReading {
        func fail(_ message: String) -> FormatError { FormatError(.unsupported, file: file, "\(name): \(message)") }
        guard arguments["spatial_dims"]?.integerValue == 3, let inChannels = arguments["in_channels"]?.integerValue,
            let features = arguments["features"]?.integers, features.count == 6, features.allSatisfy({ $0 > 0 }),
            let outChannels = arguments["out_channels"]?.integerValue
        else { throw fail("spatial_dims 3, in_channels, out_channels and six features are needed") }
        if let upsample = arguments["upsample"]?.stringValue, upsample != "deconv" {
            throw fail("upsample \(upsample) is not built (deconv)")
        }
        let bias = arguments["bias"]?.boolValue ?? true
        let dropout = arguments["dropout"]?.doubleValue ?? 0
        let adn = MonaiOptions.ADN(
            norm: try MonaiOptions.norm(
                arguments["norm"] ?? .array([.string("instance"), .object(["affine": .bool(true)])]), file: file,
                layout: name),
            activation: try MonaiOptions.activation(
                arguments["act"] ?? .array([.string("LeakyReLU"), .object(["negative_slope": .number(0.1)])]),
                file: file, layout: name),
            dropout: dropout)
        var layers = KeyedLayers(dims: 3)
        let three = layers.axes(3)
        func twoConv(_ layers: inout KeyedLayers, _ source: String, _ prefix: String, _ out: Int) -> [Layer] {
            ["conv_0", "conv_1"].flatMap { conv in
                [
                    layers.conv(
                        "\(source).\(conv).conv", in: prefix, out: out, kernel: three, padding: layers.axes(1),
                        bias: bias)
                ] + adn.layers(&layers, source: "\(source).\(conv)", prefix: prefix)
            }
        }
        var encoder: [UNetArchitecture.EncoderStage] = []
        for (level, block) in blocks.enumerated() {
            let prefix = "encoder.\(level)"
            let pool: [Layer] = level == 0 ? [] : [.maxPool(.init(kernel: layers.axes(2)))]
            encoder.append(.init(name: prefix, layers: pool + twoConv(&layers, block, prefix, features[level])))
        }
        var decoder: [UNetArchitecture.DecoderStage] = []
        for level in stride(from: 3, through: 0, by: -1) {
            let prefix = "decoder.\(level)"
            let source = "upcat_\(level + 1)"
            let input = features[level + 1]
            // upcat_1 keeps its input width (halves=False); the others halve it.
            let up = layers.convTranspose(
                "\(source).upsample.deconv", in: prefix, out: level == 0 ? input : input / 2, kernel: layers.axes(2),
                stride: layers.axes(2), bias: bias)
            decoder.append(
                .init(
                    name: prefix, up: [up], skip: level, merge: .init(order: .skipFirst, match: .padReplicateEnd),
                    layers: twoConv(&layers, "\(source).convs", prefix, level == 0 ? features[5] : features[level])))
        }
        let head = layers.conv(
            "final_conv", in: "head", out: outChannels, kernel: layers.axes(1), padding: layers.axes(0), bias: true)
        let architecture = UNetArchitecture(
            name: "MONAI BasicUNet", spatialDims: 3, inChannels: inChannels, encoder: encoder, decoder: decoder,
            heads: [.init(name: "head", from: 3, role: .output, layers: [head])])
        return LayoutReading(
            library: library, className: className, architecture: architecture, keys: layers.keys,
            arguments: arguments, assumptions: AssumedArguments.texts(in: arguments))
    }
}
