import Foundation
import UNetCheckpoint

/// segmentation_models_pytorch's `Unet` with a torchvision ResNet or ResNeXt encoder.
///
/// The keys show the depth (the decoder blocks), the widths, the blocks of each ResNet stage,
/// the decoder's norm and the input and output channels; a `save_pretrained` folder's
/// `config.json` adds the encoder's name, the output activation and the interpolation mode,
/// which a bare state dict leaves to smp's defaults (said as assumptions).
enum SMPUNetLayout: LibraryLayout {
    static let name = "smp-unet"
    static let library = "segmentation-models-pytorch"
    static let className = "segmentation_models_pytorch.Unet"

    /// A torchvision ResNet as smp names it: block kind, blocks per stage, grouped 3×3 convs.
    struct Encoder {
        let name: String
        let bottleneck: Bool
        let blocks: [Int]
        var groups = 1
        var widthPerGroup = 64

        /// The output channels of ResNet stage `layer` (1…4).
        func channels(_ layer: Int) -> Int { (64 << (layer - 1)) * (bottleneck ? 4 : 1) }
        /// The inner width of a bottleneck in stage `layer`.
        func width(_ layer: Int) -> Int { (64 << (layer - 1)) * widthPerGroup / 64 * groups }
    }

    static let encoders: [Encoder] =
        [
            Encoder(name: "resnet18", bottleneck: false, blocks: [2, 2, 2, 2]),
            Encoder(name: "resnet34", bottleneck: false, blocks: [3, 4, 6, 3]),
            Encoder(name: "resnet50", bottleneck: true, blocks: [3, 4, 6, 3]),
            Encoder(name: "resnet101", bottleneck: true, blocks: [3, 4, 23, 3]),
            Encoder(name: "resnet152", bottleneck: true, blocks: [3, 8, 36, 3]),
            Encoder(name: "resnext50_32x4d", bottleneck: true, blocks: [3, 4, 6, 3], groups: 32, widthPerGroup: 4),
        ]
        + [4, 8, 16, 32, 48].map {
            Encoder(
                name: "resnext101_32x\($0)d", bottleneck: true, blocks: [3, 4, 23, 3], groups: 32, widthPerGroup: $0)
        }

    static func recognizes(_ input: LayoutInput) -> Bool {
        input.shapes["encoder.conv1.weight"] != nil && input.shapes["decoder.blocks.0.conv1.0.weight"] != nil
            && input.shapes["segmentation_head.0.weight"] != nil
    }

    // MARK: - Arguments

    static let assumedActivation = "no output activation (smp's default activation=None)"
    static let assumedInterpolation = "nearest up-sampling in the decoder (smp's default decoder_interpolation)"
    static let assumedBatchNorm =
        "the decoder's norm is BatchNorm2d (decoder_use_norm \"batchnorm\", smp's default; InPlaceABN has the same "
        + "tensors)"

    static func arguments(_ input: LayoutInput) throws(FormatError) -> JSONValue {
        func fail(_ message: String) -> FormatError { input.unsupported(self, message) }
        let shapes = input.shapes
        let config = input.entries[ModelFolder.pretrainedConfig]
        if let model = config?["_model_class"]?.stringValue, model != "Unet" {
            throw fail("config.json describes an smp \(model), not a Unet")
        }
        for (prefix, feature) in [
            ("classification_head.", "the auxiliary classification head (aux_params)"),
            ("decoder.center.", "a center block (VGG encoders)"),
        ] where input.keys.contains(where: { $0.hasPrefix(prefix) }) {
            throw fail("\(feature) is not built")
        }
        if let attention = input.keys.first(where: { $0.hasPrefix("decoder.blocks.") && $0.contains(".attention") }) {
            throw fail("decoder_attention_type scse (\(attention)) is not built")
        }
        if let attention = config?["decoder_attention_type"], !attention.isNull {
            throw fail("decoder_attention_type \(attention.compactText) is not built")
        }
        let depth = input.count { "decoder.blocks.\($0).conv1.0.weight" }
        guard (1...5).contains(depth) else { throw fail("\(depth) decoder blocks: smp's encoder_depth is 1 to 5") }
        let channels = (0..<depth).compactMap { shapes["decoder.blocks.\($0).conv1.0.weight"]?.first }
        guard let stem = shapes["encoder.conv1.weight"], stem.count == 4,
            let head = shapes["segmentation_head.0.weight"], head.count == 4
        else { throw fail("encoder.conv1.weight or segmentation_head.0.weight is not a 2-D conv weight") }

        var assumed = AssumedArguments()
        let encoder = try encoderName(input, depth: depth, config: config, assumed: &assumed)
        let norm: String
        if shapes["decoder.blocks.0.conv1.1.running_mean"] != nil {
            norm = "batchnorm"
        } else if shapes["decoder.blocks.0.conv1.1.weight"] == nil, shapes["decoder.blocks.0.conv1.0.bias"] != nil {
            norm = "identity"
        } else {
            throw fail("the decoder's norm has tensors but no running statistics (layernorm, instancenorm): not built")
        }
        if let configured = config?["decoder_use_norm"] ?? config?["decoder_use_batchnorm"] {
            let named = normName(configured)
            guard named == norm else {
                throw fail("config.json's decoder_use_norm \(configured.compactText) does not match the keys (\(norm))")
            }
        } else if norm == "batchnorm" {
            assumed.assume("decoder_use_norm", assumedBatchNorm)
        }
        let activation: JSONValue
        if let configured = config?["activation"] {
            activation = configured
        } else {
            activation = .null
            assumed.assume("activation", assumedActivation)
        }
        let interpolation: JSONValue
        if let configured = config?["decoder_interpolation"] {
            interpolation = configured
        } else {
            interpolation = .string("nearest")
            if config == nil { assumed.assume("decoder_interpolation", assumedInterpolation) }
        }
        if let configured = config?["encoder_depth"]?.integerValue, configured != depth {
            throw fail("config.json says encoder_depth \(configured), the keys hold \(depth) decoder blocks")
        }
        var arguments: [String: JSONValue] = [
            "encoder_name": .string(encoder), "encoder_weights": .null, "encoder_depth": .number(Double(depth)),
            "decoder_channels": JSONValue(channels), "decoder_use_norm": .string(norm),
            "decoder_attention_type": .null, "decoder_interpolation": interpolation,
            "in_channels": .number(Double(stem[1])), "classes": .number(Double(head[0])), "activation": activation,
        ]
        assumed.record(in: &arguments)
        return .object(arguments)
    }

    /// smp's `decoder_use_norm` (or the older `decoder_use_batchnorm`) as `batchnorm` or `identity`.
    private static func normName(_ value: JSONValue) -> String? {
        switch value {
        case .bool(let flag): flag ? "batchnorm" : "identity"
        case .string(let name): name
        case .object(let fields): fields["type"]?.stringValue
        default: nil
        }
    }

    /// The encoder the keys show (its block kind and per-stage counts), the one config.json names
    /// when it agrees; where several fit the stages present, the first is taken and said.
    private static func encoderName(
        _ input: LayoutInput, depth: Int, config: JSONValue?, assumed: inout AssumedArguments
    ) throws(FormatError) -> String {
        let bottleneck = input.shapes["encoder.layer1.0.conv3.weight"] != nil
        let present = (1...4).map { layer in input.count { "encoder.layer\(layer).\($0).conv1.weight" } }
        let used = max(0, depth - 1)
        let grouped = input.shapes["encoder.layer1.0.conv2.weight"].map { $0.count == 4 ? $0[0] / max(1, $0[1]) : 1 }
        func fits(_ encoder: Encoder) -> Bool {
            guard encoder.bottleneck == bottleneck, !bottleneck || used < 2 || grouped == encoder.groups else {
                return false
            }
            return (0..<4).allSatisfy { stage in
                stage < used
                    ? present[stage] == encoder.blocks[stage]
                    : present[stage] == 0 || present[stage] == encoder.blocks[stage]
            }
        }
        if let named = config?["encoder_name"]?.stringValue {
            guard let encoder = encoders.first(where: { $0.name == named }) else {
                throw input.unsupported(
                    self, "encoder \(named) is not built (\(encoders.map(\.name).joined(separator: ", ")))")
            }
            guard fits(encoder) else {
                throw input.unsupported(
                    self, "config.json names encoder \(named), but the keys hold \(present) blocks per ResNet stage")
            }
            return named
        }
        let candidates = encoders.filter(fits)
        guard let first = candidates.first else {
            throw input.unsupported(
                self,
                "the encoder's blocks (\(bottleneck ? "bottleneck" : "basic"), \(present) per stage) are none of "
                    + encoders.map(\.name).joined(separator: ", "))
        }
        if candidates.count > 1 {
            assumed.assume(
                "encoder_name",
                "encoder_name \(first.name): \(candidates.dropFirst().map(\.name).joined(separator: ", ")) "
                    + "has the same stages up to depth \(depth) (the name does not change the output)")
        }
        return first.name
    }

    // MARK: - The network

    /// `config.json` beside a `model.safetensors`: a save_pretrained folder `from_pretrained` loads.
    static func besideFiles(for path: String, metadata: CheckpointMetadata) -> [(path: String, json: JSONValue)] {
        let url = URL(fileURLWithPath: path)
        guard url.lastPathComponent == "model.safetensors", case .object(var config)? = metadata.source?.arguments
        else { return [] }
        config["_model_class"] = .string("Unet")
        return [
            (url.deletingLastPathComponent().appendingPathComponent(ModelFolder.pretrainedConfig).path, .object(config))
        ]
    }

    static func reading(_ arguments: JSONValue, file: String?) throws(FormatError) -> LayoutReading {
        func fail(_ message: String) -> FormatError { FormatError(.unsupported, file: file, "\(name): \(message)") }
        guard let encoderName = arguments["encoder_name"]?.stringValue,
            let encoder = encoders.first(where: { $0.name == encoderName })
        else { throw fail("encoder_name \(arguments["encoder_name"]?.compactText ?? "missing") is not built") }
        guard let depth = arguments["encoder_depth"]?.integerValue, (1...5).contains(depth),
            let channels = arguments["decoder_channels"]?.integers, channels.count == depth,
            channels.allSatisfy({ $0 > 0 }),
            let inChannels = arguments["in_channels"]?.integerValue, inChannels > 0,
            let classes = arguments["classes"]?.integerValue, classes > 0
        else { throw fail("encoder_depth, decoder_channels, in_channels or classes missing or inconsistent") }
        let useNorm = arguments["decoder_use_norm"].flatMap(normName) ?? "batchnorm"
        guard useNorm == "batchnorm" || useNorm == "identity" else {
            throw fail("decoder_use_norm \(useNorm) is not built (batchnorm, identity)")
        }
        if let mode = arguments["decoder_interpolation"]?.stringValue, mode != "nearest" {
            throw fail("decoder_interpolation \(mode) is not built (nearest)")
        }
        let activation: Layer?
        switch arguments["activation"] ?? .null {
        case .null, .string("identity"): activation = nil
        case .string("sigmoid"): activation = .activation(.init(.sigmoid))
        // smp's "softmax" is nn.Softmax() without dim, which for a 4-D tensor is over dim 1.
        case .string("softmax"), .string("softmax2d"): activation = .activation(.init(.softmax))
        case .string("tanh"): activation = .activation(.init(.tanh))
        case let other: throw fail("the output activation \(other.compactText) is not built")
        }

        var layers = KeyedLayers(dims: 2)
        let relu = Layer.activation(.init(.relu))
        var stages = [
            UNetArchitecture.EncoderStage(
                name: "encoder.0",
                layers: [
                    layers.conv(
                        "encoder.conv1", in: "encoder.0", out: 64, kernel: [7, 7], stride: [2, 2], padding: [3, 3],
                        bias: false),
                    batchNorm(&layers, "encoder.bn1", "encoder.0"), relu,
                ])
        ]
        var width = 64
        for layer in 1..<depth {
            let prefix = "encoder.\(layer)"
            var stage: [Layer] = layer == 1 ? [.maxPool(.init(kernel: [3, 3], stride: [2, 2], padding: [1, 1]))] : []
            for block in 0..<encoder.blocks[layer - 1] {
                let stride = block == 0 && layer > 1 ? 2 : 1
                stage.append(
                    resNetBlock(
                        &layers, encoder: encoder, layer: layer, block: block, prefix: prefix, input: width,
                        stride: stride))
                width = encoder.channels(layer)
            }
            stages.append(.init(name: prefix, layers: stage))
        }

        let normed = useNorm == "batchnorm"
        var decoder: [UNetArchitecture.DecoderStage] = []
        for (index, out) in channels.enumerated() {
            let prefix = "decoder.\(index)"
            var stage: [Layer] = []
            for conv in ["conv1", "conv2"] {
                let source = "decoder.blocks.\(index).\(conv)"
                stage.append(
                    layers.conv("\(source).0", in: prefix, out: out, kernel: [3, 3], padding: [1, 1], bias: !normed))
                if normed { stage.append(batchNorm(&layers, "\(source).1", prefix)) }
                stage.append(relu)
            }
            let skip = index < depth - 1 ? depth - 2 - index : nil
            decoder.append(
                .init(
                    name: prefix, up: [.interpolate(.init(mode: .nearest, scale: [2, 2]))], skip: skip,
                    merge: skip.map { _ in .init(order: .upsampledFirst, match: .exact) }, layers: stage))
        }
        let head =
            [
                layers.conv(
                    "segmentation_head.0", in: "head", out: classes, kernel: [3, 3], padding: [1, 1], bias: true)
            ]
            + (activation.map { [$0] } ?? [])
        let architecture = UNetArchitecture(
            name: "smp Unet \(encoder.name)", spatialDims: 2, inChannels: inChannels, encoder: stages,
            decoder: decoder, heads: [.init(name: "head", from: depth - 1, role: .output, layers: head)])
        return LayoutReading(
            library: library, className: className, architecture: architecture, keys: layers.keys,
            unused: unusedKeys(encoder, depth: depth), arguments: arguments,
            assumptions: AssumedArguments.texts(in: arguments))
    }

    /// torchvision's `BasicBlock` (3×3, 3×3) or `Bottleneck` (1×1, grouped 3×3 with the stride,
    /// 1×1 to 4× the width), with its 1×1 conv + BN `downsample` shortcut when the shape changes,
    /// and the ReLU after the sum.
    private static func resNetBlock(
        _ layers: inout KeyedLayers, encoder: Encoder, layer: Int, block: Int, prefix: String, input: Int,
        stride: Int
    ) -> Layer {
        let name = layers.name("block", in: prefix)
        let inner = "\(prefix).\(name)"
        let source = "encoder.layer\(layer).\(block)"
        let out = encoder.channels(layer)
        let relu = Layer.activation(.init(.relu))
        var body: [Layer]
        if encoder.bottleneck {
            let width = encoder.width(layer)
            body = [
                layers.conv("\(source).conv1", in: inner, out: width, kernel: [1, 1], padding: [0, 0], bias: false),
                batchNorm(&layers, "\(source).bn1", inner), relu,
                layers.conv(
                    "\(source).conv2", in: inner, out: width, kernel: [3, 3], stride: [stride, stride],
                    padding: [1, 1], groups: encoder.groups, bias: false),
                batchNorm(&layers, "\(source).bn2", inner), relu,
                layers.conv("\(source).conv3", in: inner, out: out, kernel: [1, 1], padding: [0, 0], bias: false),
                batchNorm(&layers, "\(source).bn3", inner),
            ]
        } else {
            body = [
                layers.conv(
                    "\(source).conv1", in: inner, out: out, kernel: [3, 3], stride: [stride, stride], padding: [1, 1],
                    bias: false),
                batchNorm(&layers, "\(source).bn1", inner), relu,
                layers.conv("\(source).conv2", in: inner, out: out, kernel: [3, 3], padding: [1, 1], bias: false),
                batchNorm(&layers, "\(source).bn2", inner),
            ]
        }
        var shortcut: [Layer] = []
        if stride != 1 || input != out {
            shortcut = [
                layers.conv(
                    "\(source).downsample.0", in: inner, out: out, kernel: [1, 1], stride: [stride, stride],
                    padding: [0, 0], bias: false),
                batchNorm(&layers, "\(source).downsample.1", inner),
            ]
        }
        return .residual(.init(name: name, body: body, shortcut: shortcut, after: [relu]))
    }

    /// torchvision's and smp's `BatchNorm2d` (eps 1e-5, momentum 0.1).
    private static func batchNorm(_ layers: inout KeyedLayers, _ source: String, _ prefix: String) -> Layer {
        layers.norm(source, in: prefix, kind: .batch, eps: 1e-5, affine: true, momentum: 0.1)
    }

    /// The keys of the ResNet stages the encoder holds but a shallower depth never runs.
    private static func unusedKeys(_ encoder: Encoder, depth: Int) -> [(key: String, shape: [Int])] {
        var tensors: [(key: String, shape: [Int])] = []
        func conv(_ key: String, _ out: Int, _ input: Int, _ kernel: Int) {
            tensors.append(("\(key).weight", [out, input, kernel, kernel]))
        }
        func norm(_ key: String, _ channels: Int) {
            tensors += ["weight", "bias", "running_mean", "running_var"].map { ("\(key).\($0)", [channels]) }
        }
        for layer in stride(from: max(1, depth), through: 4, by: 1) {
            let out = encoder.channels(layer)
            for block in 0..<encoder.blocks[layer - 1] {
                let source = "encoder.layer\(layer).\(block)"
                let input = block > 0 ? out : layer == 1 ? 64 : encoder.channels(layer - 1)
                if encoder.bottleneck {
                    let width = encoder.width(layer)
                    conv("\(source).conv1", width, input, 1)
                    norm("\(source).bn1", width)
                    conv("\(source).conv2", width, width / encoder.groups, 3)
                    norm("\(source).bn2", width)
                    conv("\(source).conv3", out, width, 1)
                    norm("\(source).bn3", out)
                } else {
                    conv("\(source).conv1", out, input, 3)
                    norm("\(source).bn1", out)
                    conv("\(source).conv2", out, out, 3)
                    norm("\(source).bn2", out)
                }
                if block == 0 && input != out || block == 0 && layer > 1 {
                    conv("\(source).downsample.0", out, input, 1)
                    norm("\(source).downsample.1", out)
                }
            }
        }
        return tensors
    }
}
